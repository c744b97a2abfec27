"""Renders for the Studio: Generate, Compare bootstrap and live mode, with previews and progress.

Runs go through a :class:`Runner` (one at a time, in a thread). Generate and live renders start
from the Studio's start choice (:mod:`.start`: noise, or a picture noised to a strength, chosen
when the run is asked for).

- Only a **finished** render becomes ``studio.result`` and a history entry, labelled with its seed,
  steps and start ("from image, strength 0.6") or what it redid ("redo: region 2"); a cancelled or
  superseded one is shown as a preview only.
- **Live mode**: every layout or settings edit replaces the running render (it stops within a step)
  with a new one that first renders a draft of ``LIVE_DRAFT_STEPS`` steps, then the full settings;
  while the full pass runs the draft stays on screen (its early previews are further from the final
  picture than the draft). A burst of edits keeps one history entry (:mod:`.results`).
- Live mode **degrades instead of stopping**: once a full render takes over ``LIVE_MAX_SECONDS`` it
  renders drafts only (Generate still renders in full; a full render within the limit brings full
  live renders back); only a draft over the limit turns it off. Either state is said in a note
  beside the *Live* box that stays until the user acts; ticking *Live* renders at once.
- A comparison grid is marked stale as soon as the layout or settings change.
"""

from __future__ import annotations

import html
import io
import random
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as w
from PIL import Image

from ..layout import Layout
from ..pipelines.facts import vae_scale_factor
from ..render.figures import METHOD_CELLS, bootstrap_values, compare, compare_methods
from ..render.preview import previewer_for
from ..sampling.img2img import keep_all_but
from ..sampling.sampler import ComposeResult, compose
from ..settings import Settings
from .hooks import Hook
from .results import Results
from .runner import Runner
from .start import Start
from .status import StatusBar, plural

PREVIEW_EVERY_COST = 3  # a new preview once 3× the last preview's cost has passed: previews take ≤ ~1/4
LIVE_MAX_AREA = 4  # live mode renders canvases up to 4× the model's native area (a 4096² import would hang it)
LIVE_DRAFT_STEPS = 6  # live mode's first pass: 0.3 s, 20/255 from the final (benchmarks/live_latency.py)
LIVE_MAX_SECONDS = 3.0  # live renders in full while a full render takes at most this long; drafts up to it


