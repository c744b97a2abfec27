"""How the Studio's parts report what a person asked for: one small helper instead of a registry per part.

A part declares its intents as class attributes, ``on_draw = Hook()``; whoever wires the parts
listens with ``part.on_draw(fn)`` (or ``@part.on_draw`` as a decorator, like jupyter-bbox-widget's
``on_submit``), and the part reports with ``self.on_draw.emit(box)``. Listeners run in the order
they were added; a part never calls back into the Studio or a sibling itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Hook:
    """An intent a part reports (a descriptor: each part instance has its own listeners)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, part: Any, owner: type | None = None) -> Listeners | Hook:
        if part is None:
            return self
        return part.__dict__.setdefault(f"_hook_{self.name}", Listeners())


class Listeners:
    """The functions listening to one part's intent: call it to add one, :meth:`emit` to report."""

    def __init__(self) -> None:
        self._functions: list[Callable[..., Any]] = []

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self._functions.append(fn)
        return fn

    def emit(self, *args: Any) -> None:
        for fn in list(self._functions):
            fn(*args)
