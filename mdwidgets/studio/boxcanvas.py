"""A canvas of boxes over a picture: draw, select, move, resize. Knows nothing of prompts.

State is two traits, ``boxes`` (``(x0, y0, x1, y1)`` in image pixels, right/bottom exclusive) and
``selected`` (an index or ``None``); ``colours`` gives each box its outline colour and ``image``
the picture under them. The user's gestures come out through hooks — ``on_draw(fn(box))``,
``on_change(fn(index, box))``, ``on_select(fn(index))``, ``on_key(fn(key, shift, ctrl, meta))``
— and the owner decides what they do to its state (it sets ``boxes`` back).

Gestures: a drag anywhere draws a new box (also inside other boxes: nested regions); a click
selects the topmost box under the pointer (or nothing); the selected box moves by a drag inside
it and resizes by its handles. A drag that leaves the canvas ends there, clipped to the edge
(ipycanvas reports no events outside the canvas).

``masks`` (an array or ``None`` per box) tints painted regions under their outlines; ``hidden``
lists boxes not drawn. ``gestures``, when set (a paint tool: :class:`.painttools.PaintTools`),
takes the mouse instead of the box gestures; it draws on the top layer, ``canvas[STROKE]``.
"""

from __future__ import annotations

import threading

import ipywidgets as w
import numpy as np
import traitlets
from ipycanvas import MultiCanvas, hold_canvas
from ipycanvas.canvas import _CANVAS_MANAGER
from PIL import Image

from .. import boxedit
from .hooks import Hook

GRID = 8  # boxes snap to the SD latent grid
MAX_ZOOM = 4  # "fit" enlarges a small canvas by a whole factor up to this (and the display size)
ZOOMS = {"fit": None, "50%": 0.5, "100%": 1.0, "200%": 2.0, "300%": 3.0, "400%": 4.0}
EMPTY = (245, 245, 245)  # the canvas before there is a picture
# The layers, bottom to top. The masks' tint has its own: it is sent again only when a mask changes,
# not at every mouse move of a box drag (a 1024×1024 tint costs ~30 ms to send).
PICTURE, TINT, BOXES, STROKE = range(4)
# ipycanvas sends every draw through one manager; a worker thread (previews) and the kernel
# thread (mouse edits) must not interleave inside a hold_canvas() batch.
DRAW_LOCK = threading.RLock()


