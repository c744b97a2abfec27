"""Live mode on the built-in model: a box is moved, how soon does the picture follow?

    python -m benchmarks.live_latency [--moves 8] [--steps 25]

A Studio on ``builtin:shapes`` with live mode on, the "shapes" example layout. Each move selects
box 1 and drags it by 8 px through ipycanvas' own message path (as a browser would), then waits
for the live render to finish and reads ``studio.rendering.live_timings``: seconds from the
mouse-up to the first new preview, to the finished draft (``LIVE_DRAFT_STEPS`` steps) and to the
final image at the full settings. Medians over the moves; kernel-side (the browser test
``test_live_mode_follows_a_drag`` measures the same from the page). Writes
``benchmarks/results/live_latency.json``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from benchmarks.bench_sampler import machine, write_report
from mdwidgets import Layout, Studio
from mdwidgets.layout import example_layouts
from mdwidgets.studio import rendering


def send(studio: Studio, event: str, x: float, y: float) -> None:
    content = {"event": event, "x": x, "y": y}
    studio.boxes.canvas._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def move_box_one(studio: Studio, dx: int) -> None:
    x0, y0, x1, y1 = studio.layout.regions[0].box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    send(studio, "mouse_down", cx, cy)  # a click selects it …
    send(studio, "mouse_up", cx, cy)
    send(studio, "mouse_down", cx, cy)  # … and a drag inside the selected box moves it
    send(studio, "mouse_move", cx + dx, cy)
    send(studio, "mouse_up", cx + dx, cy)


def measure(moves: int, steps: int, draft_steps: int) -> dict[str, float]:
    rendering.LIVE_DRAFT_STEPS = draft_steps
    with tempfile.TemporaryDirectory() as folder:
        studio = Studio(layout=Layout.load(example_layouts()["shapes"]), output_dir=folder, autosave=False, live=True)
        studio.controls.steps.value = steps  # a settings edit: the first live render (warm-up)
        studio.rendering.runner.join()
        seen: dict[str, list[float]] = {}
        for k in range(moves):
            move_box_one(studio, 8 if k % 2 == 0 else -8)
            studio.rendering.runner.join()
            for key, value in studio.rendering.live_timings.items():
                seen.setdefault(key, []).append(value)
        return {key: statistics.median(values) for key, values in seen.items()}


def draft_quality(steps: int, drafts: list[int]) -> dict[str, float]:
    """How far (mean abs /255) a draft, and the full run's own preview at the draft's time, are from
    the final image: what a draft buys."""
    import numpy as np

    from mdwidgets import compose, load_pipeline
    from mdwidgets.catalog import default_bootstrap_steps
    from mdwidgets.sampling.images import decode_latents

    pipe = load_pipeline()
    layout = Layout.load(example_layouts()["shapes"])
    boot = default_bootstrap_steps("builtin:shapes", steps)
    frames: list[tuple[float, np.ndarray]] = []
    full = compose(pipe, layout, num_inference_steps=steps, bootstrap_steps=boot, seed=0,
                   callback=lambda e: frames.append((e.elapsed, np.asarray(decode_latents(pipe.vae, e.x0), float))))
    final = np.asarray(full.image, float)
    out = {}
    for draft in drafts:
        run = compose(pipe, layout, num_inference_steps=draft, bootstrap_steps=round(boot * draft / steps), seed=0)
        seconds = run.timings["total"]
        preview = next((f for t, f in frames if t >= seconds), frames[-1][1])
        row = {"seconds": seconds, "draft_to_final": float(np.abs(np.asarray(run.image) - final).mean()),
               "full_run_preview_then_to_final": float(np.abs(preview - final).mean())}
        out[f"draft {draft}"] = row
        print(f"   draft {draft} steps: {seconds * 1000:.0f} ms, {row['draft_to_final']:.1f}/255 from the final; "
              f"the full run's preview at that time: {row['full_run_preview_then_to_final']:.1f}/255")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--moves", type=int, default=8)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--drafts", type=int, nargs="*", default=[rendering.LIVE_DRAFT_STEPS],
                        help="draft step counts to try (each also run without a draft)")
    args = parser.parse_args()
    rows = {}
    for draft in (*args.drafts, args.steps):  # with each draft pass, and without one
        timings = measure(args.moves, args.steps, draft)
        label = f"draft {draft} steps" if draft < args.steps else "no draft"
        rows[label] = timings
        print(f"{label:>16}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items()))
    quality = draft_quality(args.steps, args.drafts)
    write_report({"machine": machine(), "moves": args.moves, "steps": args.steps, "medians": rows, "quality": quality},
                 "benchmarks/results/live_latency.json")


if __name__ == "__main__":
    main()
