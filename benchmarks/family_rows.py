"""UNet rows per step for each model family, side by side (issue #20).

    python -m benchmarks.family_rows [--regions 4] [--steps 8]

A step's cost is its UNet rows (each row is one latent through the UNet). The rows are counted by
wrapping the UNet of tiny random pipelines of each family (``mdwidgets.pipelines.tiny``; same conditioning
as the real checkpoints, so the row plan is theirs) while a layout with ``--regions`` boxes renders
at each family's default settings. Guided models (SD 1.5, SDXL) pay one unconditional row per
bootstrapped prompt while bootstrapping, then one shared row; guidance-free models (Turbo at
guidance 0, LCM-LoRA at 1) and LCM-distilled UNets (guidance as an input) pay one row per prompt.
Writes ``benchmarks/results/family_rows.json``. Speeds of real checkpoints: not measured here
(no GPU and no weights on this project's machines).
"""

from __future__ import annotations

import argparse

from benchmarks.bench_sampler import machine, write_report
from mdwidgets import Layout, Region, Settings, compose
from mdwidgets.pipelines.tiny import tiny_random_lcm_pipeline, tiny_random_pipeline, tiny_random_sdxl_pipeline


def layout_with(regions: int, size: int = 128) -> Layout:
    side = size // 2
    boxes = [(x + 8, y + 8, x + side - 8, y + side - 8) for y in (0, side) for x in (0, side)]  # background shows
    names = ["a red circle", "a yellow square", "a green triangle", "a white star"]
    return Layout(size, size, "a blue background",
                  [Region(names[k % 4], box=boxes[k % 4]) for k in range(regions)])


def count_rows(pipe, layout: Layout, settings: Settings) -> dict:
    rows: list[int] = []
    forward = pipe.unet.forward

    def counting(sample, *args, **kwargs):
        rows.append(len(sample))
        return forward(sample, *args, **kwargs)

    pipe.unet.forward = counting
    try:
        result = compose(pipe, layout, settings=settings, output_type="latent")
    finally:
        del pipe.unet.forward
    used = result.settings
    boot = used["bootstrap_steps"]
    return {"steps": used["steps"], "guidance": used["guidance_scale"], "bootstrap_steps": boot,
            "rows_while_bootstrapping": rows[0] if boot else None, "rows_after": rows[-1], "rows_total": sum(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--out", default="benchmarks/results/family_rows.json")
    args = parser.parse_args()
    layout = layout_with(args.regions)
    sd, sdxl, lcm = tiny_random_pipeline(), tiny_random_sdxl_pipeline(), tiny_random_lcm_pipeline()
    cases = [  # (label, pipe, family whose defaults apply)
        ("SD 1.5 (guidance 7.5)", sd, "sd"), ("SDXL (guidance 5)", sdxl, "sdxl"),
        ("SD-Turbo (guidance 0)", sd, "sd-turbo"), ("SDXL-Turbo (guidance 0)", sdxl, "sdxl-turbo"),
        ("LCM-LoRA (guidance 1)", sd, "lcm"), ("LCM-distilled (guidance as input)", lcm, "lcm-distilled"),
    ]
    report = {"machine": machine(), "regions": args.regions, "prompts": args.regions + 1, "families": {}}
    print(f"{args.regions} regions + background = {args.regions + 1} prompts, each family's default settings")
    print(f"{'model':36} {'steps':>5} {'boot':>5} {'rows/step boot':>15} {'rows/step after':>16} {'rows total':>11}")
    for label, pipe, family in cases:
        pipe.mdwidgets_family = family
        counted = count_rows(pipe, layout, Settings(seed=0))
        report["families"][label] = {"family": family, **counted}
        boot = counted["rows_while_bootstrapping"]
        print(f"{label:36} {counted['steps']:>5} {counted['bootstrap_steps']:>5} {boot if boot else '-':>15} "
              f"{counted['rows_after']:>16} {counted['rows_total']:>11}")
    write_report(report, args.out)


if __name__ == "__main__":
    main()
