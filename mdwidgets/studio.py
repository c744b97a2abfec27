"""The Studio: draw boxes, give prompts, generate with a live preview — in a notebook.

A thin panel: it edits a :class:`~mdwidgets.Layout` and displays :func:`~mdwidgets.compose`'s
step events. All geometry lives in :mod:`mdwidgets.boxedit`, all pictures in
:mod:`mdwidgets.preview`.
"""

from __future__ import annotations

import html
import io
import os
import random
import secrets
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np
from ipycanvas import MultiCanvas, hold_canvas
from ipycanvas.canvas import _CANVAS_MANAGER
from PIL import Image

from . import boxedit
from .images import read_png_metadata, save_png, unique_path, write_atomic
from .layout import Layout, LayoutError, Region, example_layouts
from .models import (
    DEFAULT_MODEL,
    MODEL_EXAMPLES,
    default_bootstrap_steps,
    default_canvas,
    default_guidance,
    load_pipeline,
    model_name,
)
from .preview import overlay_regions, previewer_for, region_colour
from .sampler import ComposeResult, compose
from .schedulers import SCHEDULERS
from .views import bootstrap_values, compare

GRID = 8  # boxes snap to the SD latent grid
SIZE_PRESETS = {
    "128×128": (128, 128),
    "256×256": (256, 256),
    "512×512": (512, 512),
    "768×512": (768, 512),
    "512×768": (512, 768),
    "512×128 (wide)": (512, 128),
    "1024×256 (wide)": (1024, 256),
    "2048×512 (panorama)": (2048, 512),
}
# Presets far wider than any model's native size switch the sampler to sliding windows (paper §4.1).
WINDOWED_PRESETS = {"512×128 (wide)", "1024×256 (wide)", "2048×512 (panorama)"}
STUDIO_STEPS = 25  # the Steps slider's starting value
PREVIEW_EVERY_COST = 3  # a new preview once 3× the last preview's cost has passed since it
EXAMPLE_PROMPT = "choose…"
UNDO_LIMIT = 100  # layout edits that Undo can take back
MAX_ZOOM = 4  # a small canvas is shown enlarged by a whole factor up to this, to fill the panel
WINDOW_MODES = {  # label: (window, circular)
    "whole canvas": (None, False),
    "native windows": ("native", False),
    "windows, 360° wrap": ("native", True),
}
# ipycanvas sends every draw through one manager; the worker thread (previews) and the kernel
# thread (mouse edits) must not interleave inside a hold_canvas() batch.
_DRAW_LOCK = threading.RLock()


def default_autosave_dir() -> Path:
    return Path(os.environ.get("MDWIDGETS_AUTOSAVE_DIR", Path.home() / ".mdwidgets" / "autosave"))


def _enable_colab_widgets() -> None:
    try:
        from google.colab import output  # type: ignore[import-not-found]
    except ImportError:
        return
    output.enable_custom_widget_manager()


