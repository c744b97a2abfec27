"""Undo/redo and autosave of a Studio's layout. No widgets.

Every layout edit goes through :meth:`Edits.record`: the state before it is pushed on the undo
stack (at most ``UNDO_LIMIT``), the redo stack is dropped, and the new layout is autosaved.
A state is whatever the Studio needs to bring an edit back (its layout and box colours).
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from ..files import write_atomic
from ..layout import Layout, LayoutError

UNDO_LIMIT = 100  # layout edits that Undo can take back


def default_autosave_dir() -> Path:
    return Path(os.environ.get("MDWIDGETS_AUTOSAVE_DIR", Path.home() / ".mdwidgets" / "autosave"))


class Edits:
    """A bounded undo stack and a redo stack of states; states compare by their layouts."""

    def __init__(self, limit: int = UNDO_LIMIT) -> None:
        self.limit = limit
        self.undo_stack: list[Any] = []
        self.redo_stack: list[Any] = []

    def record(self, before: Any) -> None:
        """An edit happened after ``before``: it can be undone, and the redo branch is gone."""
        self.undo_stack = [*self.undo_stack, before][-self.limit :]
        self.redo_stack = []

    def undo(self, current: Any) -> Any | None:
        """The state before the last edit (``current`` becomes redoable), or ``None``."""
        return _move(self.undo_stack, self.redo_stack, current)

    def redo(self, current: Any) -> Any | None:
        return _move(self.redo_stack, self.undo_stack, current)


def _move(source: list, target: list, current: Any) -> Any | None:
    if not source:
        return None
    target.append(current)
    return source.pop()


class Autosave:
    """Saves a layout as JSON after every edit, one file per Studio, atomically.

    ``failure`` holds the last error (``None`` after a save that worked), so a panel can keep it
    in view until saving works again."""

    def __init__(self, folder: str | Path | None = None) -> None:
        folder = Path(folder) if folder is not None else default_autosave_dir()
        self.path = folder / f"studio-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.json"
        self.failure: str | None = None

    def save(self, layout: Layout) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, lambda tmp: tmp.write_text(layout.to_json()))
            self.failure = None
        except OSError as exc:
            self.failure = f"Autosave failed ({exc}); export your layout to keep it."

    @staticmethod
    def newest(folder: str | Path | None = None) -> Layout:
        """The most recently autosaved layout in ``folder`` that still reads."""
        folder = Path(folder) if folder is not None else default_autosave_dir()
        saved = sorted(folder.glob("studio-*.json"), key=lambda p: p.stat().st_mtime)
        for path in reversed(saved):
            try:
                return Layout.load(path)
            except (OSError, LayoutError):
                continue
        raise FileNotFoundError(f"no autosaved Studio layout in {folder}")
