"""The history strip: a thumbnail per finished render, newest last; a click brings one back.

An entry can say where its picture came from (``label``: "from image, strength 0.6", "redo:
region 2") and carry what brings that back (``origin``, e.g. the Studio's start image), read with
:meth:`HistoryStrip.origin_of`.
"""

from __future__ import annotations

import html
import io
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..sampler import ComposeResult

THUMBNAIL = 96  # px


class HistoryStrip:
    def __init__(self, limit: int = 30) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"history_limit={limit!r} must be a whole number >= 1")
        self.limit = limit
        self.results: list[ComposeResult] = []
        self.labels: list[str] = []
        self._origins: list[Any] = []
        self._hooks: list[Callable[[ComposeResult], None]] = []
        # ipywidgets 8 has no overflow_x: "x y" overflow scrolls sideways, never vertically
        self.widget = w.HBox([], layout=w.Layout(overflow="auto hidden", width="100%"))
        self.widget.add_class("mdw-history")

    def on_restore(self, fn: Callable[[ComposeResult], None]) -> None:
        self._hooks.append(fn)

    def add(self, result: ComposeResult, label: str = "", origin: Any = None) -> None:
        """Keep ``result`` (the oldest goes once there are ``limit``) and show its thumbnail, with
        ``label`` under it."""
        self.results = [*self.results, result][-self.limit :]
        self.labels = [*self.labels, label][-self.limit :]
        self._origins = [*self._origins, origin][-self.limit :]
        buf = io.BytesIO()
        thumb = result.image.copy()
        thumb.thumbnail((THUMBNAIL, THUMBNAIL))
        thumb.save(buf, format="PNG")
        image = w.Image(value=buf.getvalue(), format="png", layout=w.Layout(width=f"{THUMBNAIL}px"))
        restore = w.Button(description=f"{time.strftime('%H:%M:%S')} ↺", tooltip="restore this result",
                           layout=w.Layout(width=f"{THUMBNAIL}px"))
        restore.on_click(lambda _: self.restore(result))
        text = html.escape(label)
        note = w.HTML(f'<div style="line-height:1.2" title="{text}"><small>{text}</small></div>',
                      layout=w.Layout(width=f"{THUMBNAIL}px", overflow="hidden"))
        entry = w.VBox([image, restore, note], layout=w.Layout(flex="0 0 auto"))  # keeps its width; the strip scrolls
        self.widget.children = (*self.widget.children, entry)[-self.limit :]

    def origin_of(self, result: ComposeResult, default: Any = None) -> Any:
        """The ``origin`` kept with ``result`` (``default`` when it is not in the strip)."""
        return next((o for r, o in zip(self.results, self._origins) if r is result), default)

    def restore(self, result: ComposeResult) -> None:
        for fn in self._hooks:
            fn(result)
