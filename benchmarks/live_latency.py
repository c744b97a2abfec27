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
    write_report({"machine": machine(), "moves": args.moves, "steps": args.steps, "medians": rows},
                 "benchmarks/results/live_latency.json")


if __name__ == "__main__":
    main()
