"""The Studio's buttons, menus and layout-wide fields (size, background, negative, new box prompt).

:meth:`Toolbar.show` puts a layout's values in the fields without reporting them as edits; every
control reports what was asked through the Toolbar's hooks (:mod:`.hooks`), which the Studio wires.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path

import ipywidgets as w

from ..catalog import MODEL_EXAMPLES
from ..layout import OVERLAP_MODES, example_layouts
from .hooks import Hook
from .start import uploaded_files

EXAMPLE_PROMPT = "choose…"
SIZE_PRESETS = {
    "128×128": (128, 128), "256×256": (256, 256), "512×512": (512, 512), "768×512": (768, 512),
    "512×768": (512, 768), "1024×1024 (SDXL)": (1024, 1024), "1152×896 (SDXL)": (1152, 896),
    "896×1152 (SDXL)": (896, 1152), "1344×768 (SDXL)": (1344, 768), "512×128 (wide)": (512, 128),
    "1024×256 (wide)": (1024, 256), "2048×512 (panorama)": (2048, 512),
}
# Presets far wider than any model's native size switch the sampler to sliding windows (paper §4.1).
WINDOWED_PRESETS = {"512×128 (wide)", "1024×256 (wide)", "2048×512 (panorama)"}
DOWNLOAD_MAX_BYTES = 50 * 2**20  # larger files are only written on the server
CURSORS = ("crosshair", "pointer", "move", "ew-resize", "ns-resize", "nwse-resize", "nesw-resize")
# The panel's style sheet: crisp enlarged pixels, the canvas' cursors (BoxCanvas sets a class per
# cursor), FileUpload buttons without ipywidgets' "(0)" counter (the label is drawn by CSS), and the
# marks of a stale comparison.
STYLE = "<style>" + "".join(f".mdw-cursor-{c} {{cursor: {c}}}" for c in CURSORS) + """
.mdw-canvas canvas {image-rendering: pixelated}
.mdw-upload-import, .mdw-upload-file {font-size: 0 !important}
.mdw-upload-import i, .mdw-upload-file i {font-size: 13px}
.mdw-upload-import::after {content: " Import"; font-size: 13px}
.mdw-upload-file::after {content: " From file"; font-size: 13px}
.mdw-stale img {opacity: 0.45}
</style>"""


def shown(status, what: str, action: Callable) -> Callable:
    """``action`` for a button: a failure (a full disk, a read-only folder) is said in the panel
    instead of vanishing into the browser's console."""
    def run(*args) -> None:
        try:
            action(*args)
        except Exception as exc:  # noqa: BLE001 - any failure of a button is shown, the panel stays usable
            status.say(f"{what} failed: {type(exc).__name__}: {exc}", error=True)
    return run


def _button(description: str = "", icon: str = "", tooltip: str = "", **kw) -> w.Button:
    return w.Button(description=description, icon=icon, tooltip=tooltip, **kw)


def _field(description: str, value: str = "", placeholder: str = "") -> w.Text:
    return w.Text(value=value, description=description, placeholder=placeholder, continuous_update=False,
                  layout=w.Layout(width="auto"), style={"description_width": "110px"})


ACTIONS = ("generate", "cancel", "compare", "compare_methods", "redo_box", "delete", "undo", "redo", "save_png",
           "save_layout", "copy_code")  # the buttons, by attribute name: ``on_action`` reports which was pressed


