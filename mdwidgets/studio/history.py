"""The history strip: a thumbnail per finished render, newest last; a click brings one back."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import ipywidgets as w

from ..sampler import ComposeResult

THUMBNAIL = 96  # px


class HistoryStrip:
    def __init__(self, limit: int = 30) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"history_limit={limit!r} must be a whole number >= 1")
        self.limit = limit
        self.results: list[ComposeResult] = []
        self._hooks: list[Callable[[ComposeResult], None]] = []
        # ipywidgets 8 has no overflow_x: "x y" overflow scrolls sideways, never vertically
        self.widget = w.HBox([], layout=w.Layout(overflow="auto hidden", width="100%"))
        self.widget.add_class("mdw-history")

    def on_restore(self, fn: Callable[[ComposeResult], None]) -> None:
        self._hooks.append(fn)

    def add(self, result: ComposeResult) -> None:
        """Keep ``result`` (the oldest goes once there are ``limit``) and show its thumbnail."""
        self.results = [*self.results, result][-self.limit :]
        buf = io.BytesIO()
        thumb = result.image.copy()
        thumb.thumbnail((THUMBNAIL, THUMBNAIL))
        thumb.save(buf, format="PNG")
        image = w.Image(value=buf.getvalue(), format="png", layout=w.Layout(width=f"{THUMBNAIL}px"))
        restore = w.Button(description=f"{time.strftime('%H:%M:%S')} ↺", tooltip="restore this result",
                           layout=w.Layout(width=f"{THUMBNAIL}px"))
        restore.on_click(lambda _: self.restore(result))
        entry = w.VBox([image, restore], layout=w.Layout(flex="0 0 auto"))  # keeps its width; the strip scrolls
        self.widget.children = (*self.widget.children, entry)[-self.limit :]

    def restore(self, result: ComposeResult) -> None:
        for fn in self._hooks:
            fn(result)
