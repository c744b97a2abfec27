"""Files in and out of the Studio, without widgets: what an import brings (:func:`read_import`),
where an export goes (:func:`export_path`, :func:`export`), and what the panel says about a canvas
size (:func:`canvas_note`)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import InputError
from ..files import load_layout_bytes, write_new
from ..layout import Layout


def read_import(name: str, content: bytes) -> tuple[Layout, dict[str, Any], Image.Image | None]:
    """The layout, settings and (for a PNG) picture of an imported file; ``ValueError`` with a
    sentence naming the file when it cannot be read."""
    try:
        layout, settings = load_layout_bytes(name, content)
        picture = Image.open(io.BytesIO(content)).convert("RGB") if name.lower().endswith(".png") else None
    except InputError as exc:  # it names the file
        raise ValueError(f"Could not import {exc}") from exc
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # the PNG's pixels
        raise ValueError(f"Could not import {name}: {exc}") from exc
    return layout, settings, picture


def export(path: str | Path, write: Callable[[Path], Any], *,
           offer: Callable[[Path], Any] = lambda path: None, say: Callable[[str], Any] = lambda text: None) -> Path:
    """Write a new file at ``path`` (its folder made if needed) or, if taken, ``name-1.ext``…: never
    over an existing file, even with two exports at once (:func:`~mdwidgets.files.write_new`); then
    ``offer`` it (a download) and ``say`` where it went."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    target = write_new(path, write)
    offer(target)
    say(f"Saved {target.resolve()}")
    return target


def export_path(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/stem-20261206-123100.suffix`` (the writer adds ``-1``, ``-2``… if taken)."""
    return folder / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}{suffix}"


def canvas_note(model: str, native: int, width: int, height: int, windowed: bool) -> tuple[str, bool]:
    """What to say after a canvas resize, and whether it is a warning: a canvas larger than the
    model's native size without windows gets one (such a model draws flat, oversized shapes)."""
    if max(width, height) > native and not windowed:
        return (f"{model} draws at {native}×{native}: on {width}×{height} its objects come out as flat, "
                f"oversized shapes and a render is slower. Choose Windows: native windows (tiles of {native} px), "
                f"or a {native}×{native} canvas.", True)
    return f"Canvas {width}×{height}; Ctrl+Z takes it back.", False
