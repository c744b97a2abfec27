"""The history strip: a thumbnail per finished render, newest last; a click on it brings one back.

An entry says what made its picture — seed, steps and bootstrapped steps (:func:`caption`) — and
where it started (``label``: "from image, strength 0.6", "redo: region 2"); it can carry what
brings that start back (``origin``, e.g. the Studio's start image), read with
:meth:`HistoryStrip.origin_of`, and the settings as they were asked for (``asked``: a setting left
to the model's default stays so when the entry is restored), read with :meth:`HistoryStrip.asked_of`.
:meth:`HistoryStrip.add` with ``replace_last=True`` puts the entry in the place of the newest one
(live mode keeps one entry per burst of edits).
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import time
from typing import Any

import ipywidgets as w

from ..sampling.sampler import ComposeResult
from .hooks import Hook

THUMBNAIL = 96  # px
_ENTRY_IDS = itertools.count()  # each thumbnail's CSS class, unique in the page


def caption(result: ComposeResult) -> str:
    """"seed 3 · 25 steps, 5 bootstrapped" (what an entry's picture was made with)."""
    s = result.settings
    return f"seed {s.get('seed')} · {s.get('steps')} steps, {s.get('bootstrap_steps') or 0} bootstrapped"


class HistoryStrip:
    on_restore = Hook()  #: (result): a thumbnail was clicked

    def __init__(self, limit: int = 30) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"history_limit={limit!r} must be a whole number >= 1")
        self.limit = limit
        self.results: list[ComposeResult] = []
        self.labels: list[str] = []
        self._origins: list[Any] = []
        self._asked: list[Any] = []
        # ipywidgets 8 has no overflow_x: "x y" overflow scrolls sideways, never vertically
        self.widget = w.HBox([], layout=w.Layout(overflow="auto hidden", width="100%"))
        self.widget.add_class("mdw-history")

    def add(self, result: ComposeResult, label: str = "", origin: Any = None, *, asked: Any = None,
            replace_last: bool = False) -> None:
        """Keep ``result`` (the oldest goes once there are ``limit``) and show its thumbnail, with
        its :func:`caption` and ``label`` under it; ``replace_last``: in the newest entry's place."""
        keep = slice(None, -1) if replace_last and self.results else slice(None)
        self.results = [*self.results[keep], result][-self.limit :]
        self.labels = [*self.labels[keep], label][-self.limit :]
        self._origins = [*self._origins[keep], origin][-self.limit :]
        self._asked = [*self._asked[keep], asked][-self.limit :]
        self.widget.children = (*self.widget.children[keep], self._entry(result, label))[-self.limit :]

    def _entry(self, result: ComposeResult, label: str) -> w.VBox:
        buf = io.BytesIO()
        thumb = result.image.copy()
        thumb.thumbnail((THUMBNAIL, THUMBNAIL))
        thumb.save(buf, format="PNG")
        css = f"mdw-thumb-{next(_ENTRY_IDS)}"
        when = time.strftime("%H:%M:%S")
        picture = w.Button(tooltip=f"{when}: click to bring this picture, its layout and settings back",
                           layout=w.Layout(width=f"{THUMBNAIL}px", height=f"{THUMBNAIL}px", padding="0"))
        picture.add_class("mdw-thumb")
        picture.add_class(css)
        picture.on_click(lambda _: self.restore(result))
        restore = w.Button(description=f"{when} ↺", tooltip="restore this result",
                           layout=w.Layout(width=f"{THUMBNAIL}px"))
        restore.on_click(lambda _: self.restore(result))
        text = html.escape(" · ".join(filter(None, [caption(result), label])))
        image = f"data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"
        style = f"<style>.{css} {{background: url({image}) center / contain no-repeat #eee !important}}</style>"
        note = w.HTML(f'{style}<div style="line-height:1.2" title="{text}"><small>{text}</small></div>',
                      layout=w.Layout(width=f"{THUMBNAIL}px", overflow="hidden"))
        return w.VBox([picture, restore, note], layout=w.Layout(flex="0 0 auto"))  # keeps its width; the strip scrolls

    def origin_of(self, result: ComposeResult, default: Any = None) -> Any:
        """The ``origin`` kept with ``result`` (``default`` when it is not in the strip)."""
        return next((o for r, o in zip(self.results, self._origins) if r is result), default)

    def asked_of(self, result: ComposeResult) -> Any:
        """The settings ``result`` was asked for (``None`` when not kept or not in the strip)."""
        return next((a for r, a in zip(self.results, self._asked) if r is result), None)

    def restore(self, result: ComposeResult) -> None:
        self.on_restore.emit(result)