class BoxCanvas(traitlets.HasTraits):
    boxes = traitlets.List()
    selected = traitlets.Int(None, allow_none=True)
    colours = traitlets.List()  # an (r, g, b) per box
    masks = traitlets.List()  # a mask array per box (None: a box region), tinted in its colour
    hidden = traitlets.List()  # indices of boxes not drawn (the region rows' eye buttons)
    on_draw = Hook()  #: (box): a box was drawn
    on_change = Hook()  #: (index, box): a box was moved or resized
    on_select = Hook()  #: (index or None): a click selected
    on_key = Hook()  #: (key, shift, ctrl, meta): a key on the canvas

    def __init__(self, width: int, height: int, *, display_width: int = 640, display_height: int = 400) -> None:
        super().__init__()
        self.display_width, self.display_height = display_width, display_height
        self.canvas = MultiCanvas(4, width=width, height=height)
        self.canvas.add_class("mdw-canvas")
        self.cursor = "crosshair"
        self.client_seen = False
        self.canvas.add_class("mdw-cursor-crosshair")
        self.zoom = w.Dropdown(options=list(ZOOMS), value="fit", description="Zoom",
                               tooltip="on-screen size; box coordinates stay in image pixels",
                               layout=w.Layout(width="160px"), style={"description_width": "45px"})
        self.zoom.observe(lambda _: self._fit(), "value")
        self.widget = w.VBox([self.canvas], layout=w.Layout(overflow="auto", max_width="100%"))
        self._image: np.ndarray | None = None
        self._drag: boxedit.Drag | None = None
        self.gestures = None  # a paint tool's down/move/up, used instead of the box gestures
        self._tint: tuple | None = None  # what the tint layer shows (None: draw it again)
        for event, handler in (("mouse_down", self._down), ("mouse_move", self._move), ("mouse_up", self._up),
                               ("mouse_out", self._up), ("key_down", self._key)):
            getattr(self.canvas, f"on_{event}")(handler)
        self.canvas.on_client_ready(self._client_ready)
        self.observe(lambda _: self.draw_boxes(), ["boxes", "selected", "colours", "masks", "hidden"])
        self._fit()

    # -- hooks -----------------------------------------------------------------------------------
    # -- size and picture ------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        return self.canvas.width, self.canvas.height

    def resize(self, width: int, height: int) -> None:
        """A new canvas size in image pixels; the picture is dropped."""
        with DRAW_LOCK:
            self.canvas.width, self.canvas.height = width, height
        self._image = None
        self._fit()
        self.redraw()

    def shown_width(self) -> int:
        """On-screen width in CSS px: the zoom, or "fit": within ``display_width`` × ``display_height``
        (the default fits canvas and region rows on a 1366×768 laptop), enlarged by a whole factor
        (crisp) or scaled down."""
        width, height = self.canvas.width, self.canvas.height
        factor = ZOOMS[self.zoom.value]
        if factor is not None:
            return round(width * factor)
        whole = min(MAX_ZOOM, self.display_width // width, self.display_height // height)
        return width * whole if whole >= 1 else round(width * min(self.display_width / width,
                                                                  self.display_height / height))

    def _fit(self) -> None:
        shown = self.shown_width()
        height = round(shown * self.canvas.height / self.canvas.width)
        self.canvas.layout = w.Layout(width=f"{shown}px", height=f"{height}px", flex="0 0 auto")

    def show_image(self, image: Image.Image | None) -> None:
        """Put ``image`` (any size: it is fitted) under the boxes; ``None``: an empty canvas."""
        width, height = self.size
        if image is None:
            array = np.full((height, width, 3), EMPTY, np.uint8)
        else:
            array = np.asarray(image.convert("RGB").resize((width, height)))
        self._image = array
        opaque = np.dstack([array, np.full(array.shape[:2], 255, np.uint8)])  # RGBA goes as PNG; RGB as lossy JPEG
        with DRAW_LOCK, hold_canvas():
            self.canvas[PICTURE].put_image_data(opaque, 0, 0)

    def redraw(self) -> None:
        self._tint = None  # a new front end, or a resized canvas: every layer is drawn again
        self.show_image(None if self._image is None else Image.fromarray(self._image))
        self.draw_boxes()

    def _client_ready(self) -> None:
        self.client_seen = True  # a front end draws this canvas (see Studio's check for a silent one)
        # A reloaded page has empty canvases while ipycanvas' manager thinks it already switched
        # to ours: forget that, then draw everything again.
        with DRAW_LOCK:
            _CANVAS_MANAGER._current_canvas = None
        self.redraw()

    # -- drawing the boxes -----------------------------------------------------------------------
    def handle(self) -> float:
        """Handle size in image pixels: 6 CSS px at the current zoom."""
        return 6 * self.canvas.width / self.shown_width()

    def draw_boxes(self) -> None:
        boxes = list(self.boxes)
        if self._drag is not None and self._drag.current is not None:
            moved = boxedit.drag_box(self._drag, *self._drag.current, *self.size, GRID)
            if self._drag.mode == "draw" and moved:
                boxes.append(moved)
            elif self._drag.mode != "draw" and moved:
                boxes[self._drag.index] = moved
        with DRAW_LOCK, hold_canvas():
            self._draw_tint()
            top = self.canvas[BOXES]
            top.clear()
            for i, box in enumerate(boxes):
                if i not in self.hidden:
                    self._draw_box(top, i, box)

    def _draw_tint(self) -> None:
        """The painted masks in their colours, drawn again only when they (or their colours) change."""
        key = ([id(m) for m in self.masks], [tuple(c) for c in self.colours], list(self.hidden), self.size)
        if self._tint != key:
            self._tint = key
            self.canvas[TINT].clear()
            if (tint := mask_tint(self.masks, self.colours, self.hidden, self.size)) is not None:
                self.canvas[TINT].put_image_data(tint, 0, 0)

    def _draw_box(self, top, i: int, box: tuple) -> None:
        r, g, b = self.colours[i] if i < len(self.colours) else (90, 90, 90)
        x0, y0, x1, y1 = box
        handle = self.handle()
        if i >= len(self.masks) or self.masks[i] is None:  # a mask shows its own pixels (the tint), not its box
            top.fill_style = f"rgba({r}, {g}, {b}, 0.12)"
            top.fill_rect(x0, y0, x1 - x0, y1 - y0)
        width = handle / 2 if i == self.selected else handle / 4
        # a halo that contrasts with the picture under the line: visible on any colour
        for style, line in ((self._halo(box), width + handle / 3), (f"rgb({r}, {g}, {b})", width)):
            top.stroke_style, top.line_width = style, line
            top.stroke_rect(x0, y0, x1 - x0, y1 - y0)
        top.fill_style = f"rgb({r}, {g}, {b})"  # the number tag: 18 CSS px at any zoom
        top.fill_rect(x0, y0, 3 * handle, 3 * handle)
        top.fill_style = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 150 else "black"
        top.font = f"bold {2.4 * handle:.1f}px sans-serif"
        top.fill_text(str(i + 1), x0 + 0.75 * handle, y0 + 2.4 * handle)
        if i == self.selected:
            top.fill_style = f"rgb({r}, {g}, {b})"
            for hx, hy in _handle_points(box):
                top.fill_rect(hx - handle / 2, hy - handle / 2, handle, handle)

    def _halo(self, box: tuple) -> str:
        """A dark halo on a light picture under the box, a light one on a dark picture."""
        if self._image is None:
            return "rgba(0, 0, 0, 0.55)"
        x0, y0, x1, y1 = (int(v) for v in box)
        edge = self._image[max(y0, 0):max(y1, 1), max(x0, 0):max(x1, 1)].reshape(-1, 3)
        light = edge.size and (edge @ np.array([0.299, 0.587, 0.114])).mean() > 110
        return "rgba(0, 0, 0, 0.6)" if light or not edge.size else "rgba(255, 255, 255, 0.75)"

    # -- gestures --------------------------------------------------------------------------------
    def _down(self, x: float, y: float) -> None:
        if self.gestures is not None:
            return self.gestures.down(x, y)
        hit = boxedit.hit_test(self._pointable(x, y, self.selected), self.selected, x, y, self.handle())
        if hit and hit[1] == self.selected and hit[0] == "resize":
            self._drag = boxedit.Drag("resize", (x, y), hit[1], tuple(self.boxes[hit[1]]), hit[2])
        elif self.selected is not None and _inside(self.boxes[self.selected], x, y):
            self._drag = boxedit.Drag("move", (x, y), self.selected, tuple(self.boxes[self.selected]))
        else:
            self._drag = boxedit.Drag("draw", (x, y))
        self._drag.current = (x, y)

    def _move(self, x: float, y: float) -> None:
        if self.gestures is not None:
            return self.gestures.move(x, y)
        if self._drag is None:  # hover: ipycanvas sends every mouse move; only a new cursor costs a message
            self.set_cursor(hover_cursor(self._pointable(x, y, self.selected), self.selected, x, y, self.handle()))
            return
        self._drag.current = (x, y)
        self.draw_boxes()

    def _up(self, x: float, y: float) -> None:
        if self.gestures is not None:
            return self.gestures.up(x, y)
        drag, self._drag = self._drag, None
        if drag is None:
            return
        box = boxedit.drag_box(drag, x, y, *self.size, GRID)
        if box is None or (drag.mode == "move" and box == drag.box):  # a click: select what is under it
            hit = boxedit.hit_test(self._pointable(x, y), None, x, y, 0)
            self.on_select.emit(hit[1] if hit else None)
        elif drag.mode == "draw":
            self.on_draw.emit(box)
        elif box is not None and box != drag.box:
            self.on_change.emit(drag.index, box)
        self.draw_boxes()

    def _pointable(self, x: float, y: float, keep: int | None = None) -> list:
        """The boxes a pointer at ``(x, y)`` can hit: a mask region only where it is painted (its
        bounding box elsewhere is free to draw in), except region ``keep`` (the selected one: it
        moves and resizes by its bounding box)."""
        boxes, masks = list(self.boxes), list(self.masks)
        for i, mask in enumerate(masks[:len(boxes)]):
            if mask is not None and i != keep:
                row, column = int(y), int(x)
                inside = 0 <= row < mask.shape[0] and 0 <= column < mask.shape[1] and mask[row, column] > 0
                boxes[i] = boxes[i] if inside else (-2, -2, -1, -1)  # nowhere on the canvas
        return boxes

    def _key(self, key: str, shift: bool, ctrl: bool, meta: bool) -> None:
        self.on_key.emit(key, shift, ctrl, meta)

    def set_cursor(self, cursor: str) -> None:
        """Show ``cursor`` over the canvas (a CSS class ``mdw-cursor-<name>``; the panel's style sheet
        maps it to the CSS cursor)."""
        if cursor != self.cursor:
            self.canvas.remove_class(f"mdw-cursor-{self.cursor}")
            self.canvas.add_class(f"mdw-cursor-{cursor}")
            self.cursor = cursor


def shortcut(key: str, shift: bool, ctrl: bool) -> str | None:
    """The action of a key on the canvas: "delete" (Delete, Backspace), "undo" (Ctrl+Z), "redo"
    (Ctrl+Shift+Z, Ctrl+Y; Cmd counts as Ctrl), else ``None``."""
    if key in ("Delete", "Backspace"):
        return "delete"
    if ctrl and key.lower() == "z":
        return "redo" if shift else "undo"
    return "redo" if ctrl and key.lower() == "y" else None


def hover_cursor(boxes: list, selected: int | None, x: float, y: float, handle: float) -> str:
    """The cursor for a pointer at ``(x, y)``: a resize arrow over the selected box's edges and
    corners, "move" over its body, "pointer" over another box (a click selects it), "crosshair"
    elsewhere (a drag draws)."""
    hit = boxedit.hit_test(boxes, selected, x, y, handle)
    if hit is not None and hit[0] == "resize":
        edges = hit[2]
        if len(edges) == 2:
            return "nwse-resize" if edges in ({"left", "top"}, {"right", "bottom"}) else "nesw-resize"
        return "ew-resize" if edges & {"left", "right"} else "ns-resize"
    if selected is not None and selected < len(boxes) and _inside(boxes[selected], x, y):
        return "move"  # as a drag there moves the selected box (see _down)
    return "crosshair" if hit is None else "pointer"


def mask_tint(masks: list, colours: list, hidden: list, size: tuple[int, int], alpha: float = 0.4) -> np.ndarray | None:
    """An RGBA image of the painted masks, each in its colour (later ones on top); ``None``: none."""
    shown = [(i, m) for i, m in enumerate(masks) if m is not None and i not in hidden]
    if not shown:
        return None
    width, height = size
    out = np.zeros((height, width, 4), np.uint8)
    for i, mask in shown:
        if mask.shape != (height, width):
            continue  # drawn by the next update, after a resize
        painted = mask > 0
        out[painted, :3] = colours[i] if i < len(colours) else (90, 90, 90)
        out[painted, 3] = np.maximum(out[painted, 3], np.round(255 * alpha * mask[painted]).astype(np.uint8))
    return out


def _inside(box, x: float, y: float) -> bool:
    x0, y0, x1, y1 = box
    return x0 <= x < x1 and y0 <= y < y1


def _handle_points(box) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = box
    points = [(hx, hy) for hx in (x0, (x0 + x1) / 2, x1) for hy in (y0, (y0 + y1) / 2, y1)]
    return [p for p in points if p != ((x0 + x1) / 2, (y0 + y1) / 2)]
