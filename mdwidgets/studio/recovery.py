"""What brings work back: the *Restore work* offer and the check for a canvas front end that never
answers. Small parts the Studio wires; neither knows the Studio.

- :class:`RestoreOffer` — a button "Restore work from 12:31" shown when an earlier Studio's work
  (:class:`~mdwidgets.studio.edits.SavedWork`) was found; a click calls ``on_restore(fn(work))``
  and hides it.
- :class:`FrontendCheck` — once the panel is displayed, waits ``FRONTEND_WAIT_SECONDS`` for the
  canvas' front end (ipycanvas' ``client_ready``); if it never answers (Colab without the custom
  widget manager, a missing ipycanvas extension) it says so in plain words with the fix, instead
  of a blank cell.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import ipywidgets as w

from .edits import SavedWork
from .hooks import Hook

FRONTEND_WAIT_SECONDS = 10.0  # a canvas front end answers within a second or two once the page has the widget
CANVAS_SILENT = (
    "The drawing canvas has not answered: its front end (ipycanvas) is not loaded in this notebook. "
    "In Colab run `from google.colab import output; output.enable_custom_widget_manager()` and then "
    "this cell again; elsewhere `pip install \"ipycanvas>=0.13\" \"ipywidgets>=8.1\"` in the kernel's "
    "environment and reload the page (JupyterLab 4 / Notebook 7).")


class RestoreOffer:
    on_restore = Hook()  #: (work): the Restore button was clicked

    def __init__(self, work: SavedWork | None) -> None:
        self.work = work
        self.button = w.Button(description=f"Restore work from {work.when}" if work else "", icon="history",
                               button_style="warning", layout=w.Layout(width="max-content"),
                               tooltip="bring back the layout, settings and last picture of an earlier Studio "
                               "(e.g. before a kernel restart)")
        self.button.on_click(lambda _: self.work is not None and self._restore(self.work))
        self.button.layout.display = None if work else "none"

    def hide(self) -> None:
        self.button.layout.display = "none"

    def _restore(self, work: SavedWork) -> None:
        self.on_restore.emit(work)


class FrontendCheck:
    def __init__(self, answered: Callable[[], bool], say: Callable[[str], None]) -> None:
        self._answered, self._say = answered, say
        self._timer: threading.Timer | None = None

    def displayed(self, bundle: dict) -> dict:
        """The panel's display data is being sent: start waiting for the front end, and give the
        bundle a plain-text form that says what to do (a front end without widgets shows it)."""
        self.watch()
        return {**bundle, "text/plain": f"mdwidgets Studio. {CANVAS_SILENT}"}

    def watch(self) -> None:
        """Start waiting for the front end (once)."""
        if self._timer is None and not self._answered():
            self._timer = threading.Timer(FRONTEND_WAIT_SECONDS, self._check)
            self._timer.daemon = True
            self._timer.start()

    def _check(self) -> None:
        if not self._answered():
            self._say(CANVAS_SILENT)
