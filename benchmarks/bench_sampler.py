"""Sampler benchmark: mdwidgets vs the plain algorithm, the UNet floor, previews, re-generation, memory.

    python -m benchmarks.bench_sampler [--models builtin sd15] [--steps 3] [--out benchmarks/results/sampler.json]

Prints a table and writes JSON. The floor is the time of the UNet call of each step (the N + 2
rows the sampler needs after bootstrapping), timed with hooks inside the same run; the overhead is
everything else in a step (fusion, guidance, scheduler) relative to it. "sd15" is a Stable
Diffusion 1.5-architecture UNet/VAE/text encoder with random weights (random weights cost
exactly what trained ones cost) at a reduced canvas, so the ratios speak for real checkpoints.
Numbers depend on the machine and on what else runs on it; compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from benchmarks.procmem import reset_rss_peak, rss_peak_mb
from mdwidgets import Layout, Region, compose, load_pipeline
from mdwidgets.pipelines.facts import native_size
from mdwidgets.pipelines.loading import DEFAULT_MODEL
from mdwidgets.pipelines.tiny import word_tokenizer
from mdwidgets.sampling.prompts import prompt_cache_for
from mdwidgets.sampling.reference import plain_multidiffusion
from mdwidgets.studio import Studio

PROMPTS = ["a red circle", "a yellow square", "a green triangle", "a white circle",
           "a black square", "an orange triangle", "a purple circle", "a blue square"]


def layout_with(n: int, size: int) -> Layout:
    """``n`` boxes on a grid over a ``size`` canvas."""
    cols = 4 if n > 4 else max(n, 1)
    rows = (n + cols - 1) // cols
    cw, ch = size // cols, size // max(rows, 1)
    regions = []
    for i in range(n):
        x, y = (i % cols) * cw, (i // cols) * ch
        regions.append(Region(PROMPTS[i], box=(x + 8, y + 8, x + cw - 8, y + ch - 8)))
    return Layout(size, size, "a blue background", regions)


def sd15_pipeline():
    """SD 1.5 architecture (UNet 860 M, VAE 84 M, CLIP-L text encoder 123 M), random weights."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from mdwidgets.pipelines.loading import stable_diffusion_pipeline_class
    from mdwidgets.pipelines.tiny import SD_SCHEDULER_CONFIG

    torch.manual_seed(0)
    tokenizer = word_tokenizer(" ".join(PROMPTS + ["background"]).split())
    unet = UNet2DConditionModel(
        sample_size=64, cross_attention_dim=768, attention_head_dim=8,
        block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    )
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), latent_channels=4, layers_per_block=2,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=512, scaling_factor=0.18215,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=768, intermediate_size=3072, num_attention_heads=12,
        num_hidden_layers=12, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    ))
    scheduler = DDIMScheduler(**SD_SCHEDULER_CONFIG)
    for module in (unet, vae, text_encoder):
        module.eval().requires_grad_(False)
    pipe = stable_diffusion_pipeline_class()(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    pipe.mdwidgets_model_name = "sd15-architecture (random weights)"
    return pipe


def median_step(result) -> float:
    steps = result.timings["steps"]
    return statistics.median(steps[1:] if len(steps) > 1 else steps)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read after it counts that work (CUDA runs
    kernels asynchronously; on the CPU there is nothing to wait for)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class UNetTimer:
    """Times every UNet call inside a run (forward hooks), so the floor is measured in the same steps;
    ``rows`` holds each call's batch (UNet rows)."""

    def __init__(self, unet) -> None:
        self.seconds: list[float] = []
        self.rows: list[int] = []
        self._started = 0.0
        self._hooks = [
            unet.register_forward_pre_hook(self._start, with_kwargs=True),
            unet.register_forward_hook(self._stop),
        ]

    def _start(self, unet, args, kwargs) -> None:
        sample = args[0] if args else kwargs["sample"]
        self.rows.append(len(sample))
        synchronize(sample.device)
        self._started = time.perf_counter()

    def _stop(self, unet, args, output) -> None:
        synchronize(unet.device)
        self.seconds.append(time.perf_counter() - self._started)

    def close(self) -> None:
        for hook in self._hooks:
            hook.remove()


def bench_model(name: str, pipe, size: int, regions: list[int], steps: int) -> dict:
    out: dict = {"model": name, "canvas": size, "steps": steps, "regions": {}}
    for n in regions:
        layout = layout_with(n, size)
        noise = torch.randn((1, 4, size // 8, size // 8), generator=torch.Generator().manual_seed(n))
        compose(pipe, layout, num_inference_steps=1, latents=noise, bootstrap_steps=0, output_type="latent")  # warm
        timer = UNetTimer(pipe.unet)
        ours = compose(pipe, layout, num_inference_steps=steps, latents=noise, bootstrap_steps=0,
                       guidance_scale=7.5, scheduler="ddim", output_type="latent")  # as the reference below
        timer.close()
        t = time.perf_counter()
        ref = plain_multidiffusion(pipe, layout, num_inference_steps=steps, guidance_scale=7.5, latents=noise,
                                   scheduler="ddim")
        synchronize(ref.device)
        ref_step = (time.perf_counter() - t) / steps
        # One UNet call per step here (no max_batch): its time is the floor of that step.
        steps_s, unet_s = ours.timings["steps"][1:], timer.seconds[1:]
        floor = statistics.median(unet_s)
        step = statistics.median(steps_s)
        overhead = statistics.median((a - b) / b for a, b in zip(steps_s, unet_s))
        out["regions"][n] = {
            "mdwidgets_step_s": step,
            "reference_step_s": ref_step,
            "speedup": ref_step / step,
            "max_abs_diff": (ours.latents - ref).abs().max().item(),
            "latent_scale": ref.abs().max().item(),
            "floor_s": floor,
            "overhead": overhead,
        }
        r = out["regions"][n]
        print(f"  {name:8s} N={n}: mdwidgets {step:7.3f} s/step | reference {ref_step:7.3f} s/step | "
              f"speed-up {r['speedup']:.2f}x | floor {floor:.3f} s, overhead {100 * r['overhead']:+.1f}% | "
              f"max |diff| {r['max_abs_diff']:.2e} (latents up to {r['latent_scale']:.1f})", flush=True)
    return out


def bench_regenerate(pipe, size: int, steps: int) -> dict:
    layout = layout_with(4, size)
    cache = prompt_cache_for(pipe.text_encoder)
    cache.clear()
    t = time.perf_counter()
    first = compose(pipe, layout, num_inference_steps=steps, seed=0)
    scratch = time.perf_counter() - t
    misses = cache.misses
    moved = layout.with_regions([layout.regions[0].replace(box=(16, 16, 80, 80)), *layout.regions[1:]])
    t = time.perf_counter()
    again = compose(pipe, moved, num_inference_steps=steps, seed=0)
    regen = time.perf_counter() - t
    return {
        "from_scratch_s": scratch, "after_moving_a_box_s": regen,
        "encode_from_scratch_s": first.timings["encode"], "encode_after_move_s": again.timings["encode"],
        "prompts_encoded_after_move": cache.misses - misses,
    }


def bench_preview(pipe, size: int, steps: int) -> dict:
    studio = Studio(pipe, layout_with(4, size), live=False)
    studio.controls.steps.value = steps
    studio.controls.bootstrap.value = 1
    studio.generate(wait=True)
    step = statistics.median(studio.result.timings["steps"])
    preview = statistics.median(studio.rendering.preview_seconds)
    return {"preview_s": preview, "step_s": step, "fraction_of_step": preview / step}


def bench_memory(pipe, size: int, steps: int, n: int = 8) -> dict:
    layout = layout_with(n, size)
    out = {}
    for max_batch in (None, 4, 2, 1):
        if not reset_rss_peak():
            return {"note": "peak RSS reset not supported here"}
        base = rss_peak_mb()
        result = compose(pipe, layout, num_inference_steps=steps, seed=0, max_batch=max_batch, output_type="latent")
        out[str(max_batch)] = {"peak_rss_delta_mb": rss_peak_mb() - base, "step_s": median_step(result)}
        print(f"  memory N={n} max_batch={max_batch}: +{out[str(max_batch)]['peak_rss_delta_mb']:.0f} MB peak RSS, "
              f"{out[str(max_batch)]['step_s']:.3f} s/step", flush=True)
    return out


def machine() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine()}


def benchmark_pipelines(names):
    """``(name, label, pipe)`` for each of ``builtin`` (the shipped model) and ``sd15`` (random SD 1.5)."""
    for name in names:
        pipe = load_pipeline(DEFAULT_MODEL) if name == "builtin" else sd15_pipeline()
        yield name, pipe.mdwidgets_model_name, pipe


def write_report(report: dict, out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["builtin", "sd15"], choices=["builtin", "sd15"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--sd15-regions", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--out", default="benchmarks/results/sampler.json")
    args = parser.parse_args()
    report = {"machine": machine(), "models": {}}
    for name, label, pipe in benchmark_pipelines(args.models):
        size = native_size(pipe) if name == "builtin" else 256
        regions = [1, 2, 4, 8] if name == "builtin" else args.sd15_regions
        print(f"{label} at {size}x{size}, {args.steps} DDIM steps, guidance 7.5:", flush=True)
        entry = bench_model(label, pipe, size, regions, args.steps)
        entry["regenerate"] = bench_regenerate(pipe, size, args.steps)
        entry["preview"] = bench_preview(pipe, size, args.steps)
        entry["memory"] = bench_memory(pipe, size, 2, n=max(regions))
        print(f"  regenerate after moving a box: {entry['regenerate']['after_moving_a_box_s']:.2f} s vs "
              f"{entry['regenerate']['from_scratch_s']:.2f} s from scratch; prompts encoded: "
              f"{entry['regenerate']['prompts_encoded_after_move']}", flush=True)
        print(f"  live preview: {1000 * entry['preview']['preview_s']:.1f} ms = "
              f"{100 * entry['preview']['fraction_of_step']:.2f}% of a step", flush=True)
        report["models"][name] = entry
        del pipe
    write_report(report, args.out)


if __name__ == "__main__":
    main()
