"""Soak test: many consecutive Studio generations, alternating layouts and cancels.

    python -m benchmarks.soak [--runs 200] [--size 64] [--steps 4]

Reports resident memory growth after warm-up (target < 50 MB) and threads left behind. Not part
of the unit run; numbers go to benchmarks/results/soak.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.procmem import rss_mb
from mdwidgets import Layout, Region, Studio, load_pipeline
from mdwidgets.pipelines.loading import DEFAULT_MODEL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/soak.json")
    args = parser.parse_args()
    s = args.size
    layouts = [
        Layout(s, s, "a blue background", [Region("a red circle", box=(0, 0, s // 2, s // 2))]),
        Layout(s, s, "a green background", [Region("a yellow square", box=(s // 4, s // 4, s, s)),
                                            Region("a white triangle", box=(0, s // 2, s // 2, s))]),
    ]
    pipe = load_pipeline(DEFAULT_MODEL)
    with tempfile.TemporaryDirectory() as folder:
        studio = Studio(pipe, layouts[0], output_dir=folder, autosave_dir=folder, live=False)
        studio.controls.steps.value = args.steps
        threads_before = threading.active_count()
        rss, cancelled, started = [], 0, time.perf_counter()
        for run in range(args.runs):
            studio.layout = layouts[run % 2]
            studio.controls.seed.value = run
            if run % 3 == 2:  # cancel every third run right after it starts
                thread = studio.generate()
                studio.cancel()
                thread.join()
                cancelled += studio.result.cancelled
            else:
                studio.generate(wait=True)
            rss.append(rss_mb())
            if run % 50 == 49:
                print(f"run {run + 1}: RSS {rss[-1]:.0f} MB, threads {threading.active_count()}", flush=True)
        elapsed = time.perf_counter() - started
    growth = rss[-1] - rss[args.warmup - 1]
    report = {
        "model": DEFAULT_MODEL, "runs": args.runs, "size": s, "steps": args.steps, "cancelled": cancelled,
        "seconds": elapsed, "rss_after_warmup_mb": rss[args.warmup - 1], "rss_end_mb": rss[-1],
        "rss_growth_after_warmup_mb": growth, "max_rss_mb": max(rss),
        "threads_left": threading.active_count() - threads_before,
        "history_kept": len(studio.history.results),
    }
    print(json.dumps(report, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
