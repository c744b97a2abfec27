"""The kernel's share of painting a mask: a stroke's mouse moves, and the work at mouse-up.

    python -m benchmarks.paint_speed [--sizes 128 512 1024] [--repeats 5]

A Studio without a pipeline (live mode off) on a square canvas of each size. Through ipycanvas'
own message path (as a browser would) it paints a 60-point brush stroke (radius 1/32 of the canvas)
into a new region, then fills the inside of a closed ring with the fill tool. It times, in the
kernel: one mouse move of the stroke (the segment drawn under the pointer), the mouse-up of the
stroke (rasterising the mask, the layout edit, undo entry, autosave, the canvas and region rows),
and the fill's mouse-up (the flood fill and the same edit). Medians over the repeats. The browser
test ``test_paint_an_l_shaped_region_and_the_render_follows_it`` measures the page's side (mouse
move → stroke on screen). Writes ``benchmarks/results/paint_speed.json``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time

from benchmarks.bench_sampler import machine, write_report
from mdwidgets import Layout
from mdwidgets.studio import Studio


def send(studio: Studio, event: str, x: float, y: float) -> float:
    """Seconds the kernel spends on one canvas event."""
    content = {"event": event, "x": x, "y": y}
    start = time.perf_counter()
    studio.boxes.canvas._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})
    return time.perf_counter() - start


def one_size(size: int, repeats: int) -> dict:
    moves, ups, fills = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeats):
            studio = Studio(None, Layout(size, size, "a blue background"), model="builtin:shapes",
                            autosave_dir=folder, live=False)
            tools = studio.painting.tools
            tools.tool.value, tools.size.value = "brush", max(2, size // 16)
            ring = [(size / 2 + size / 4 * math.cos(t / 59 * 2 * math.pi),
                     size / 2 + size / 4 * math.sin(t / 59 * 2 * math.pi)) for t in range(60)]
            send(studio, "mouse_down", *ring[0])
            moves += [send(studio, "mouse_move", *p) for p in ring[1:]]
            ups.append(send(studio, "mouse_up", *ring[-1]))
            tools.tool.value = "fill"
            send(studio, "mouse_down", size / 2, size / 2)
            fills.append(send(studio, "mouse_up", size / 2, size / 2))
            assert studio.layout.regions[0].mask[size // 2, size // 2] > 0, "the fill did not fill the ring"
    return {"canvas": size, "move_ms": round(1000 * statistics.median(moves), 2),
            "stroke_up_ms": round(1000 * statistics.median(ups), 1),
            "fill_up_ms": round(1000 * statistics.median(fills), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 512, 1024])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/paint_speed.json")
    args = parser.parse_args()
    rows = [one_size(size, args.repeats) for size in args.sizes]
    for row in rows:
        print(f"{row['canvas']}×{row['canvas']}: a mouse move {row['move_ms']} ms, the stroke's mouse-up "
              f"{row['stroke_up_ms']} ms, a fill's mouse-up {row['fill_up_ms']} ms (kernel, median)")
    write_report({"machine": machine(), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
