"""The Studio: draw boxes, give prompts, render with a live preview — in a notebook.

It wires small parts one way: the :class:`BoxCanvas` and :class:`RegionList` report edits, the
Studio turns each into a new :class:`~mdwidgets.Layout` (undoable, autosaved) and shows it back;
:class:`RunControls` make the :class:`~mdwidgets.Settings` and :class:`StartControls` what a render
starts from (noise, or a picture and a strength); a :class:`Runner` renders in a thread and the step
events come back as previews and progress.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import traitlets
from PIL import Image

from .. import boxedit
from ..catalog import BUILTIN_MODELS, DEFAULT_MODEL, default_canvas, family_from_name
from ..errors import InputError
from ..files import save_png
from ..layout import Layout, Region, example_layouts
from ..pipelines.facts import model_family, model_name, vae_scale_factor
from ..pipelines.loading import load_pipeline
from ..render.preview import outline_colours, overlay_regions
from ..sampling.prompts import prompt_notes
from ..sampling.sampler import ComposeResult
from ..settings import Settings
from .boxcanvas import GRID, BoxCanvas, shortcut
from .code import script
from .controls import RunControls
from .edits import Autosave, Edits, SavedWork
from .exports import canvas_note, export, export_path, read_import
from .history import HistoryStrip
from .maskview import SCALE, latent_view
from .paint import PaintError, Stroke, free_slot, mask_from_image, mask_png, paint_layout, place_region, reorder
from .painting import Painting
from .recovery import FrontendCheck, RestoreOffer
from .regionlist import RegionList
from .rendering import Rendering
from .results import Results
from .start import StartControls
from .status import StatusBar
from .toolbar import EXAMPLE_PROMPT, Toolbar, assemble, shown


class Studio(traitlets.HasTraits):
    """A notebook panel that edits a :class:`Layout` and renders it with MultiDiffusion.

    Args:
        pipe: a loaded pipeline; ``None`` loads ``model`` on the first Generate.
        layout: the starting layout (default: an empty canvas of the model's native size, its regions
            stacked like paint layers: ``overlap="layers"``).
        model: model name shown and loaded when ``pipe`` is ``None``.
        output_dir: where exports go (files are never overwritten).
        display_width, display_height: the canvas' largest on-screen size in CSS px at zoom "fit"
            (the defaults show the built-in model's 128×128 at 3×, 384 px, so that the canvas and
            the region rows fit together on a 1366×768 screen).
        autosave_dir: where the work is saved: the layout after every edit, the settings and the last
            finished picture (files named after the Studio); default ``$MDWIDGETS_AUTOSAVE_DIR`` or
            ``~/.mdwidgets/autosave``. A new Studio without a ``layout`` that finds earlier work there
            offers it (a *Restore work from 12:31* button: :meth:`restore_work`);
            :meth:`restore` brings the newest back directly. ``autosave=False``: none.
        history_limit: results kept in the history strip (oldest dropped first).
        live: render after every edit; default on for the built-in models.

    State, as traits a notebook can observe (``studio.observe(fn, "layout")``) and link:
    ``studio.layout`` both ways (edits update it; assigning a Layout redraws the panel, undoably),
    ``studio.settings`` both ways (the controls' :class:`~mdwidgets.Settings`; assigning one sets
    the controls), ``studio.result`` the last finished :class:`ComposeResult` (read-only).

    *Start from image*: :meth:`start_from` (the *From result* button, or an uploaded picture via
    *From file*) makes Generate and live renders image-to-image — the picture noised to
    ``strength`` (the *Strength* slider), as ``compose(init_image=, strength=)`` — until
    :meth:`start_from_noise` (*From noise*). A picture of another size is resized to the canvas
    with a note naming both sizes. The start is a setting like the seed: undo/redo (layout edits)
    leave it alone; a history entry remembers its own start (its label says it, restoring it
    brings it back); a result's settings and its PNG name the start picture and the strength,
    not its pixels.
    """

    def __init__(self, pipe=None, layout: Layout | None = None, *, model: str | None = None,
                 output_dir: str | Path = "mdwidgets-output", display_width: int = 640, display_height: int = 400,
                 autosave_dir: str | Path | None = None, autosave: bool = True, history_limit: int = 30,
                 live: bool | None = None) -> None:
        super().__init__()
        _enable_colab_widgets()
        self._pipe = pipe
        self.model, self.family = _model_and_family(pipe, model)
        self.output_dir = Path(output_dir)
        self.history = HistoryStrip(history_limit)
        self.edits, self.autosave = Edits(), (Autosave(autosave_dir) if autosave else None)
        self.results = Results(self.history, self.autosave)
        # a box drawn over another is expected on top: a new Studio layout stacks its regions (README)
        self._layout = layout or Layout(*[default_canvas(self.family)] * 2, "a blue background",
                                        overlap="layers")  # undo's state
        self._slots = list(range(len(self._layout.regions)))  # each region's colour: kept when others go
        self.status = StatusBar()
        self.boxes = BoxCanvas(self._layout.width, self._layout.height, display_width=display_width,
                               display_height=display_height)
        self.regions = RegionList()
        self.controls = RunControls(self.family, live=self.model in BUILTIN_MODELS if live is None else live)
        self.start = StartControls()
        self.toolbar = Toolbar(self.model)
        self.painting = Painting(self.boxes)  # brush, eraser, ellipse, fill; mask files
        self.rendering = Rendering(self.status, self.results, lambda: self.pipe, self.model,
                                   default_canvas(self.family))
        self.frontend = FrontendCheck(lambda: self.boxes.client_seen, lambda text: self.status.say(text, error=True))
        self.offer = RestoreOffer(Autosave.newest_work(self.autosave.folder) if self.autosave and not layout else None)
        _wire(self)
        self.widget = assemble(self)
        self._show(self._layout, resized=False)
        self.selected: int | None = None
        self.set_trait("layout", self._layout), self.set_trait("settings", self.controls.settings)

    # -- state -----------------------------------------------------------------------------------
    layout = traitlets.Instance(Layout)  #: the layout shown and edited
    settings = traitlets.Instance(Settings)  #: the settings the controls show
    result = traitlets.Instance(ComposeResult, allow_none=True, read_only=True)  #: the last finished result

    @traitlets.observe("layout")
    def _layout_assigned(self, change) -> None:
        if change["new"] is not self._layout:  # assigned from outside: an undoable edit
            layout = change["new"]
            self._commit(layout, self._slots if len(layout.regions) == len(self._slots)
                         else list(range(len(layout.regions))))

    @traitlets.observe("settings")
    def _settings_assigned(self, change) -> None:
        if change["new"] != self.controls.settings:  # assigned from outside: the controls show it
            self.controls.apply(change["new"])
            self.controls.on_change.emit()  # which sets the trait to what the controls made of it

    @property
    def selected(self) -> int | None:
        return self.boxes.selected

    @selected.setter
    def selected(self, index: int | None) -> None:
        self.boxes.selected = self.regions.selected = index
        self.toolbar.delete.disabled = index is None

    @property
    def pipe(self):
        if self._pipe is None:
            self.status.say(f"Loading {self.model}…")
            self._pipe = load_pipeline(self.model)
        return self._pipe

    def _repr_mimebundle_(self, **kwargs):
        return self.frontend.displayed(self.widget._repr_mimebundle_(**kwargs))

    def _commit(self, layout: Layout, slots: list[int], render: bool = True) -> None:
        """Every layout edit ends here: undoable, autosaved, shown, and rendered in live mode
        (``render=False``: a restore that brings its own picture)."""
        if layout == self._layout and slots == self._slots:
            return
        self.edits.record((self._layout, self._slots))
        self._set(layout, slots)
        if render:
            self._edited()

    def _edited(self) -> None:
        """The layout, settings or start changed: live mode renders them."""
        self.rendering.edited(self._layout, self.settings, self.start.start, self.controls.live.value)

    def _set(self, layout: Layout, slots: list[int]) -> None:
        resized = (layout.width, layout.height) != self.boxes.size
        self._layout, self._slots = layout, slots
        self.layout = layout
        if self.selected is not None and self.selected >= len(layout.regions):
            self.selected = None
        if self.autosave is not None:
            self.autosave.save(layout)
            self.status.keep(self.autosave.failure)
        self._show(layout, resized)

    def _show(self, layout: Layout, resized: bool) -> None:
        if resized:
            self.boxes.resize(layout.width, layout.height)
            self.start.show(self.start.start, (layout.width, layout.height))  # its note names the new size
        colours = outline_colours([r.prompt for r in layout.regions], self._slots, layout.background)
        with self.boxes.hold_trait_notifications():
            self.boxes.boxes, self.boxes.colours = [tuple(r.bounds) for r in layout.regions], colours
            self.boxes.masks = [r.mask for r in layout.regions]
        self.regions.canvas, self.regions.colours, self.regions.regions = self.boxes.size, colours, layout.regions
        self.toolbar.show(layout, self.model, self.edits)

    # -- edits -----------------------------------------------------------------------------------
    def undo(self) -> bool:
        """Take back the last layout edit (draw, move, resize, delete, prompt, canvas size, import, a paint
        stroke, fill or erase, a reorder, a strength or feather change).
        Ctrl+Z on the canvas. Returns whether there was one."""
        return self._replay(self.edits.undo((self._layout, self._slots)))

    def redo(self) -> bool:
        """Do again what :meth:`undo` took back (Ctrl+Shift+Z or Ctrl+Y on the canvas)."""
        return self._replay(self.edits.redo((self._layout, self._slots)))

    def _replay(self, state) -> bool:
        if state is not None:
            self._set(*state)
            self._edited()
        return state is not None

    def select(self, index: int | None) -> None:
        """Select region ``index`` (``None``: nothing), on the canvas and in the list."""
        self.selected = index

    def delete(self, index: int) -> None:
        regions, slots = list(self._layout.regions), list(self._slots)
        del regions[index], slots[index]
        if self.selected is not None:
            self.selected = None if self.selected == index else self.selected - (self.selected > index)
        self._commit(self._layout.with_regions(regions), slots)

    def edit_region(self, index: int, **changes: Any) -> None:
        """Change fields of region ``index`` (raises ``LayoutError`` and keeps the layout on bad values)."""
        regions = list(self._layout.regions)
        regions[index] = regions[index].replace(**changes)
        self._commit(self._layout.with_regions(regions), self._slots)

    def paint(self, stroke: Stroke) -> None:
        """A brush, eraser, ellipse or fill stroke (image pixels) into the selected region (a box becomes a
        mask) or a new one with the *New box prompt*; one undo step (:func:`_paint`)."""
        _paint(self, stroke)

    def import_mask(self, name: str, content: bytes) -> None:
        """An image file as the selected region's mask (nothing selected: a new region's); said in the panel."""
        _import_mask(self, name, content)

    def export_mask(self, index: int | None = None, path: str | Path | None = None) -> Path:
        """Save region ``index``'s mask (default: the selected one) as a greyscale PNG, white = inside
        (never overwrites; also offered as a download)."""
        return _export_mask(self, index, path)

    def _drawn(self, box: tuple) -> None:
        region = Region(_new_prompt(self), box=box)
        self._commit(self._layout.with_regions([*self._layout.regions, region]), [*self._slots, free_slot(self._slots)])
        self.selected = len(self._layout.regions) - 1

    def resize(self, width: int, height: int) -> None:
        """Change the canvas size, scaling every box (and mask) with it (a warning above the
        model's native size without windows: :func:`.exports.canvas_note`)."""
        self._commit(boxedit.scale_layout(self._layout, width, height, GRID), self._slots)
        windowed = self.controls.windows.value != "whole canvas"
        self.status.say(*canvas_note(self.model, default_canvas(self.family), width, height, windowed))

    def _key(self, key: str, shift: bool, ctrl: bool, meta: bool) -> None:
        action = shortcut(key, shift, ctrl or meta)
        if action == "delete" and self.selected is not None:
            self.delete(self.selected)
        elif action in ("undo", "redo"):
            getattr(self, action)()

    # -- files -----------------------------------------------------------------------------------
    def import_file(self, name: str, content: bytes) -> None:
        """Load a layout JSON or an mdwidgets PNG (its settings and picture too); on error nothing changes."""
        try:
            layout, settings, picture = read_import(name, content)
        except ValueError as exc:
            return self.status.say(str(exc), error=True)
        changed = self._restore(layout, Settings.from_dict(settings) if settings else None, None)
        self.rendering.image = picture  # a PNG shows its picture; a JSON layout an empty canvas
        self.rendering.show_picture()
        self.status.say(f"Imported {name}{self.start.imported(settings)}" + "".join(f"; {c}" for c in changed))

    def export_png(self, path: str | Path | None = None) -> Path:
        """Save the last result as PNG with its layout and settings embedded (never overwrites);
        in a browser the panel also offers it as a download."""
        if (r := self.result) is None:
            raise RuntimeError("nothing to export yet: Generate first")
        return self._export(path or export_path(self.output_dir, "mdwidgets", ".png"),
                            lambda target: save_png(r.image, target, r.layout, r.settings))

    def export_layout(self, path: str | Path | None = None) -> Path:
        """Save the current layout as JSON (never overwrites; also offered as a download)."""
        return self._export(path or export_path(self.output_dir, "layout", ".json"), self._layout.save)

    def _export(self, path: str | Path, write) -> Path:
        return export(path, write, offer=self.toolbar.offer_download, say=self.status.say)

    def to_code(self) -> str:
        """The Python that renders the current layout and settings with :func:`~mdwidgets.compose`
        (the *Copy as code* button shows it)."""
        model = None if self._pipe is not None and model_name(self._pipe) is None else self.model  # user's pipe
        return script(self._layout, self.settings, model, getattr(self.start.start, "label", None))

    def load_example(self, name: str) -> None:
        """Replace the layout with a shipped example (undoable; see ``python -m mdwidgets example``)."""
        self._restore(Layout.load(example_layouts()[name]), None, None)
        self.toolbar.example.value = EXAMPLE_PROMPT
        self.status.say(f"Loaded the example {name!r}; Ctrl+Z takes it back.")

    @classmethod
    def restore(cls, pipe=None, *, autosave_dir: str | Path | None = None, **kwargs: Any) -> Studio:
        """A new Studio with the newest autosaved work (:meth:`restore_work`), e.g. after a kernel
        restart. (A Studio autosaves from its first edit: an untouched one never hides saved work.)"""
        work = Autosave.newest(autosave_dir)
        return cls(pipe, work.layout, autosave_dir=autosave_dir, **kwargs).restore_work(work)

    def restore_work(self, work: SavedWork) -> Studio:
        """Bring back autosaved work (the *Restore work* button's): its layout (undoable), settings,
        seed and last picture as ``studio.result``; nothing re-renders. Returns the Studio."""
        self.offer.hide()
        self._restore(work.layout, work.settings, work.result)
        self.status.say(f"Restored the work saved at {work.when} ({work.path.name}); Ctrl+Z takes the layout back.")
        return self

    def _restore(self, layout: Layout, settings: Settings | None, result: ComposeResult | None,
                 start: Any = "unchanged") -> list[str]:
        """Show ``layout`` (undoable), ``settings`` and ``result``'s picture; returns the settings changed."""
        self.rendering.runner.cancel()  # a live render of the layout before must not replace the picture
        self.selected = None
        changed = self.controls.apply(settings) if settings is not None else []  # reports no change: saved here
        self.set_trait("settings", self.controls.settings)
        changed and self.autosave is not None and self.autosave.save_settings(self.settings)
        if start != "unchanged":  # a history entry's start (None: noise)
            self.start.show(start, (layout.width, layout.height))
        slots = self._slots if len(layout.regions) == len(self._slots) else list(range(len(layout.regions)))
        self._commit(layout, slots, render=result is None)
        if result is not None:
            self.results.show(result, save=False)
            self.rendering.show_picture(result.image)
        return changed

    # -- rendering (see rendering.py) ------------------------------------------------------------
    def generate(self, wait: bool = False):
        """Render the layout in a background thread (ignored while one runs); ``wait``: block until done."""
        return self.rendering.generate(self._layout, self.settings, self.start.start, wait)

    def compare_bootstrap(self, wait: bool = False):
        """The same seed at bootstrap 0, 10%, 20%, 40% of the steps and the slider's value, scored."""
        return self.rendering.compare(self._layout, self.settings, wait)

    def compare_methods(self, wait: bool = False):
        """The same seed by each region method (fusion, fusion at bootstrap 0, attention, hybrid), each cell
        with its UNet rows and seconds per step and its scores (:func:`~mdwidgets.render.figures.compare_methods`)."""
        return self.rendering.compare(self._layout, self.settings, wait, what="methods")

    def redo_selected(self, wait: bool = False):
        """Render the selected box again on the last result — a new seed, its current prompt and
        fields — keeping every other pixel (:mod:`mdwidgets.sampling.img2img`); the new result joins the history."""
        return self.rendering.redo_selected(self._layout, self.settings, self.result, self.selected, wait)

    def start_from(self, image: Image.Image | None = None, strength: float | None = None,
                   name: str = "an image") -> None:
        """Generate (and live mode) start from ``image`` noised to ``strength`` (0 < s <= 1; default
        the slider's) instead of from noise: image-to-image. ``image`` ``None``: the last result's
        picture (a snapshot: later results do not change it)."""
        self.status.say(*self.start.pick(image, strength, name, self.result, (self._layout.width, self._layout.height)))

    def start_from_noise(self) -> None:
        """Generate starts from noise again (text-to-image)."""
        self.status.say(*self.start.pick_noise((self._layout.width, self._layout.height)))

    def cancel(self) -> None:
        """Stop the current run after the step in progress."""
        self.rendering.runner.cancel()

    def restore_result(self, result: ComposeResult) -> None:
        """Bring back a result's layout, settings as they were asked for (a scheduler left to the
        model stays so), start (if it is in the history) and image; nothing re-renders."""
        settings = self.history.asked_of(result) or Settings.from_dict(result.settings)
        self._restore(result.layout, settings, result, start=self.history.origin_of(result, self.start.start))


def _wire(studio: Studio) -> None:
    """The Studio alone connects its parts: each part reports intents (hooks), the Studio acts on them."""
    s, t = studio, studio.toolbar
    s.boxes.on_draw(s._drawn), s.boxes.on_select(s.select), s.boxes.on_key(s._key)
    s.regions.on_edit(lambda i, changes: s.edit_region(i, **changes))
    s.regions.on_select(s.select), s.regions.on_delete(s.delete)
    _wire_masks(s)
    s.regions.prompt_note = lambda prompt: prompt_notes(getattr(s._pipe, "tokenizer", None), prompt)
    s.history.on_restore(s.restore_result)
    s.results.on_result(lambda result: (s.set_trait("result", result), setattr(t.save_png, "disabled", False)))
    s.controls.on_change(lambda: s.set_trait("settings", s.controls.settings))
    s.controls.on_change(s._edited)
    s.controls.on_change(lambda: s.autosave and s.autosave.save_settings(s.settings))
    s.controls.live.observe(lambda c: (s.rendering.live_toggled(c["new"]), c["new"] and s._edited()), "value")
    s.offer.on_restore(s.restore_work)
    s.start.on_change(s._edited)
    s.start.on_result_picked(s.start_from), s.start.on_noise_picked(s.start_from_noise)
    s.start.on_image_picked(lambda image, name: s.start_from(image, name=name))
    s.start.on_problem(lambda text: s.status.say(text, error=True))
    s.rendering.on_picture(lambda image: _draw_picture(s, image))
    s.rendering.on_busy(t.busy)
    s.rendering.on_live_stopped(lambda: setattr(s.controls.live, "value", False))
    _wire_toolbar(s)


def _wire_masks(s: Studio) -> None:
    """Painting, moving, reordering and hiding regions (their masks too)."""
    s.boxes.on_change(lambda index, box: _place(s, index, box))
    s.regions.on_move(lambda index, to: _reorder(s, index, to))
    s.regions.observe(lambda c: setattr(s.boxes, "hidden", list(c["new"])), "hidden")
    # a region added or removed (or undone): every region shows again, no eye points at another one
    s.regions.observe(lambda c: len(c["old"]) != len(c["new"]) and setattr(s.regions, "hidden", []), "regions")
    s.painting.tools.latent.observe(lambda _: s.rendering.show_picture(), "value")
    s.painting.tools.new_colour = lambda: _new_colour(s)
    s.painting.on_paint(s.paint)
    s.painting.on_mask_file(s.import_mask)
    s.painting.on_save_mask(shown(s.status, "Save mask", lambda: s.export_mask()))


def _wire_toolbar(s: Studio) -> None:
    t = s.toolbar
    actions = {"generate": s.generate, "cancel": s.cancel, "compare": s.compare_bootstrap,
               "compare_methods": s.compare_methods, "redo_box": s.redo_selected,
               "delete": lambda: s.selected is not None and s.delete(s.selected), "undo": s.undo, "redo": s.redo,
               "save_png": s.export_png, "save_layout": s.export_layout,
               "copy_code": lambda: t.show_code(s.to_code())}
    t.on_action(lambda name: shown(s.status, getattr(t, name).description or name, lambda: actions[name]())())
    t.on_overlay(lambda on: s.rendering.show_picture())
    t.on_import(s.import_file)
    t.on_example(s.load_example)
    t.on_size(lambda width, height, windowed: _sized(s, width, height, windowed))
    t.on_field(lambda key, value, put_back: _field_typed(s, key, value, put_back))


def _sized(studio: Studio, width: int, height: int, windowed: bool) -> None:
    """A size preset: panorama-wide ones also turn sliding windows on (paper §4.1)."""
    if windowed and studio.controls.windows.value == "whole canvas":
        studio.controls.windows.value = "native windows"
    studio.resize(width, height)


def _field_typed(studio: Studio, key: str, value: str, put_back) -> None:
    try:
        studio.layout = studio.layout.replace(**{key: value})
    except InputError as exc:
        studio.status.say(f"Not changed: {exc}", error=True)
        put_back()


def _draw_picture(studio: Studio, image: Image.Image | None) -> None:
    """A preview or result under the boxes, with the mask overlay if it is on, or the masks as the sampler
    sees them (the latent view, a teaching view)."""
    if image is not None and studio.toolbar.overlay.value:
        image = overlay_regions(image, studio.layout, colours=studio.boxes.colours)
    if studio.painting.tools.latent.value:  # at the loaded model's VAE factor (before loading: SD's, 8)
        scale = vae_scale_factor(studio._pipe.vae) if studio._pipe is not None else SCALE
        image = latent_view(studio.layout, studio.boxes.colours, scale, picture=image)
    studio.boxes.show_image(image)


def _new_prompt(studio: Studio) -> str:
    return studio.toolbar.new_prompt.value.strip() or "an object"


def _new_colour(studio: Studio) -> tuple[int, int, int]:
    """The colour a new region will get (its prompt's, or the next free one): its stroke is drawn in it."""
    layout, slots = studio.layout, studio._slots
    return outline_colours([*layout.prompts[1:], _new_prompt(studio)], [*slots, free_slot(slots)],
                           layout.background)[-1]


def _paint(studio: Studio, stroke: Stroke) -> None:
    try:
        layout, slots, index = paint_layout(studio.layout, studio._slots, studio.selected, stroke, _new_prompt(studio))
    except PaintError as exc:
        return studio.status.say(str(exc), error=True)
    studio._commit(layout, slots)
    studio.selected = index
    if index is None and stroke.tool == "eraser":
        studio.status.say("Erased the whole region: it is removed; Ctrl+Z brings it back.")


def _place(studio: Studio, index: int, box: tuple) -> None:
    """Region ``index`` dragged (or resized) to ``box`` on the canvas: a mask moves with it."""
    layout = place_region(studio.layout, index, box)
    if layout == studio.layout:
        return studio.boxes.draw_boxes()  # nothing left on the canvas: the outline goes back
    studio._commit(layout, studio._slots)


def _reorder(studio: Studio, index: int, to: int) -> None:
    """Move region ``index`` to place ``to`` in the list (the stacking order); one undo step."""
    layout, slots = reorder(studio.layout, studio._slots, index, to)
    hidden, selected = list(studio.regions.hidden), studio.selected
    studio._commit(layout, slots)
    order = list(range(len(layout.regions)))
    order.insert(to, order.pop(index))  # order[new place] = old index
    studio.regions.hidden = [order.index(i) for i in hidden]
    studio.selected = None if selected is None else order.index(selected)


def _import_mask(studio: Studio, name: str, content: bytes) -> None:
    layout = studio.layout
    try:
        mask, note = mask_from_image(name, content, (layout.width, layout.height))
    except PaintError as exc:
        return studio.status.say(str(exc), error=True)
    regions, slots, index = list(layout.regions), list(studio._slots), studio.selected
    if index is None:
        regions.append(Region(_new_prompt(studio), mask=mask))
        slots.append(free_slot(slots))
        index = len(regions) - 1
    else:
        regions[index] = regions[index].replace(mask=mask)
    studio._commit(layout.with_regions(regions), slots)
    studio.selected = index
    studio.status.say(f"Region {index + 1}: {note}; Ctrl+Z takes it back.")


def _export_mask(studio: Studio, index: int | None, path: str | Path | None) -> Path:
    index = studio.selected if index is None else index
    if index is None:
        raise RuntimeError("select a region first: its mask is saved")
    layout = studio.layout
    data = mask_png(layout.regions[index], (layout.width, layout.height))
    return export(path or export_path(studio.output_dir, f"mask-{index + 1}", ".png"), lambda p: p.write_bytes(data),
                  offer=studio.toolbar.offer_download, say=studio.status.say)


def _model_and_family(pipe, model: str | None) -> tuple[str, str]:
    """The model's name as shown, and its family (whose defaults the controls take)."""
    name = model or model_name(pipe) or ("your pipeline" if pipe is not None else DEFAULT_MODEL)
    return name, model_family(pipe) if pipe is not None else family_from_name(name)


def _enable_colab_widgets() -> None:
    try:
        from google.colab import output  # type: ignore[import-not-found]
    except ImportError:
        return
    output.enable_custom_widget_manager()
