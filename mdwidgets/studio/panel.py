"""The Studio: draw boxes, give prompts, render with a live preview — in a notebook.

It wires small parts one way: the :class:`BoxCanvas` and :class:`RegionList` report edits, the
Studio turns each into a new :class:`~mdwidgets.Layout` (undoable, autosaved) and shows it back;
:class:`RunControls` make the :class:`~mdwidgets.Settings` and :class:`StartControls` what a render
starts from (noise, or a picture and a strength); a :class:`Runner` renders in a thread and the step
events come back as previews and progress.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import ipywidgets as w
from PIL import Image

from .. import boxedit
from ..catalog import BUILTIN_MODELS, DEFAULT_MODEL, default_canvas, family_from_name
from ..files import load_layout_bytes, save_png, unique_path
from ..layout import Layout, LayoutError, Region, example_layouts
from ..models import load_pipeline, model_family, model_name
from ..preview import region_colour
from ..prompts import truncation
from ..sampler import ComposeResult
from ..settings import Settings
from .boxcanvas import GRID, BoxCanvas
from .controls import RunControls
from .edits import Autosave, Edits, SavedWork, default_autosave_dir
from .history import HistoryStrip
from .regionlist import RegionList
from .rendering import Rendering
from .start import StartControls
from .status import StatusBar
from .toolbar import EXAMPLE_PROMPT, Toolbar, assemble


class Studio:
    """A notebook panel that edits a :class:`Layout` and renders it with MultiDiffusion.

    Args:
        pipe: a loaded pipeline; ``None`` loads ``model`` on the first Generate.
        layout: the starting layout (default: an empty canvas of the model's native size).
        model: model name shown and loaded when ``pipe`` is ``None``.
        output_dir: where exports go (files are never overwritten).
        display_width: the canvas' on-screen width in CSS px at zoom "fit".
        autosave_dir: where the work is saved: the layout after every edit, the settings and the last
            finished picture (files named after the Studio); default ``$MDWIDGETS_AUTOSAVE_DIR`` or
            ``~/.mdwidgets/autosave``. A new Studio without a ``layout`` that finds earlier work there
            offers it (a *Restore work from 12:31* button: :meth:`restore_work`);
            :meth:`restore` brings the newest back directly. ``autosave=False``: none.
        history_limit: results kept in the history strip (oldest dropped first).
        live: render after every edit; default on for the built-in models.

    ``studio.layout`` is the state both ways: edits update it, assigning a Layout redraws the
    panel. ``studio.result`` is the last finished :class:`ComposeResult`.

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
                 output_dir: str | Path = "mdwidgets-output", display_width: int = 640,
                 autosave_dir: str | Path | None = None, autosave: bool = True, history_limit: int = 30,
                 live: bool | None = None) -> None:
        _enable_colab_widgets()
        self._pipe = pipe
        self.model = model or model_name(pipe) or ("your pipeline" if pipe is not None else DEFAULT_MODEL)
        self.family = model_family(pipe) if pipe is not None else family_from_name(self.model)  # its defaults
        self.output_dir = Path(output_dir)
        self.history = HistoryStrip(history_limit)
        self.result: ComposeResult | None = None
        self.edits, self.autosave = Edits(), (Autosave(autosave_dir) if autosave else None)
        side = default_canvas(self.family)
        self._layout = layout or Layout(side, side, "a blue background")
        self._slots = list(range(len(self._layout.regions)))  # each region's colour: kept when others go
        self.status = StatusBar()
        self.boxes = BoxCanvas(self._layout.width, self._layout.height, display_width=display_width)
        self.regions = RegionList()
        self.controls = RunControls(self.family)
        self.start = StartControls()
        self.toolbar = Toolbar(self.model)
        self.rendering = Rendering(self)
        self.controls.live.value = self.model in BUILTIN_MODELS if live is None else live
        self.saved_work = Autosave.newest_work(self.autosave.folder) if self.autosave and layout is None else None
        self.restore_offer = w.Button(description=f"Restore work from {self.saved_work.when}" if self.saved_work
                                      else "", icon="history", button_style="warning",
                                      tooltip="bring back the layout, settings and last picture of an earlier "
                                      "Studio (e.g. before a kernel restart)",
                                      layout=w.Layout(width="max-content", display=None if self.saved_work else "none"))
        self._wire()
        self.widget = assemble(self)
        self._show(self._layout, resized=False)
        self.selected: int | None = None

    # -- state -----------------------------------------------------------------------------------
    @property
    def layout(self) -> Layout:
        return self._layout

    @layout.setter
    def layout(self, layout: Layout) -> None:
        if not isinstance(layout, Layout):
            raise TypeError(f"studio.layout must be a mdwidgets.Layout, not {type(layout).__name__}")
        slots = self._slots if len(layout.regions) == len(self._slots) else list(range(len(layout.regions)))
        self._commit(layout, slots)

    @property
    def selected(self) -> int | None:
        return self.boxes.selected

    @selected.setter
    def selected(self, index: int | None) -> None:
        self.boxes.selected = self.regions.selected = index
        self.toolbar.delete.disabled = index is None

    @property
    def settings(self) -> Settings:
        """The settings the controls show."""
        return self.controls.settings

    @property
    def pipe(self):
        if self._pipe is None:
            self.status.say(f"Loading {self.model}…")
            self._pipe = load_pipeline(self.model)
        return self._pipe

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _commit(self, layout: Layout, slots: list[int], render: bool = True) -> None:
        """Every layout edit ends here: undoable, autosaved, shown, and rendered in live mode
        (``render=False``: a restore that brings its own picture)."""
        if layout == self._layout and slots == self._slots:
            return
        self.edits.record((self._layout, self._slots))
        self._set(layout, slots)
        if render:
            self.rendering.edited()

    def _set(self, layout: Layout, slots: list[int]) -> None:
        resized = (layout.width, layout.height) != self.boxes.size
        self._layout, self._slots = layout, slots
        if self.selected is not None and self.selected >= len(layout.regions):
            self.selected = None
        if self.autosave is not None:
            self.autosave.save(layout)
            if self.status.sticky != self.autosave.failure:
                self.status.sticky = self.autosave.failure
                self.status.say("")
        self._show(layout, resized)

    def _show(self, layout: Layout, resized: bool) -> None:
        if resized:
            self.boxes.resize(layout.width, layout.height)
            self.start.show(self.start.start, (layout.width, layout.height))  # its note names the new size
        colours = [region_colour(slot) for slot in self._slots]
        with self.boxes.hold_trait_notifications():
            self.boxes.boxes, self.boxes.colours = [tuple(r.bounds) for r in layout.regions], colours
        self.regions.colours, self.regions.regions = colours, layout.regions
        self.toolbar.show(layout, self.model, can_undo=bool(self.edits.undo_stack),
                          can_redo=bool(self.edits.redo_stack))

    # -- edits -----------------------------------------------------------------------------------
    def undo(self) -> bool:
        """Take back the last layout edit (draw, move, resize, delete, prompt, canvas size, import).
        Ctrl+Z on the canvas. Returns whether there was one."""
        return self._replay(self.edits.undo((self._layout, self._slots)))

    def redo(self) -> bool:
        """Do again what :meth:`undo` took back (Ctrl+Shift+Z or Ctrl+Y on the canvas)."""
        return self._replay(self.edits.redo((self._layout, self._slots)))

    def _replay(self, state) -> bool:
        if state is None:
            return False
        self._set(*state)
        self.rendering.edited()
        return True

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

    def _drawn(self, box: tuple) -> None:
        prompt = self.toolbar.new_prompt.value.strip() or "an object"
        free = min(set(range(len(self._slots) + 1)) - set(self._slots))
        self._commit(self._layout.with_regions([*self._layout.regions, Region(prompt, box=box)]), [*self._slots, free])
        self.selected = len(self._layout.regions) - 1

    def _moved(self, index: int, box: tuple) -> None:
        if self._layout.regions[index].mask is None:  # a mask region can be selected, not dragged
            self.edit_region(index, box=box)
        else:
            self.boxes.draw_boxes()

    def resize(self, width: int, height: int) -> None:
        """Change the canvas size, scaling every box (and mask) with it."""
        self._commit(boxedit.scale_layout(self._layout, width, height, GRID), self._slots)

    def _key(self, key: str, shift: bool, ctrl: bool, meta: bool) -> None:
        if key in ("Delete", "Backspace") and self.selected is not None:
            self.delete(self.selected)
        elif (ctrl or meta) and key.lower() == "z" and not shift:
            self.undo()
        elif (ctrl or meta) and key.lower() in ("z", "y"):  # Ctrl+Shift+Z or Ctrl+Y
            self.redo()

    def _prompt_note(self, prompt: str) -> str | None:
        tokenizer = getattr(self._pipe, "tokenizer", None)  # only once a model is loaded
        return truncation(tokenizer, prompt) if tokenizer is not None and prompt else None

    # -- files -----------------------------------------------------------------------------------
    def import_file(self, name: str, content: bytes) -> None:
        """Load a layout JSON or an mdwidgets PNG (its settings and picture too); on error nothing changes."""
        try:
            layout, settings = load_layout_bytes(name, content)
            picture = Image.open(io.BytesIO(content)).convert("RGB") if name.lower().endswith(".png") else None
        except LayoutError as exc:  # it names the file
            return self.status.say(f"Could not import {exc}", error=True)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:  # the PNG's pixels
            return self.status.say(f"Could not import {name}: {exc}", error=True)
        self.selected = None
        self.layout = layout
        if settings:
            self.controls.apply(Settings.from_dict(settings))
        self.rendering.image = picture  # a PNG shows its picture; a JSON layout an empty canvas
        self.rendering.show_picture()
        self.status.say(f"Imported {name}{self.start.imported(settings)}")

    def export_png(self, path: str | Path | None = None) -> Path:
        """Save the last result as PNG with its layout and settings embedded (never overwrites);
        in a browser the panel also offers it as a download."""
        if self.result is None:
            raise RuntimeError("nothing to export yet: Generate first")
        r = self.result
        return self._export(path or self.output_dir / f"mdwidgets-{time.strftime('%Y%m%d-%H%M%S')}.png",
                            lambda target: save_png(r.image, target, r.layout, r.settings))

    def export_layout(self, path: str | Path | None = None) -> Path:
        """Save the current layout as JSON (never overwrites; also offered as a download)."""
        return self._export(path or self.output_dir / f"layout-{time.strftime('%Y%m%d-%H%M%S')}.json",
                            self._layout.save)

    def _export(self, path: str | Path, write) -> Path:
        target = unique_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        write(target)
        self.toolbar.offer_download(target)
        self.status.say(f"Saved {target.resolve()}")
        return target

    def load_example(self, name: str) -> None:
        """Replace the layout with a shipped example (undoable; see ``python -m mdwidgets example``)."""
        self.selected = None
        self.layout = Layout.load(example_layouts()[name])
        self.toolbar.example.value = EXAMPLE_PROMPT
        self.status.say(f"Loaded the example {name!r}; Ctrl+Z takes it back.")

    @classmethod
    def restore(cls, pipe=None, *, autosave_dir: str | Path | None = None, **kwargs: Any) -> Studio:
        """A new Studio with the most recently autosaved work (e.g. after a kernel restart): its
        layout, settings (seed included) and last picture, as :meth:`restore_work`.

        A Studio autosaves only after its first edit, so re-running a ``Studio(pipe)`` cell never
        puts an untouched default layout in front of the work saved before."""
        work = Autosave.newest_work(autosave_dir)
        if work is None:
            raise FileNotFoundError(f"no autosaved Studio layout in {autosave_dir or default_autosave_dir()}")
        studio = cls(pipe, work.layout, autosave_dir=autosave_dir, **kwargs)
        studio.restore_work(work)
        return studio

    def restore_work(self, work: SavedWork | None = None) -> None:
        """Bring back autosaved work (default: what the *Restore work* button offers): its layout
        (undoable), settings and seed, and its last picture as ``studio.result``; nothing re-renders."""
        work = work or self.saved_work
        if work is None:
            return
        self.restore_offer.layout.display = "none"
        self._restore(work.layout, work.settings, work.result)
        self.status.say(f"Restored the work saved at {work.when} ({work.path.name}); Ctrl+Z takes the layout back.")

    def _restore(self, layout: Layout, settings: Settings | None, result: ComposeResult | None,
                 start: Any = "unchanged") -> None:
        self.rendering.runner.cancel()  # a live render of the layout before must not replace the picture
        self.selected = None
        if settings is not None:
            self.controls.apply(settings)
            self._settings_changed()
        if start != "unchanged":  # a history entry's start (None: noise)
            self.start.show(start, (layout.width, layout.height))
        slots = self._slots if len(layout.regions) == len(self._slots) else list(range(len(layout.regions)))
        self._commit(layout, slots, render=result is None)
        if result is not None:
            self.finished(result, save=False)
            self.rendering.show_picture(result.image)

    def finished(self, result: ComposeResult, save: bool = True) -> None:
        """``result`` is the Studio's result (a finished render, or one restored): Save PNG, *From
        result* and *Redo selected* work on it; it is autosaved (``save``)."""
        self.result = result
        self.toolbar.save_png.disabled = False
        if save and self.autosave is not None:
            self.autosave.save_result(result)

    def _settings_changed(self) -> None:
        if self.autosave is not None:
            self.autosave.save_settings(self.settings)

    # -- rendering (see rendering.py) ------------------------------------------------------------
    def generate(self, wait: bool = False):
        """Render the current layout and settings in a background thread (ignored while one runs).
        ``wait=True`` blocks until it ends (scripts and tests)."""
        return self.rendering.generate(wait)

    def compare_bootstrap(self, wait: bool = False):
        """The same seed at bootstrap 0, 10%, 20%, 40% of the steps and the slider's value, side by side,
        scored."""
        return self.rendering.compare(wait)

    def redo_selected(self, wait: bool = False):
        """Render the selected box again on the last result — a new seed, its current prompt and
        fields — keeping every other pixel (:mod:`mdwidgets.redo`); the new result joins the history."""
        return self.rendering.redo_selected(wait)

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

    # -- the panel -------------------------------------------------------------------------------
    def _wire(self) -> None:
        self.boxes.on_draw(self._drawn)
        self.boxes.on_change(self._moved)
        self.boxes.on_select(self.select)
        self.boxes.on_key(self._key)
        self.regions.on_edit(lambda i, changes: self.edit_region(i, **changes))
        self.regions.on_select(self.select)
        self.regions.on_delete(self.delete)
        self.regions.prompt_note = self._prompt_note
        self.history.on_restore(self.restore_result)
        self.controls.on_change(self.rendering.edited)
        self.controls.on_change(self._settings_changed)
        self.controls.live.observe(lambda c: self.rendering.live_toggled(c["new"]), "value")
        self.restore_offer.on_click(lambda _: self.restore_work())
        self.start.on_change(self.rendering.edited)
        self.start.wire(self)
        self.toolbar.wire(self)


def _enable_colab_widgets() -> None:
    try:
        from google.colab import output  # type: ignore[import-not-found]
    except ImportError:
        return
    output.enable_custom_widget_manager()