class Rendering:
    """Runs renders and shows their progress; it is given what it needs and reads nothing else.

    Args:
        status: the status line and progress bar it reports to.
        results: where finished renders go (current result, history, autosave).
        pipe: returns the pipeline (loading the model on first use).
        model: the model's name, for messages; native: its native canvas side (live mode's limit).

    It reports through hooks: ``on_picture(image)`` (a preview or a result to show under the boxes),
    ``on_busy(busy)`` (a run started, or all ended) and ``on_live_stopped()`` (live mode turned
    itself off: the *Live* box should be unticked).
    """

    on_picture = Hook()  #: (image or None): show it under the boxes
    on_busy = Hook()  #: (bool): a run started (True) or the runner is idle (False)
    on_live_stopped = Hook()  #: (): even drafts are too slow: live mode is off

    def __init__(self, status: StatusBar, results: Results, pipe: Callable[[], Any], model: str, native: int) -> None:
        self.status, self.results, self.pipe, self.model, self.native = status, results, pipe, model, native
        self.runner = Runner(on_idle=lambda: self.on_busy.emit(False))
        self.image: Image.Image | None = None  # the picture under the boxes (a preview or a result)
        self.preview_seconds: list[float] = []
        self.live_timings: dict[str, float] = {}  # seconds from the last live edit to its first preview, draft, final
        self.comparison = None
        self.comparison_image = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.comparison_note = w.HTML("")
        self.comparison_box = w.VBox([self.comparison_note, self.comparison_image], layout=w.Layout(display="none"))
        self.comparison_box.add_class("mdw-comparison")
        self.live_note = w.HTML("")  # why live mode renders drafts only, or stopped: stays until the user acts
        self.drafts_only = False
        self.last_error: str | None = None
        self._kind = ""  # what runs or ran last: "live", "generate" or "compare"

    # -- starting --------------------------------------------------------------------------------
    def generate(self, layout: Layout, settings: Settings, start: Start | None,
                 wait: bool = False) -> threading.Thread | None:
        job = self._job(lambda cancelled: self._render(layout, settings, cancelled, record=True, start=start),
                        "Generation")
        return self._start(job, wait, "generate")

    def compare(self, layout: Layout, settings: Settings, wait: bool = False,
                what: str = "bootstrap") -> threading.Thread | None:
        """Compare bootstrap values (``what="bootstrap"``) or region methods (``"methods"``) on one seed."""
        job = self._job(lambda c: self._compare(layout, settings, c, what), "Comparison")
        return self._start(job, wait, "compare")

    def redo_selected(self, layout: Layout, settings: Settings, result: ComposeResult | None, index: int | None,
                      wait: bool = False) -> threading.Thread | None:
        if result is None or index is None:
            self.status.say("Redo selected needs a result and a selected box: Generate, then click a box.", error=True)
            return None
        if (result.layout.width, result.layout.height) != (layout.width, layout.height):
            self.status.say("The canvas size changed since the last result: Generate first.", error=True)
            return None
        settings = settings.replace(seed=random.randrange(2**31))  # a new take of the box
        kept = result.image if result.latents is None else result.latents  # a restored result has its picture only
        keep = dict(keep=keep_all_but(layout, [index], vae_scale_factor(self.pipe().vae)), keep_image=kept)
        job = self._job(lambda c: self._render(layout, settings, c, record=True, inputs=keep,
                                               label=f"redo: region {index + 1}"), "Redo")
        return self._start(job, wait, "generate")

    def _start(self, job, wait: bool, kind: str) -> threading.Thread | None:
        """Start a Generate or Compare: it replaces a live render; while another one runs, a second
        click changes nothing."""
        if self._kind == "live" and self.runner.running:
            self.runner.replace(job)
        elif self.runner.start(job) is None:
            return None
        self._kind = kind
        self.on_busy.emit(True)
        if wait:
            self.runner.join()
        return self.runner.thread

    def edited(self, layout: Layout, settings: Settings, start: Start | None, live: bool) -> None:
        """The layout or settings changed: in ``live`` mode, render them instead of what runs."""
        self._comparison_stale()
        if not live:
            return
        if self.runner.running and self._kind == "compare":
            return  # a comparison is not cut short by an edit
        edited_at, native = time.perf_counter(), self.native
        if layout.width * layout.height > LIVE_MAX_AREA * native * native:
            self.runner.cancel()
            return self._note(f"Live paused: a {layout.width}×{layout.height} canvas is over {LIVE_MAX_AREA}× the "
                              f"model's {native}×{native}; press Generate to render it.")
        draft = _draft(settings, start)

        def live(cancelled: Callable[[], bool]) -> None:
            self.live_timings = {}
            mark = lambda what: self.live_timings.setdefault(what, time.perf_counter() - edited_at)  # noqa: E731
            if draft is not None:
                result = self._render(layout, draft, cancelled, record=False, mark=mark, what="draft", start=start)
                if result.cancelled or not self._live_speed(result, draft=True):
                    return
                mark("draft")
            if draft is None or not self.drafts_only:
                result = self._render(layout, settings, cancelled, record="live", mark=mark, start=start,
                                      previews=draft is None)
                if not result.cancelled:
                    mark("final")
                    self._live_speed(result, draft=False)

        self._kind = "live"
        self.runner.replace(self._job(live, "Live render"))
        self.on_busy.emit(True)

    def live_toggled(self, on: bool) -> None:
        """The user ticked or unticked *Live*: a note about it is answered (ticking then renders at once)."""
        self.live_note.value = ""
        self.drafts_only = self.drafts_only and not on

    def _live_speed(self, result: ComposeResult, draft: bool) -> bool:
        """Degrade live mode when renders are slow (see the module's docstring); whether it goes on."""
        seconds = result.timings["total"]
        where = f"with {self.model} on {result.settings['device']}"
        if draft and seconds > LIVE_MAX_SECONDS:
            self.on_live_stopped.emit()  # the user's tick brings it back
            self._note(f"Live mode stopped: even a {LIVE_DRAFT_STEPS}-step draft takes {seconds:.1f} s {where}. "
                       "Press Generate after your edits, or tick Live to try again.")
            return False
        if not draft:
            self.drafts_only = seconds > LIVE_MAX_SECONDS
            self._note(f"Live shows {LIVE_DRAFT_STEPS}-step drafts: a full render takes {seconds:.1f} s {where} "
                       f"(over {LIVE_MAX_SECONDS:g} s). Press Generate for the full picture."
                       if self.drafts_only else "")
        return True

    def _note(self, text: str) -> None:
        self.live_note.value = f'<small style="color:#8a4b00">{html.escape(text)}</small>' if text else ""

    def _comparison_stale(self) -> None:
        if self.comparison is not None and "mdw-stale" not in self.comparison_box._dom_classes:
            self.comparison_box.add_class("mdw-stale")
            self.comparison_note.value = ("<small><b>Out of date:</b> the layout or settings changed since this "
                                          "comparison. Press Compare again.</small>")

    def _job(self, body: Callable[[Callable[[], bool]], None], what: str):
        def job(cancelled: Callable[[], bool]) -> None:
            try:
                body(cancelled)
            except Exception as exc:  # noqa: BLE001 - shown in the panel, which must stay usable
                self.status.say(f"{what} failed: {type(exc).__name__}: {exc}", error=True)
                self.last_error = traceback.format_exc()
        return job

    # -- runs ------------------------------------------------------------------------------------
    def _render(self, layout: Layout, settings: Settings, cancelled, *, record: bool | str,
                mark: Callable[[str], None] = lambda what: None, what: str = "step",
                inputs: dict | None = None, start: Start | None = None, label: str = "",
                previews: bool = True) -> ComposeResult:
        """One compose run with progress and previews; ``record``: a finished result is kept (``"live"``:
        as part of a burst); ``previews=False`` leaves the picture on screen until the end."""
        pipe = self.pipe()
        total = settings.steps if start is None else int(settings.steps * start.strength)  # the steps that run
        self.status.start(total, "starting" if what == "step" else what)
        self.status.say("Generating…" if start is None else f"Generating from {start.name}, {start.label}…")
        previewer = previewer_for(pipe, (layout.width, layout.height)) if previews else None
        on_step = self._on_step(layout, previewer, cancelled, mark, what)
        starts = start.inputs((layout.width, layout.height)) if start is not None else {}
        result = compose(pipe, layout, settings=settings, callback=on_step, **(inputs or {}), **starts)
        if not (result.cancelled and not previews):  # a cancelled pass without previews leaves the draft
            self.show_picture(result.image)
        self.status.stop(result.steps_done, total, result.cancelled)
        if record and not result.cancelled:
            self.results.keep(result, settings, start, label, live=record == "live")
        done, seconds = result.steps_done, result.timings["total"]
        windows = result.settings["stride"] and (
            f", windows of {result.settings['window']} latent cells, stride {result.settings['stride']}")
        word = f"Cancelled after {plural(done, 'step')} of {total}" if result.cancelled else (
            f"{'Draft' if what == 'draft' else 'Done'}: {plural(done, 'step')}")
        origin = f", {start.label}" if start is not None else ""
        self.status.say(f"{word} in {seconds:.1f} s, seed {result.settings['seed']}{windows or ''}{origin}")
        return result

    def _on_step(self, layout: Layout, previewer, cancelled, mark, what: str):
        shown = [0.0, 0.0]  # when the last preview was drawn, and what it cost

        def on_step(event) -> None:
            if cancelled():
                event.cancel()
            t = time.perf_counter()
            if previewer is not None and t - shown[0] >= PREVIEW_EVERY_COST * shown[1]:
                self.show_picture(previewer(event.x0, (layout.width, layout.height)))
                shown[:] = [time.perf_counter(), time.perf_counter() - t]
                self.preview_seconds.append(shown[1])
                mark("first_preview")
            self.status.step(event.step + 1, event.num_steps, event.elapsed, what)
        return on_step

    def _compare(self, layout: Layout, settings: Settings, cancelled, what: str) -> None:
        pipe, size = self.pipe(), (layout.width, layout.height)
        values = bootstrap_values(settings.steps, settings.bootstrap_steps)  # the slider's value among them
        cells = len(values) if what == "bootstrap" else len(METHOD_CELLS)
        together = cells if what == "bootstrap" else 1  # bootstrap cells step together, methods one by one
        total = cells * settings.steps
        self.status.start(total, "comparing")
        self.status.say("Comparing bootstrap settings…" if what == "bootstrap" else "Comparing region methods…")
        started, done, previewer = time.perf_counter(), [0], previewer_for(pipe, size)

        def on_step(event) -> None:
            if cancelled():
                raise _Cancelled
            done[0] += 1
            if done[0] % together == 0:  # one preview per step of all the cells that step together
                self.show_picture(previewer(event.x0, size))
            self.status.step(done[0], total, time.perf_counter() - started, "comparing")

        try:
            self.comparison = (compare(pipe, layout, "bootstrap_steps", values, callback=on_step,
                                       settings=settings.replace(bootstrap_steps=None)) if what == "bootstrap"
                               else compare_methods(pipe, layout, settings=settings, callback=on_step))
        except _Cancelled:
            self.status.stop(done[0], total, cancelled=True)
            self.status.say("Comparison cancelled.")
            return
        self._show_comparison()
        cells = ("bootstrap steps " + ", ".join(map(str, self.comparison.values)) if what == "bootstrap"
                 else " · ".join(self.comparison.values))
        self.status.say(f"Comparison done in {self.comparison.seconds:.1f} s: same seed, {cells} (the grid is below)")

    def _show_comparison(self) -> None:
        buf = io.BytesIO()
        self.comparison.image.save(buf, format="PNG")
        self.comparison_image.value = buf.getvalue()
        self.comparison_box.remove_class("mdw-stale")
        self.comparison_note.value = ""  # the grid's own footer explains its scores
        self.comparison_box.layout.display = None

    # -- pictures --------------------------------------------------------------------------------
    def show_picture(self, image: Image.Image | None = None) -> None:
        """Show ``image`` (default: the current one) under the boxes (``on_picture``)."""
        if image is not None:
            self.image = image
        self.on_picture.emit(self.image)


def _draft(settings: Settings, start: Start | None) -> Settings | None:
    """Live mode's first pass: ``LIVE_DRAFT_STEPS`` steps that run (of more, from a start image),
    keeping the bootstrap's share; ``None`` when the settings are no longer than that."""
    share = LIVE_DRAFT_STEPS / (settings.steps * (start.strength if start else 1.0))
    if share >= 1:
        return None
    return settings.replace(steps=round(settings.steps * share),
                            bootstrap_steps=round(settings.bootstrap_steps * share))


class _Cancelled(Exception):
    """Raised from a comparison's step callback to stop all its cells."""