class Toolbar:
    on_action = Hook()  #: (name): one of :data:`ACTIONS` was pressed
    on_overlay = Hook()  #: (on): the mask overlay was toggled
    on_import = Hook()  #: (name, content): a layout JSON or PNG was uploaded
    on_example = Hook()  #: (name): an example layout was picked
    on_size = Hook()  #: (width, height, windowed): a canvas size preset was picked (windowed: panorama-wide)
    on_field = Hook()  #: (key, value, put_back): background or negative prompt typed; put_back() undoes the text

    def __init__(self, model: str) -> None:
        self.model_label = w.HTML()
        self.size = w.Dropdown(options=list(SIZE_PRESETS), description="Canvas",
                               tooltip="the picture's size in pixels; boxes scale with it")
        self.generate = _button("Generate", "play", "render the layout with these settings", button_style="primary")
        self.cancel = _button("Cancel", "stop", "stop the render after the current step", disabled=True)
        self.compare = _button("Compare bootstrap", "th",
                               "the same seed at bootstrap 0, 10%, 20%, 40% of the steps and the slider's",
                               layout=w.Layout(width="max-content"))
        self.compare_methods = _button("Compare methods", "columns",
                                       "the same seed by fusion, fusion without bootstrap, regional attention and the "
                                       "hybrid, each with its UNet rows and seconds per step",
                                       layout=w.Layout(width="max-content"))
        self.delete = _button("Delete box", "trash", "delete the selected box (Delete key on the canvas)",
                              disabled=True)
        self.redo_box = _button("Redo selected", "refresh", "render the selected box again on the last result "
                                "(a new seed, its current prompt), keeping the rest of the picture")
        self.undo = _button(icon="undo", tooltip="undo (Ctrl+Z)", disabled=True, layout=w.Layout(width="40px"))
        self.redo = _button(icon="repeat", tooltip="redo (Ctrl+Shift+Z)", disabled=True, layout=w.Layout(width="40px"))
        self.overlay = w.Checkbox(False, description="Mask overlay", indent=False, layout=w.Layout(width="auto"),
                                  tooltip="tint each region's area on the picture")
        self._file_widgets(model)
        self.background = _field("Background", placeholder="what fills the rest of the canvas")
        self.negative = _field("Negative", placeholder="optional, for every prompt")
        self.new_prompt = _field("New box prompt", "a red circle")
        self.overlap = w.Dropdown(options=OVERLAP_MODES, description="Overlap",
                                  tooltip="where regions overlap: average (they share it, by strength) or "
                                          "layers (later regions on top, like paint layers)")
        self._showing = False
        self._report()

    def _file_widgets(self, model: str) -> None:
        """Save, import, copy as code, the examples and the download link."""
        self.save_png = _button("Save PNG", "download", "save the picture with its layout and settings inside",
                                disabled=True)
        self.save_layout = _button("Save layout", "download", "save the boxes and prompts as JSON")
        self.copy_code = _button("Copy as code", "code", "the Python script that renders this layout and these "
                                 "settings with compose()")
        self.code_view = w.Textarea(layout=w.Layout(width="100%", height="180px", display="none"))
        self.code_view.add_class("mdw-code")
        self.upload = w.FileUpload(accept=".json,.png", multiple=False, description="Import",
                                   tooltip="open a layout JSON or an mdwidgets PNG (its settings too)")
        self.upload.add_class("mdw-upload-import")  # the style sheet hides ipywidgets' "(0)" file counter
        examples = [n for n in example_layouts() if n in MODEL_EXAMPLES.get(model, example_layouts())]
        self.example = w.Dropdown(options=[EXAMPLE_PROMPT, *examples], description="Example",
                                  tooltip="start from an example layout this model draws")
        self.download = w.HTML("")

    def rows(self, live: w.Widget) -> tuple[w.Widget, w.Widget, w.Widget]:
        """The run, edit and file rows of buttons."""
        return (w.HBox([self.generate, self.cancel, live], layout=w.Layout(flex_flow="row wrap")),
                w.HBox([self.delete, self.undo, self.redo, self.redo_box, self.compare, self.compare_methods],
                       layout=w.Layout(flex_flow="row wrap")),
                w.HBox([self.save_png, self.save_layout, self.upload, self.copy_code],
                       layout=w.Layout(flex_flow="row wrap")))

    def show(self, layout, model: str, edits) -> None:
        """Show ``layout``'s fields, the model's name and whether ``edits`` (an :class:`.edits.Edits`)
        can be undone or redone."""
        self._showing = True
        try:
            self.background.value, self.negative.value = layout.background, layout.negative_prompt
            self.overlap.value = layout.overlap
            size = (layout.width, layout.height)
            label = next((k for k, v in SIZE_PRESETS.items() if v == size), f"{size[0]}×{size[1]}")
            if label not in self.size.options:
                self.size.options = [*SIZE_PRESETS, label]
            self.size.value = label
            self.model_label.value = f"<b>Model:</b> {html.escape(str(model))}"
            self.undo.disabled, self.redo.disabled = not edits.undo_stack, not edits.redo_stack
        finally:
            self._showing = False

    def offer_download(self, path: Path) -> None:
        """A link that downloads ``path`` in the browser (the file is embedded in the page)."""
        data = path.read_bytes()
        if len(data) > DOWNLOAD_MAX_BYTES:
            self.download.value = ""
            return
        kind = "image/png" if path.suffix.lower() == ".png" else "application/json"
        name = html.escape(path.name)
        self.download.value = (f'<a download="{name}" href="data:{kind};base64,{base64.b64encode(data).decode()}" '
                               f'class="mdw-download">⬇ download {name}</a>')

    def _report(self) -> None:
        unless_showing = lambda fn: lambda change: None if self._showing else fn(change)  # noqa: E731
        for name in ACTIONS:
            getattr(self, name).on_click(lambda _, name=name: self.on_action.emit(name))
        self.overlay.observe(lambda c: self.on_overlay.emit(c["new"]), "value")
        self.upload.observe(lambda c: [self.on_import.emit(*f) for f in uploaded_files(c["new"])], "value")
        self.example.observe(lambda c: c["new"] != EXAMPLE_PROMPT and self.on_example.emit(c["new"]), "value")
        self.size.observe(unless_showing(lambda c: c["new"] in SIZE_PRESETS and self.on_size.emit(
            *SIZE_PRESETS[c["new"]], c["new"] in WINDOWED_PRESETS)), "value")
        for field, key in ((self.background, "background"), (self.negative, "negative_prompt"),
                           (self.overlap, "overlap")):
            field.observe(unless_showing(lambda c, k=key, f=field: self.on_field.emit(
                k, c["new"], lambda: self._put_back(f, c["old"]))), "value")

    def show_code(self, code: str) -> None:
        self.code_view.value = code
        self.code_view.layout.display = None

    def busy(self, running: bool) -> None:
        """Generate and Compare wait while a run goes; Cancel stops it."""
        self.generate.disabled = self.compare.disabled = self.compare_methods.disabled = running
        self.cancel.disabled = not running

    def _put_back(self, field: w.Widget, text: str) -> None:
        self._showing = True
        field.value = text
        self._showing = False


