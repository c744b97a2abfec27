"""Which speed levers pay on this machine? Seconds per step of one 4-region composition.

    python -m benchmarks.levers [--model builtin:shapes] [--size PX] [--steps 4] [--out benchmarks/results/levers.json]

Each lever is applied to a fresh copy of the pipeline and timed on the same layout, seed and
scheduler: float32 baseline, channels_last UNet, bfloat16 UNet + text encoder, ``torch.compile``
of the UNet (first step, which compiles, reported apart), and ``max_batch=1``. The max abs
difference of the final latents against the baseline tells what each lever costs in accuracy.
Numbers depend on the CPU (bfloat16 is fast only with AVX512-BF16/AMX); compare within one run.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from benchmarks.bench_sampler import layout_with
from mdwidgets import compose, load_pipeline
from mdwidgets.pipelines.facts import native_size


def channels_last(pipe):
    pipe.unet.to(memory_format=torch.channels_last)
    return pipe


def bfloat16(pipe):
    pipe.unet.to(torch.bfloat16)
    pipe.text_encoder.to(torch.bfloat16)
    return pipe


def compiled(pipe):
    pipe.unet = torch.compile(pipe.unet)
    return pipe


LEVERS = {
    "float32 baseline": (lambda pipe: pipe, {}),
    "channels_last": (channels_last, {}),
    "bfloat16": (bfloat16, {}),
    "torch.compile": (compiled, {}),
    "max_batch=1": (lambda pipe: pipe, {"max_batch": 1}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="builtin:shapes")
    parser.add_argument("--size", type=int, default=None, help="default: the model's native canvas")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--levers", nargs="*", default=list(LEVERS))
    parser.add_argument("--out", default="benchmarks/results/levers.json")
    args = parser.parse_args()

    base = load_pipeline(args.model, device="cpu", dtype="float32")
    args.size = args.size or native_size(base)
    layout = layout_with(4, args.size)
    flags = ", ".join(f for f in ("avx512_bf16", "amx_bf16") if f in Path("/proc/cpuinfo").read_text()) or "none"
    print(f"{args.model}, {args.size}x{args.size}, 4 regions, {args.steps} DDIM steps, bootstrap 0, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, CPU bf16 flags: {flags}")
    rows, reference = [], None
    for name in args.levers:
        apply, kwargs = LEVERS[name]
        pipe = apply(copy.deepcopy(base))
        started = time.perf_counter()
        result = compose(pipe, layout, num_inference_steps=args.steps, seed=0, bootstrap_steps=0,
                         output_type="latent", **kwargs)
        total = time.perf_counter() - started
        steps = result.timings["steps"]
        latents = result.latents.float()
        if reference is None:
            reference = latents
        rows.append({"lever": name, "seconds_per_step": statistics.median(steps[1:]), "first_step": steps[0],
                     "total": total, "max_abs_diff": float((latents - reference).abs().max())})
    baseline = rows[0]["seconds_per_step"]
    print(f"{'lever':<18} {'s/step':>8} {'speed-up':>9} {'1st step':>9} {'max|diff|':>10}")
    for r in rows:
        r["speedup"] = baseline / r["seconds_per_step"]
        print(f"{r['lever']:<18} {r['seconds_per_step']:>8.3f} {r['speedup']:>8.2f}x {r['first_step']:>9.2f} "
              f"{r['max_abs_diff']:>10.2e}")
    report = {"machine": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "cpu_bf16_flags": flags, "model": args.model, "size": args.size, "steps": args.steps, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
