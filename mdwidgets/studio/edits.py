"""Undo/redo and autosave of a Studio's work. No widgets.

Every layout edit goes through :meth:`Edits.record`: the state before it is pushed on the undo
stack (at most ``UNDO_LIMIT``), the redo stack is dropped, and the new layout is autosaved.
A state is whatever the Studio needs to bring an edit back (its layout and box colours).

:class:`Autosave` keeps one Studio's work in three files named after it: ``studio-<id>.json``
(the layout, after every edit), ``studio-<id>.settings.json`` (the settings as the controls show
them, model defaults left as defaults) and ``studio-<id>.png`` (the last finished picture, its
layout and settings embedded as in any mdwidgets PNG). :meth:`Autosave.newest_work` reads the newest
work back (e.g. after a kernel restart) as :class:`SavedWork`.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import InputError
from ..files import read_png_metadata, save_png, write_atomic
from ..layout import Layout
from ..sampling.sampler import ComposeResult
from ..settings import Settings

SETTINGS_SUFFIX = ".settings.json"

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


@dataclass
class SavedWork:
    """A Studio's autosaved work: its layout, settings (``None`` if not saved) and last finished
    result (``None`` if none; its ``latents`` are ``None``: the picture stands for them)."""

    layout: Layout
    settings: Settings | None
    result: ComposeResult | None
    saved_at: float  #: when the layout was last saved (seconds since the epoch)
    path: Path  #: the layout's file

    @property
    def when(self) -> str:
        """"12:31" today, "Dec 05 12:31" another day."""
        today = time.strftime("%Y%m%d") == time.strftime("%Y%m%d", time.localtime(self.saved_at))
        return time.strftime("%H:%M" if today else "%b %d %H:%M", time.localtime(self.saved_at))


class Autosave:
    """Saves a Studio's layout after every edit, its settings and its last result, atomically.

    ``failure`` holds the last error (``None`` after a save that worked), so a panel can keep it
    in view until saving works again."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_autosave_dir()
        self.path = self.folder / f"studio-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.json"
        self.failure: str | None = None

    def save(self, layout: Layout) -> None:
        self._write(self.path, lambda tmp: tmp.write_text(layout.to_json()))

    def save_settings(self, settings: Settings) -> None:
        self._write(_settings_path(self.path), lambda tmp: tmp.write_text(json.dumps(settings.to_dict())))

    def save_result(self, result: ComposeResult) -> None:
        self._write(self.path.with_suffix(".png"), lambda tmp: save_png(result.image, tmp, result.layout,
                                                                        result.settings))

    def _write(self, path: Path, write) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, write)
            self.failure = None
        except OSError as exc:
            self.failure = f"Autosave failed ({exc}); export your layout to keep it."

    @staticmethod
    def newest(folder: str | Path | None = None) -> SavedWork:
        """The most recently autosaved work in ``folder`` whose layout still reads
        (``FileNotFoundError`` when there is none)."""
        work = Autosave.newest_work(folder)
        if work is None:
            raise FileNotFoundError(f"no autosaved Studio layout in {folder or default_autosave_dir()}")
        return work

    @staticmethod
    def newest_work(folder: str | Path | None = None, exclude: Path | None = None) -> SavedWork | None:
        """The newest work in ``folder`` whose layout still reads (``exclude``: a Studio's own file);
        a settings file or picture that does not read is left out, the layout kept."""
        folder = Path(folder) if folder is not None else default_autosave_dir()
        saved = [p for p in folder.glob("studio-*.json") if not p.name.endswith(SETTINGS_SUFFIX) and p != exclude]
        for path in sorted(saved, key=_mtime, reverse=True):
            try:
                layout, saved_at = Layout.load(path), path.stat().st_mtime
            except (OSError, InputError):
                continue
            return SavedWork(layout, _read_settings(_settings_path(path)), _read_result(path.with_suffix(".png")),
                             saved_at, path)
        return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _settings_path(layout_path: Path) -> Path:
    return layout_path.with_name(layout_path.stem + SETTINGS_SUFFIX)


def _read_settings(path: Path) -> Settings | None:
    try:
        return Settings.from_dict(json.loads(path.read_text()), path)
    except (OSError, ValueError, InputError):
        return None


def _read_result(path: Path) -> ComposeResult | None:
    try:
        layout, settings = read_png_metadata(path)
        with Image.open(path) as image:
            picture = image.convert("RGB")
    except (OSError, ValueError, InputError, Image.DecompressionBombError):
        return None
    return ComposeResult(picture, None, layout, settings, steps_done=settings.get("steps") or 0)