def assemble(studio) -> w.Widget:
    """The panel: the canvas with the status line, the layout's fields and the region rows under it
    (together on a 1366×768 screen), the controls beside it; then the code, the comparison, the
    negative prompt and the history."""
    t, c, tools = studio.toolbar, studio.controls, studio.painting.tools
    run_row, edit_row, file_row = t.rows(w.HBox([c.live, studio.rendering.live_note],
                                                 layout=w.Layout(align_items="center")))
    side = w.VBox([t.model_label, t.size, c.widget, studio.start.widget, run_row,
                   w.HBox([studio.status.progress, studio.status.label]),
                   edit_row, file_row, studio.painting.files, t.overlap, t.example, t.download],
                  layout=w.Layout(flex="0 0 360px", min_width="0", overflow="hidden"))
    side.add_class("mdw-controls")
    hint = w.HTML("<b>Regions</b> — drag to draw a box (inside others too), click to select, drag it or its "
                  "handles; B paints a mask. The list is the stacking order")
    views = w.HBox([studio.boxes.zoom, t.overlay, tools.latent, tools.size], layout=w.Layout(flex_flow="row wrap"))
    canvas = w.VBox([studio.boxes.widget, tools.buttons, views, studio.status.line,
                     t.background, t.new_prompt, hint, studio.regions.widget],
                    layout=w.Layout(flex="1 1 400px", min_width="0"))
    style = w.HTML(STYLE, layout=w.Layout(display="none"))
    top = w.HBox([canvas, side], layout=w.Layout(align_items="flex-start", flex_flow="row wrap"))
    return w.VBox([style, studio.offer.button, top, t.code_view, studio.rendering.comparison_box, t.negative,
                   studio.history.widget])