class Studio:
    """A notebook panel that edits a :class:`Layout` and renders it with MultiDiffusion.

    Args:
        pipe: a loaded pipeline; ``None`` loads ``model`` on the first Generate.
        layout: the starting layout (default: an empty canvas of the model's native size,
            128×128 for the built-in shapes model).
        model: model name shown and loaded when ``pipe`` is ``None``.
        output_dir: where exports go (files are never overwritten).
        display_width: the canvas' on-screen width in CSS pixels: a larger canvas is scaled down
            to fit, a smaller one enlarged by a whole factor (up to 4×) so it stays crisp.
        autosave_dir: where every edit of the layout is saved (one JSON file per Studio);
            default ``$MDWIDGETS_AUTOSAVE_DIR`` or ``~/.mdwidgets/autosave``.
            :meth:`Studio.restore` brings the newest back after a kernel restart.
        history_limit: results kept in the history strip (oldest dropped first).

    ``studio.layout`` is the state both ways: edits on the canvas update it, assigning a Layout
    redraws the panel. ``studio.result`` is the last :class:`ComposeResult`.
    """

    def __init__(
        self,
        pipe=None,
        layout: Layout | None = None,
        *,
        model: str | None = None,
        output_dir: str | Path = "mdwidgets-output",
        display_width: int = 640,
        autosave_dir: str | Path | None = None,
        autosave: bool = True,
        history_limit: int = 30,
    ) -> None:
        if isinstance(history_limit, bool) or not isinstance(history_limit, int) or history_limit < 1:
            raise ValueError(f"history_limit={history_limit!r} must be a whole number >= 1")
        _enable_colab_widgets()
        folder = Path(autosave_dir) if autosave_dir is not None else default_autosave_dir()
        self.autosave_path = (
            folder / f"studio-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.json" if autosave else None
        )
        self._pipe = pipe
        self.model = model or model_name(pipe) or ("your pipeline" if pipe is not None else DEFAULT_MODEL)
        self.output_dir = Path(output_dir)
        self.display_width = display_width
        self.result: ComposeResult | None = None
        self.history: list[ComposeResult] = []
        self.history_limit = history_limit
        self.preview_seconds: list[float] = []
        self.selected: int | None = None
        side = default_canvas(self.model)
        self._layout = layout or Layout(side, side, "a blue background")
        self._drag: boxedit.Drag | None = None
        self._image: Image.Image | None = None
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._start_lock = threading.Lock()
        self._syncing = False
        self._autosave_failure: str | None = None
        self._undo: list[Layout] = []  # layouts before each edit, newest last (at most UNDO_LIMIT)
        self._redo: list[Layout] = []
        self._replaying = False
        self._editing = False  # no autosave before the first edit: a new Studio never hides saved work
        self._build()
        self.layout = self._layout
        self._editing = True

    # -- public state ----------------------------------------------------------------------------
    @property
    def layout(self) -> Layout:
        return self._layout

    @layout.setter
    def layout(self, layout: Layout) -> None:
        if not isinstance(layout, Layout):
            raise TypeError(f"studio.layout must be a mdwidgets.Layout, not {type(layout).__name__}")
        resized = (layout.width, layout.height) != (self.canvas.width, self.canvas.height)
        self._store(layout)
        if self.selected is not None and self.selected >= len(layout.regions):
            self.selected = None
        if resized:
            self._image = None
            self._resize_canvas()
        self._sync_controls()
        self._rebuild_rows()
        self._redraw()

    def _store(self, layout: Layout) -> None:
        """Every edit ends here: remember the layout before it (undo), keep it, autosave it."""
        if self._editing and not self._replaying and layout != self._layout:
            self._undo = [*self._undo, self._layout][-UNDO_LIMIT:]
            self._redo = []
        self._layout = layout
        if self._editing:
            self.undo_button.disabled, self.redo_button.disabled = not self._undo, not self._redo
        if self.autosave_path is None or not self._editing:
            return
        try:
            self.autosave_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.autosave_path, lambda tmp: tmp.write_text(layout.to_json()))
            self._autosave_failure = None
        except OSError as exc:
            self._autosave_failure = f"Autosave failed ({exc}); export your layout to keep it."
            self._say(self._autosave_failure, error=True)

    @classmethod
    def restore(cls, pipe=None, *, autosave_dir: str | Path | None = None, **kwargs: Any) -> Studio:
        """A new Studio with the most recently autosaved layout (e.g. after a kernel restart).

        A Studio autosaves only after its first edit, so re-running a ``Studio(pipe)`` cell never
        puts an untouched default layout in front of the work saved before."""
        folder = Path(autosave_dir) if autosave_dir is not None else default_autosave_dir()
        saved = sorted(folder.glob("studio-*.json"), key=lambda p: p.stat().st_mtime)
        for path in reversed(saved):
            try:
                layout = Layout.load(path)
            except (OSError, LayoutError):
                continue
            return cls(pipe, layout, autosave_dir=folder, **kwargs)
        raise FileNotFoundError(f"no autosaved Studio layout in {folder}")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def settings(self) -> dict[str, Any]:
        """The sampler settings the controls show."""
        scheduler = self.scheduler.value
        return {
            "num_inference_steps": self.steps.value,
            "guidance_scale": self.guidance.value,
            "bootstrap_steps": min(self.bootstrap.value, self.steps.value),
            "seed": self.seed.value,
            "scheduler": None if scheduler == "model default" else scheduler,
            "window": WINDOW_MODES[self.windows.value][0],
            "circular": WINDOW_MODES[self.windows.value][1],
            "stride": self.stride.value,
        }

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # -- building the panel ----------------------------------------------------------------------
    def _build(self) -> None:
        self._build_canvas()
        self._build_prompts()
        self._build_settings()
        self._build_actions()
        controls = w.VBox([
            self.model_label,
            w.HBox([self.size, self.scheduler]),
            w.HBox([self.windows, self.stride]),
            self.steps, self.guidance, self.bootstrap,
            w.HBox([self.seed, self.reseed]),
            w.HBox([self.generate_button, self.cancel_button]),
            self.compare_button,
            w.HBox([self.progress, self.progress_label]),
            w.HBox([self.overlay, self.delete_button, self.undo_button, self.redo_button]),
            w.HBox([self.save_png_button, self.save_json_button, self.upload]),
            self.example,
        ])
        self.widget = w.VBox([
            w.HBox([self.canvas, controls], layout=w.Layout(align_items="flex-start")),
            self.background, self.negative, self.new_prompt,
            w.HTML("<b>Regions</b> — drag on the canvas to add a box; click one to select it"),
            self.rows, self.status, self.history_box, self.comparison_image,
        ])

    def _build_canvas(self) -> None:
        self.canvas = MultiCanvas(2, width=self._layout.width, height=self._layout.height)
        self._resize_canvas()  # its on-screen size: a small canvas is shown enlarged from the start
        self.canvas.on_mouse_down(self._mouse_down)
        self.canvas.on_mouse_move(self._mouse_move)
        self.canvas.on_mouse_up(self._mouse_up)
        self.canvas.on_mouse_out(self._mouse_up)
        self.canvas.on_key_down(self._key_down)
        self.canvas.on_client_ready(self._client_ready)

    def _build_prompts(self) -> None:
        text = lambda desc, value="", **kw: w.Text(  # noqa: E731
            value=value, description=desc, continuous_update=False,
            # "auto" stretches to the panel; "100%" plus the widget's margin overflowed it
            layout=w.Layout(width="auto"), style={"description_width": "110px"}, **kw,
        )
        self.background = text("Background", placeholder="what fills the rest of the canvas")
        self.negative = text("Negative", placeholder="optional, for every prompt")
        self.new_prompt = text("New box prompt", "a red circle")
        self.background.observe(self._background_edited, "value")
        self.negative.observe(self._negative_edited, "value")
        self.rows = w.VBox([])

    def _build_settings(self) -> None:
        self.steps = w.IntSlider(STUDIO_STEPS, min=1, max=100, description="Steps")
        self.guidance = w.FloatSlider(default_guidance(self.model), min=1.0, max=15.0, step=0.5,
                                      description="Guidance")
        self.bootstrap = w.IntSlider(default_bootstrap_steps(self.model, STUDIO_STEPS), min=0, max=100,
                                     description="Bootstrap")
        self.seed = w.IntText(0, description="Seed", layout=w.Layout(width="200px"))
        self.reseed = w.Button(icon="random", tooltip="random seed", layout=w.Layout(width="40px"))
        self.reseed.on_click(lambda _: setattr(self.seed, "value", random.randrange(2**31)))
        self.scheduler = w.Dropdown(options=["model default", *SCHEDULERS], description="Scheduler")
        self.size = w.Dropdown(options=list(SIZE_PRESETS), description="Canvas")
        self.size.observe(self._size_chosen, "value")
        self.windows = w.Dropdown(
            options=list(WINDOW_MODES), description="Windows",
            tooltip="sliding windows of the model's native size for wide canvases and panoramas",
        )
        self.stride = w.IntSlider(8, min=8, max=64, step=8, description="Stride",
                                  tooltip="latent cells between windows: larger is faster, seams show sooner")
        self.model_label = w.HTML()
        self.steps.observe(lambda c: setattr(self.bootstrap, "max", c["new"]), "value")

    def _build_actions(self) -> None:
        self.generate_button = w.Button(description="Generate", button_style="primary", icon="play")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.delete_button = w.Button(description="Delete box", icon="trash", disabled=True)
        self.generate_button.on_click(lambda _: self.generate())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.delete_button.on_click(lambda _: self.delete_selected())
        self.undo_button = w.Button(icon="undo", tooltip="undo (Ctrl+Z)", disabled=True, layout=w.Layout(width="40px"))
        self.redo_button = w.Button(icon="repeat", tooltip="redo (Ctrl+Shift+Z)", disabled=True,
                                    layout=w.Layout(width="40px"))
        self.undo_button.on_click(lambda _: self.undo())
        self.redo_button.on_click(lambda _: self.redo())
        self.compare_button = w.Button(description="Compare bootstrap", icon="th", layout=w.Layout(width="max-content"),
                                       tooltip="the same seed at bootstrap 0, 10%, 20%, 40% of the steps")
        self.compare_button.on_click(lambda _: self.compare_bootstrap())
        self.comparison = None
        self.comparison_image = w.Image(format="png", layout=w.Layout(display="none", max_width="100%"))
        self.progress = w.IntProgress(0, min=0, max=1, layout=w.Layout(width="220px"))
        self.progress_label = w.Label("")
        self.overlay = w.Checkbox(False, description="Mask overlay", indent=False)
        self.overlay.observe(lambda _: self._draw_image(), "value")

        self.save_png_button = w.Button(description="Save PNG", icon="download", disabled=True)
        self.save_json_button = w.Button(description="Save layout", icon="download")
        self.save_png_button.on_click(lambda _: self.export_png())
        self.save_json_button.on_click(lambda _: self.export_layout())
        examples = [n for n in example_layouts() if n in MODEL_EXAMPLES.get(self.model, example_layouts())]
        self.example = w.Dropdown(options=[EXAMPLE_PROMPT, *examples], description="Example",
                                  tooltip="start from an example layout this model draws")
        self.example.observe(lambda c: c["new"] != EXAMPLE_PROMPT and self.load_example(c["new"]), "value")
        self.upload = w.FileUpload(accept=".json,.png", multiple=False, description="Import")
        self.upload.observe(self._uploaded, "value")
        # ipywidgets 8 has no overflow_x: "x y" overflow scrolls sideways, never vertically
        self.history_box = w.HBox([], layout=w.Layout(overflow="auto hidden", width="100%"))
        self.history_box.add_class("mdw-history")
        self.status = w.HTML("")

    def _resize_canvas(self) -> None:
        width, height = self._layout.width, self._layout.height
        with _DRAW_LOCK:
            self.canvas.width, self.canvas.height = width, height
        shown = self._shown_width()
        self.canvas.layout = w.Layout(
            width=f"{shown}px", height=f"{round(shown * height / width)}px", flex="0 0 auto"
        )

    def _sync_controls(self) -> None:
        self._syncing = True
        try:
            lay = self._layout
            self.background.value = lay.background
            self.negative.value = lay.negative_prompt
            size = (lay.width, lay.height)
            label = next((k for k, v in SIZE_PRESETS.items() if v == size), f"{size[0]}×{size[1]}")
            if label not in self.size.options:
                self.size.options = [*SIZE_PRESETS, label]
            self.size.value = label
            self.model_label.value = f"<b>Model:</b> {html.escape(str(self.model))}"
        finally:
            self._syncing = False

    def _rebuild_rows(self) -> None:
        rows = []
        for i, region in enumerate(self._layout.regions):
            r, g, b = region_colour(i)
            select = w.ToggleButton(
                value=i == self.selected, description=f"{i + 1}", tooltip="select this box",
                layout=w.Layout(width="44px", border=f"3px solid rgb({r},{g},{b})"),
            )
            prompt = w.Text(region.prompt, continuous_update=False, layout=w.Layout(flex="3"))
            prompt.add_class("mdw-region-prompt")
            negative = w.Text(region.negative_prompt or "", placeholder="negative (optional)",
                              continuous_update=False, layout=w.Layout(flex="2"))
            guidance = w.Text("" if region.guidance_scale is None else str(region.guidance_scale),
                              placeholder="guidance", continuous_update=False, layout=w.Layout(width="80px"))
            seed = w.Text("" if region.seed is None else str(region.seed), placeholder="seed",
                          continuous_update=False, layout=w.Layout(width="90px"))
            remove = w.Button(icon="times", tooltip="remove this box", layout=w.Layout(width="36px"))
            select.observe(lambda c, i=i: c["new"] and self.select(i), "value")
            prompt.observe(lambda c, i=i: self._edit_region(i, prompt=c["new"]), "value")
            negative.observe(lambda c, i=i: self._edit_region(i, negative_prompt=c["new"] or None), "value")
            guidance.observe(lambda c, i=i: self._edit_region(i, guidance_scale=_optional_number(c["new"], float)),
                             "value")
            seed.observe(lambda c, i=i: self._edit_region(i, seed=_optional_number(c["new"], int)), "value")
            remove.on_click(lambda _, i=i: self.delete(i))
            rows.append(w.HBox([select, prompt, negative, guidance, seed, remove]))
        self.rows.children = rows
        self.delete_button.disabled = self.selected is None

    # -- drawing ---------------------------------------------------------------------------------
    def _shown_width(self) -> int:
        """On-screen width in CSS px: scaled down to the panel, or up by a whole factor."""
        width = self._layout.width
        return min(self.display_width, width * max(1, min(MAX_ZOOM, self.display_width // width)))

    def _handle_size(self) -> float:
        return 6 * self._layout.width / self._shown_width()

    def _redraw(self) -> None:
        self._draw_image()
        self._draw_boxes()

    def _draw_image(self) -> None:
        lay = self._layout
        if self._image is None:
            picture = Image.new("RGB", (lay.width, lay.height), (245, 245, 245))
        else:
            picture = self._image.resize((lay.width, lay.height))
        if self.overlay.value:
            picture = overlay_regions(picture, lay)
        with _DRAW_LOCK, hold_canvas():
            self.canvas[0].put_image_data(np.asarray(picture), 0, 0)

    def _draw_boxes(self) -> None:
        lay = self._layout
        top = self.canvas[1]
        boxes = self._boxes()
        if self._drag is not None and self._drag.current is not None:
            moved = boxedit.drag_box(self._drag, *self._drag.current, lay.width, lay.height, GRID)
            if self._drag.mode == "draw":
                boxes = boxes + ([moved] if moved else [])
            elif moved:
                boxes[self._drag.index] = moved
        handle = self._handle_size()
        with _DRAW_LOCK, hold_canvas():
            top.clear()
            top.stroke_style = "rgba(0, 0, 0, 0.08)"
            top.line_width = 1
            for x in range(32, lay.width, 32):
                top.stroke_line(x, 0, x, lay.height)
            for y in range(32, lay.height, 32):
                top.stroke_line(0, y, lay.width, y)
            for i, box in enumerate(boxes):
                if box is None:
                    continue
                r, g, b = region_colour(i)
                x0, y0, x1, y1 = box
                top.fill_style = f"rgba({r}, {g}, {b}, 0.12)"
                top.fill_rect(x0, y0, x1 - x0, y1 - y0)
                width = 3 * handle / 6 if i == self.selected else 1.5 * handle / 6
                # a dark halo under the coloured line: visible on a picture of the same colour
                for style, line in (("rgba(0, 0, 0, 0.55)", width + handle / 3), (f"rgb({r}, {g}, {b})", width)):
                    top.stroke_style, top.line_width = style, line
                    top.stroke_rect(x0, y0, x1 - x0, y1 - y0)
                top.fill_style = f"rgb({r}, {g}, {b})"
                label = 2.5 * handle
                top.fill_rect(x0, y0, label, label)
                top.fill_style = "white"
                top.font = f"{round(2 * handle)}px sans-serif"
                top.fill_text(str(i + 1), x0 + 0.6 * handle, y0 + 2 * handle)
                if i == self.selected:
                    top.fill_style = f"rgb({r}, {g}, {b})"
                    for hx in (x0, (x0 + x1) / 2, x1):
                        for hy in (y0, (y0 + y1) / 2, y1):
                            if (hx, hy) != ((x0 + x1) / 2, (y0 + y1) / 2):
                                top.fill_rect(hx - handle / 2, hy - handle / 2, handle, handle)

    def _boxes(self) -> list:
        """Region boxes; a mask region shows its bounding box (it can be selected, not dragged)."""
        return [tuple(region.bounds) for region in self._layout.regions]

    def _client_ready(self) -> None:
        # A new browser view (page reload) has empty canvases and ipycanvas' manager still thinks
        # it has switched to ours: forget that, then draw everything again.
        with _DRAW_LOCK:
            _CANVAS_MANAGER._current_canvas = None
        self._redraw()

    # -- mouse and keys --------------------------------------------------------------------------
    def _mouse_down(self, x: float, y: float) -> None:
        hit = boxedit.hit_test(self._boxes(), self.selected, x, y, self._handle_size())
        regions = self._layout.regions
        if hit and regions[hit[1]].mask is not None:
            self.select(hit[1])
            return
        if hit and hit[0] == "resize":
            self._drag = boxedit.Drag("resize", (x, y), hit[1], self._boxes()[hit[1]], hit[2])
        elif hit:
            self.select(hit[1])
            self._drag = boxedit.Drag("move", (x, y), hit[1], self._boxes()[hit[1]])
        else:
            self._drag = boxedit.Drag("draw", (x, y))
        self._drag.current = (x, y)

    def _mouse_move(self, x: float, y: float) -> None:
        if self._drag is None:  # hover: ipycanvas sends every mouse move
            return
        self._drag.current = (x, y)
        self._draw_boxes()

    def _mouse_up(self, x: float, y: float) -> None:
        drag, self._drag = self._drag, None
        if drag is None:
            return
        lay = self._layout
        box = boxedit.drag_box(drag, x, y, lay.width, lay.height, GRID)
        if drag.mode == "draw":
            if box is None:  # a click on empty canvas: deselect
                self.select(None)
                return
            prompt = self.new_prompt.value.strip() or "an object"
            self.selected = len(lay.regions)
            self.layout = lay.with_regions([*lay.regions, Region(prompt, box=box)])
        elif box is not None and box != drag.box:
            regions = list(lay.regions)
            regions[drag.index] = regions[drag.index].replace(box=box)
            self._store(lay.with_regions(regions))  # rows show no geometry: no rebuild needed
            self._redraw()
        else:
            self._draw_boxes()

    def _key_down(self, key: str, shift: bool, ctrl: bool, meta: bool) -> None:
        if key in ("Delete", "Backspace") and self.selected is not None:
            self.delete_selected()
        elif (ctrl or meta) and key.lower() == "z" and not shift:
            self.undo()
        elif (ctrl or meta) and key.lower() in ("z", "y"):  # Ctrl+Shift+Z or Ctrl+Y
            self.redo()

    # -- undo / redo -----------------------------------------------------------------------------
    def undo(self) -> bool:
        """Take back the last layout edit (draw, move, resize, delete, prompt, canvas size).
        Ctrl+Z on the canvas. Returns whether there was one."""
        return self._replay(self._undo, self._redo)

    def redo(self) -> bool:
        """Do again what :meth:`undo` took back (Ctrl+Shift+Z or Ctrl+Y on the canvas)."""
        return self._replay(self._redo, self._undo)

    def _replay(self, source: list[Layout], target: list[Layout]) -> bool:
        if not source:
            return False
        target.append(self._layout)
        self._replaying = True
        try:
            self.layout = source.pop()
        finally:
            self._replaying = False
        self.undo_button.disabled, self.redo_button.disabled = not self._undo, not self._redo
        return True

    # -- editing ---------------------------------------------------------------------------------
    def select(self, index: int | None) -> None:
        """Select region ``index`` (``None``: nothing), on the canvas and in the list."""
        self.selected = index
        for i, row in enumerate(self.rows.children):
            row.children[0].value = i == index
        self.delete_button.disabled = index is None
        self._draw_boxes()

    def delete(self, index: int) -> None:
        regions = list(self._layout.regions)
        del regions[index]
        if self.selected is not None:
            self.selected = None if self.selected == index else self.selected - (self.selected > index)
        self.layout = self._layout.with_regions(regions)

    def delete_selected(self) -> None:
        if self.selected is not None:
            self.delete(self.selected)

    def _edit_region(self, index: int, **changes: Any) -> None:
        if self._syncing:
            return
        try:
            if any(isinstance(v, ValueError) for v in changes.values()):
                raise next(v for v in changes.values() if isinstance(v, ValueError))
            regions = list(self._layout.regions)
            regions[index] = regions[index].replace(**changes)
            self._store(self._layout.with_regions(regions))
            self._say("")
        except (LayoutError, ValueError) as exc:
            self._say(f"Region {index + 1} not changed: {exc}", error=True)

    def _background_edited(self, change) -> None:
        self._edit_layout(background=change["new"])

    def _negative_edited(self, change) -> None:
        self._edit_layout(negative_prompt=change["new"])

    def _edit_layout(self, **changes: Any) -> None:
        if self._syncing:
            return
        try:
            self._store(self._layout.replace(**changes))
            self._say("")
        except LayoutError as exc:
            self._say(f"Not changed: {exc}", error=True)

    def _size_chosen(self, change) -> None:
        if self._syncing or change["new"] not in SIZE_PRESETS:
            return
        if change["new"] in WINDOWED_PRESETS and self.windows.value == "whole canvas":
            self.windows.value = "native windows"
        self.resize(*SIZE_PRESETS[change["new"]])

    def resize(self, width: int, height: int) -> None:
        """Change the canvas size, scaling every box (and mask) with it."""
        lay = self._layout
        sx, sy = width / lay.width, height / lay.height
        regions = []
        for region in lay.regions:
            if region.box is not None:
                regions.append(region.replace(box=boxedit.scale_box(region.box, sx, sy, width, height, GRID)))
            else:
                mask = Image.fromarray((region.mask * 255).astype(np.uint8)).resize((width, height))
                regions.append(region.replace(mask=np.asarray(mask) / 255.0))
        self.layout = lay.replace(width=width, height=height, regions=tuple(regions))

    # -- generation ------------------------------------------------------------------------------
    @property
    def pipe(self):
        if self._pipe is None:
            self._say(f"Loading {self.model}…")
            self._pipe = load_pipeline(self.model)
        return self._pipe

    def generate(self, wait: bool = False) -> threading.Thread | None:
        """Render the current layout in a background thread (a second call while running is ignored).

        The layout and settings are snapshotted now, so editing during the run is safe.
        ``wait=True`` blocks until the run ends (for scripts and tests).
        """
        return self._start(self._work, wait)

    def compare_bootstrap(self, wait: bool = False) -> threading.Thread | None:
        """Render the current layout at bootstrap 0, 10%, 20% and 40% of the steps, side by side,
        with an adherence score per cell (see :func:`mdwidgets.views.compare`)."""
        return self._start(self._compare_work, wait)

    def _start(self, target, wait: bool) -> threading.Thread | None:
        with self._start_lock:
            if self.running:
                self._say("Already generating; Cancel first to start again.")
                return None
            layout, settings = self._layout, self.settings()
            self._cancel.clear()
            self._thread = threading.Thread(target=target, args=(layout, settings), daemon=True)
            self.generate_button.disabled = self.compare_button.disabled = True
            self.cancel_button.disabled = False
            self._thread.start()
        if wait:
            self._thread.join()
        return self._thread

    def cancel(self) -> None:
        """Stop the current run after the step in progress."""
        self._cancel.set()

    def _work(self, layout: Layout, settings: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            pipe = self.pipe
            previewer = previewer_for(pipe.vae)
            self.progress.max = settings["num_inference_steps"]
            self.progress.value = 0
            self._say("Generating…")

            shown = [0.0, 0.0]  # when the last preview was drawn, and what it cost

            def on_step(event):
                if self._cancel.is_set():
                    event.cancel()
                t = time.perf_counter()
                if t - shown[0] >= PREVIEW_EVERY_COST * shown[1]:  # previews take at most ~1/4 of the time
                    self._image = previewer(event.x0, (layout.width, layout.height))
                    self._draw_image()
                    shown[:] = [time.perf_counter(), time.perf_counter() - t]
                    self.preview_seconds.append(shown[1])
                done = event.step + 1
                self.progress.max = event.num_steps
                self.progress.value = done
                eta = event.elapsed / done * (event.num_steps - done)
                self.progress_label.value = f"step {done}/{event.num_steps} · ETA {eta:.0f} s"

            result = compose(pipe, layout, callback=on_step, **settings)
            self.result = result
            self.history.append(result)
            del self.history[: -self.history_limit]  # long sessions: keep memory bounded
            self._image = result.image
            self._draw_image()
            self._add_thumbnail(result)
            self.save_png_button.disabled = False
            word = "Cancelled" if result.cancelled else "Done"
            windows = result.settings["stride"] and (
                f", windows of {result.settings['window']} latent cells, stride {result.settings['stride']}")
            self._say(f"{word}: {result.steps_done} steps in {time.perf_counter() - started:.1f} s, "
                      f"seed {result.settings['seed']}{windows or ''}")
        except Exception as exc:  # noqa: BLE001 - shown in the panel, which must stay usable
            self._say(f"Generation failed: {type(exc).__name__}: {exc}", error=True)
            self.last_error = traceback.format_exc()
        finally:
            self._idle()

    def _idle(self) -> None:
        self.generate_button.disabled = self.compare_button.disabled = False
        self.cancel_button.disabled = True

    def _compare_work(self, layout: Layout, settings: dict[str, Any]) -> None:
        try:
            settings = {k: v for k, v in settings.items() if k != "bootstrap_steps"}
            steps = settings["num_inference_steps"]
            values = bootstrap_values(steps)
            self.progress.max, self.progress.value = len(values) * steps, 0

            def on_step(event):
                if self._cancel.is_set():
                    raise _Cancelled
                self.progress.value += 1
                self.progress_label.value = f"comparing: {self.progress.value}/{self.progress.max} steps"

            self._say("Comparing bootstrap settings…")
            self.comparison = compare(self.pipe, layout, "bootstrap_steps", values, callback=on_step, **settings)
            buf = io.BytesIO()
            self.comparison.image.save(buf, format="PNG")
            self.comparison_image.value = buf.getvalue()
            self.comparison_image.layout.display = None
            self._say(f"Comparison done in {self.comparison.seconds:.1f} s: same seed, bootstrap steps "
                      + ", ".join(map(str, self.comparison.values)))
        except _Cancelled:
            self._say("Comparison cancelled.")
        except Exception as exc:  # noqa: BLE001 - shown in the panel, which must stay usable
            self._say(f"Comparison failed: {type(exc).__name__}: {exc}", error=True)
            self.last_error = traceback.format_exc()
        finally:
            self._idle()

    def _add_thumbnail(self, result: ComposeResult) -> None:
        buf = io.BytesIO()
        thumb = result.image.copy()
        thumb.thumbnail((96, 96))
        thumb.save(buf, format="PNG")
        image = w.Image(value=buf.getvalue(), format="png", layout=w.Layout(width="96px"))
        restore = w.Button(description=f"{time.strftime('%H:%M:%S')} ↺", tooltip="restore this result",
                           layout=w.Layout(width="96px"))
        restore.on_click(lambda _, r=result: self.restore_result(r))
        entry = w.VBox([image, restore], layout=w.Layout(flex="0 0 auto"))  # keeps 96 px; the strip scrolls
        self.history_box.children = (*self.history_box.children, entry)[-self.history_limit :]

    def restore_result(self, result: ComposeResult) -> None:
        """Bring back a result's layout, settings and image."""
        self.layout = result.layout
        self._apply_settings(result.settings)
        self._image = result.image
        self.result = result
        self._draw_image()

    def _apply_settings(self, settings: dict[str, Any]) -> None:
        if "steps" in settings:
            self.steps.value = settings["steps"]
        for control, key in ((self.guidance, "guidance_scale"), (self.bootstrap, "bootstrap_steps"),
                             (self.seed, "seed")):
            if settings.get(key) is not None:
                control.value = settings[key]
        if settings.get("scheduler") in SCHEDULERS:
            self.scheduler.value = settings["scheduler"]
        if "window" in settings:  # PNGs from before panoramas carry no window: leave the control
            windowed = settings["window"] is not None
            mode = ("native", bool(settings.get("circular"))) if windowed else (None, False)
            self.windows.value = next(label for label, value in WINDOW_MODES.items() if value == mode)
            if settings.get("stride"):
                self.stride.value = settings["stride"]

    # -- import / export -------------------------------------------------------------------------
    def export_png(self, path: str | Path | None = None) -> Path:
        """Save the last result as PNG with its layout and settings embedded (never overwrites)."""
        if self.result is None:
            raise RuntimeError("nothing to export yet: Generate first")
        target = unique_path(path or self.output_dir / f"mdwidgets-{time.strftime('%Y%m%d-%H%M%S')}.png")
        target.parent.mkdir(parents=True, exist_ok=True)
        save_png(self.result.image, target, self.result.layout, self.result.settings)
        self._say(f"Saved {target}")
        return target

    def export_layout(self, path: str | Path | None = None) -> Path:
        """Save the current layout as JSON (never overwrites)."""
        target = unique_path(path or self.output_dir / f"layout-{time.strftime('%Y%m%d-%H%M%S')}.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        self._layout.save(target)
        self._say(f"Saved {target}")
        return target

    def import_file(self, name: str, content: bytes) -> None:
        """Load a layout JSON or an mdwidgets PNG; on error the current layout stays."""
        try:
            if name.lower().endswith(".png"):
                layout, settings = read_png_metadata(io.BytesIO(content))
                self._apply_settings(settings)
            else:
                layout = Layout.from_json(content)
        except LayoutError as exc:
            self._say(f"Could not import {name}: {exc}", error=True)
            return
        self.selected = None
        self.layout = layout
        self._say(f"Imported {name}")

    def load_example(self, name: str) -> None:
        """Replace the layout with a shipped example (undoable; see ``python -m mdwidgets example``)."""
        self.selected = None
        self.layout = Layout.load(example_layouts()[name])
        self.example.value = EXAMPLE_PROMPT
        self._say(f"Loaded the example {name!r}; Ctrl+Z takes it back.")

    def _uploaded(self, change) -> None:
        for item in change["new"] or ():
            self.import_file(item["name"], bytes(item["content"]))

    def _say(self, message: str, error: bool = False) -> None:
        """Show a status line. Messages carry file names and values from files: always escaped."""
        if not message and self._autosave_failure:  # a failed autosave stays in view until one succeeds
            message, error = self._autosave_failure, True
        colour = "#b00020" if error else "#333"
        text = html.escape(message, quote=False)
        self.status.value = f'<span style="color:{colour}">{text}</span>' if message else ""


class _Cancelled(Exception):
    """Raised from a comparison's step callback to stop all its cells."""


def _optional_number(text: str, kind):
    """Parse an optional number field: blank is ``None``; bad text comes back as a ValueError."""
    text = text.strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        return ValueError(f"{text!r} is not a{'n integer' if kind is int else ' number'}")
