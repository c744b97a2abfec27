"""The paint tools of the canvas: box (the :class:`.BoxCanvas` gestures), brush, eraser, ellipse and
fill, a brush size, and the latent-resolution view toggle.

While a paint tool is chosen the tools take the canvas' mouse (``BoxCanvas.gestures``): the stroke
is drawn under the pointer on the top layer as the mouse moves (one short line segment per mouse
event: nothing is rasterised in the kernel then), and at mouse-up it comes out once, as a
:class:`~.paint.Stroke`, through ``on_stroke(fn(stroke))``; the owner paints it into a mask. The
brush's cursor is a circle of its size (a CSS cursor: it follows the pointer without a message).

Keys on the canvas: B brush, E eraser, O ellipse, F fill, R box, ``[`` / ``]`` brush size.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable

import ipywidgets as w
from ipycanvas import hold_canvas

from .boxcanvas import DRAW_LOCK, STROKE, BoxCanvas
from .hooks import Hook
from .paint import Stroke

KEYS = {"r": "box", "b": "brush", "e": "eraser", "o": "ellipse", "f": "fill"}
TOOL_TIPS = {"box": "draw, select, move boxes; drag the selected region to move it (R)",
             "brush": "paint into the selected region, or a new one (B)",
             "eraser": "erase from the selected region (E)",
             "ellipse": "drag an ellipse into the selected region, or a new one (O)",
             "fill": "click inside a closed stroke to fill it; with nothing selected, the space between regions (F)"}
MAX_BRUSH = 256  # px (diameter)
SIZE_STEP = 1.25  # [ and ] change the brush size by this factor (at least one pixel)
NEW_REGION = (60, 60, 60)  # a stroke with nothing selected, drawn before its region has a colour


class PaintTools:

    on_stroke = Hook()  #: (stroke): a stroke, ellipse or fill ended (mouse-up)
    def __init__(self, boxes: BoxCanvas, size: int = 16) -> None:
        self.boxes = boxes
        self.tool = w.ToggleButtons(options=[(name.capitalize(), name) for name in TOOL_TIPS], value="box",
                                    tooltips=list(TOOL_TIPS.values()), style={"button_width": "68px"})
        self.size = w.IntSlider(size, min=1, max=MAX_BRUSH, description="Size",
                                tooltip="brush and eraser diameter in image pixels ([ smaller, ] bigger)",
                                layout=w.Layout(width="170px"), style={"description_width": "32px"})
        self.rest = w.Button(description="Fill rest", icon="fill-drip", layout=w.Layout(width="auto"),
                             tooltip="fill the selected region (or a new one) with all that no other region covers")
        self.latent = w.Checkbox(False, description="Latent view", indent=False, layout=w.Layout(width="auto"),
                                 tooltip="the masks as the sampler uses them: one cell per latent pixel, "
                                         "soft edges as weights")
        self.style = w.HTML(layout=w.Layout(display="none"))  # the brush cursor's CSS
        self.buttons = w.HBox([self.tool, self.rest, self.style], layout=w.Layout(flex_flow="row wrap"))
        self._points: list[tuple[float, float]] = []
        self.new_colour: Callable[[], tuple[int, int, int]] = lambda: NEW_REGION  # a new region's, set by the owner
        self.tool.observe(lambda _: self._chosen(), "value")
        self.size.observe(lambda _: self._cursor_style(), "value")
        boxes.zoom.observe(lambda _: self._cursor_style(), "value")
        boxes.on_key(self._key)
        self._cursor_style()

    @property
    def radius(self) -> float:
        return self.size.value / 2

    # -- choosing --------------------------------------------------------------------------------
    def _chosen(self) -> None:
        painting = self.tool.value != "box"
        self.boxes.gestures = self if painting else None
        self._points = []
        self.boxes.set_cursor(self.tool.value if painting else "crosshair")
        with DRAW_LOCK, hold_canvas():
            self.boxes.canvas[STROKE].clear()

    def _key(self, key: str, shift: bool, ctrl: bool, meta: bool) -> None:
        if ctrl or meta:
            return
        if key.lower() in KEYS:
            self.tool.value = KEYS[key.lower()]
        elif key in ("[", "]"):
            size = self.size.value
            self.size.value = round(size * SIZE_STEP) if key == "]" else round(size / SIZE_STEP)
            if self.size.value == size:  # small sizes: at least one pixel
                self.size.value = size + (1 if key == "]" else -1)

    def _cursor_style(self) -> None:
        """A circle of the brush's on-screen size as the CSS cursor of the brush and eraser (browsers
        draw cursors up to 128 px; a larger brush shows a 128 px circle)."""
        scale = self.boxes.shown_width() / self.boxes.size[0]
        d = max(4, min(126, round(self.size.value * scale)))
        c = d / 2 + 1
        svg = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{d + 2}' height='{d + 2}'>"
               f"<circle cx='{c}' cy='{c}' r='{d / 2}' fill='none' stroke='white' stroke-width='1.5'/>"
               f"<circle cx='{c}' cy='{c}' r='{max(d / 2 - 1, 1)}' fill='none' stroke='black' stroke-width='1'/></svg>")
        url = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
        self.style.value = (f"<style>.mdw-cursor-brush, .mdw-cursor-eraser {{cursor: url({url}) {c:.0f} {c:.0f}, "
                            "crosshair} .mdw-cursor-ellipse {cursor: crosshair} "
                            ".mdw-cursor-fill {cursor: cell}</style>")

    # -- gestures (BoxCanvas calls these while a paint tool is chosen) ---------------------------
    def _colour(self, alpha: float) -> str:
        """The stroke being painted: opaque (overlapping segments of a translucent one would show as spots)."""
        if self.tool.value == "eraser":
            return f"rgba(255, 255, 255, {alpha})"
        selected, colours = self.boxes.selected, self.boxes.colours
        r, g, b = colours[selected] if selected is not None and selected < len(colours) else self.new_colour()
        return f"rgba({r}, {g}, {b}, {alpha})"

    def down(self, x: float, y: float) -> None:
        self._points = [(x, y)]
        if self.tool.value in ("brush", "eraser"):
            with DRAW_LOCK, hold_canvas():
                layer = self.boxes.canvas[STROKE]
                layer.fill_style = self._colour(1.0)
                layer.fill_circle(x, y, self.radius)

    def move(self, x: float, y: float) -> None:
        if not self._points:
            return  # hover: the CSS cursor follows the pointer by itself
        (px, py), tool = self._points[-1], self.tool.value
        self._points.append((x, y))
        with DRAW_LOCK, hold_canvas():
            layer = self.boxes.canvas[STROKE]
            if tool in ("brush", "eraser"):
                layer.stroke_style, layer.line_width, layer.line_cap = self._colour(1.0), 2 * self.radius, "round"
                layer.stroke_line(px, py, x, y)
            elif tool == "ellipse":
                (sx, sy) = self._points[0]
                layer.clear()
                layer.fill_style = self._colour(0.5)
                layer.begin_path()
                layer.ellipse((sx + x) / 2, (sy + y) / 2, abs(x - sx) / 2, abs(y - sy) / 2, 0, 0, 2 * math.pi)
                layer.fill()

    def up(self, x: float, y: float) -> None:
        points, self._points = self._points, []
        if not points:
            return
        if points[-1] != (x, y):
            points.append((x, y))
        tool = self.tool.value
        if tool == "ellipse":
            (sx, sy) = points[0]
            points = [(sx, sy), (x, y)] if abs(x - sx) >= 1 and abs(y - sy) >= 1 else []
        elif tool == "fill":
            points = points[-1:]
        try:
            if points:
                self.on_stroke.emit(Stroke(tool, tuple(points), self.radius))
        finally:
            with DRAW_LOCK, hold_canvas():
                self.boxes.canvas[STROKE].clear()
