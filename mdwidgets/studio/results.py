"""The Studio's finished pictures, without the Studio: the current result, the history strip and
the autosaved copy of the last one.

:meth:`Results.keep` takes a finished render (never a cancelled one: the caller shows those as
previews only): it joins the history and becomes ``current`` — what Save PNG, *From result* and
*Redo selected* use — and is autosaved. A burst of live renders keeps one entry: a live render
finished within ``LIVE_BURST_SECONDS`` of the last live entry takes its place. :meth:`Results.show`
makes a result current without a history entry (a restored one). ``on_result(fn(result))`` hooks
see every new current result.
"""

from __future__ import annotations

import time

from ..sampling.sampler import ComposeResult
from ..settings import Settings
from .edits import Autosave
from .history import HistoryStrip
from .hooks import Hook
from .start import Start

LIVE_BURST_SECONDS = 10.0  # live renders finished closer together than this are one burst: one history entry


class Results:
    on_result = Hook()  #: (result): a finished render became the current result

    def __init__(self, history: HistoryStrip, autosave: Autosave | None) -> None:
        self.history, self.autosave = history, autosave
        self.current: ComposeResult | None = None
        self._last_live_entry = -LIVE_BURST_SECONDS  # when live mode last added an entry

    def keep(self, result: ComposeResult, asked: Settings, start: Start | None, label: str, live: bool) -> None:
        """A finished render: into the history (a live burst's: in the place of the burst's last
        entry) and current; its settings (and PNG) name its start."""
        if start is not None:
            result.settings = {**result.settings, **start.record()}
        now = time.monotonic()
        burst = live and now - self._last_live_entry < LIVE_BURST_SECONDS
        self._last_live_entry = now if live else -LIVE_BURST_SECONDS
        self.history.add(result, label or (start.label if start is not None else ""), start, asked=asked,
                         replace_last=burst)
        self.show(result)

    def show(self, result: ComposeResult, save: bool = True) -> None:
        """``result`` becomes current (``save``: and is autosaved)."""
        self.current = result
        self.on_result.emit(result)
        if save and self.autosave is not None:
            self.autosave.save_result(result)
