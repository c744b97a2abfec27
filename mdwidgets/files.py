"""Files: PNGs that carry the layout and settings that made them, loading a layout from a file,
and writes that never leave half a file.

Every reader here raises :class:`~mdwidgets.LayoutError` naming the file for every problem
(unreadable, not a PNG, hostile JSON, a bad setting), so callers catch one error type.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, PngImagePlugin

from .layout import Layout, LayoutError
from .settings import Settings, check_settings

PNG_LAYOUT_KEY = "mdwidgets_layout"
PNG_SETTINGS_KEY = "mdwidgets_settings"


def save_png(
    image: Image.Image, path: str | Path, layout: Layout, settings: Settings | dict[str, Any] | None = None
) -> Path:
    """Write ``image`` as PNG with the layout and settings (e.g. ``result.settings``) embedded as
    text chunks, atomically."""
    if isinstance(settings, Settings):
        settings = settings.to_dict()
    info = PngImagePlugin.PngInfo()
    info.add_text(PNG_LAYOUT_KEY, layout.to_json(indent=None))
    info.add_text(PNG_SETTINGS_KEY, json.dumps(settings or {}))
    path = Path(path)
    write_atomic(path, lambda tmp: image.save(tmp, format="PNG", pnginfo=info))
    return path


def read_png_metadata(path: str | Path | BinaryIO) -> tuple[Layout, dict[str, Any]]:
    """The layout and settings dict embedded in a PNG made by mdwidgets (a path or a binary file).

    The dict is checked (:func:`~mdwidgets.settings.check_settings`) and keeps the run metadata
    (``model``, ``device``, ``dtype``); :meth:`Settings.from_dict` turns it into :class:`Settings`.
    Only the PNG's header and text chunks are read, never its pixels, and every problem (not a
    PNG, a decompression bomb, malformed or hostile JSON, settings of the wrong type) raises
    :class:`LayoutError` naming the file."""
    return _png_metadata(path, str(getattr(path, "name", path)))


def load_layout_file(path: str | Path) -> tuple[Layout, dict[str, Any]]:
    """The layout in a layout JSON file or an mdwidgets PNG (``.png``), and the settings dict the
    PNG carries (``{}`` for JSON). Every failure, an unreadable file included, is a
    :class:`LayoutError` naming the file."""
    try:
        with open(path, "rb") as fh:
            return _load_layout(str(path), fh)
    except OSError as exc:
        raise LayoutError(f"cannot read {path}: {exc.strerror or exc}") from None


def load_layout_bytes(name: str, content: bytes) -> tuple[Layout, dict[str, Any]]:
    """:func:`load_layout_file` for a file's ``content`` (e.g. an upload); ``name`` says whether it
    is a PNG and names it in errors."""
    return _load_layout(name, io.BytesIO(content))


def _load_layout(name: str, fh: BinaryIO) -> tuple[Layout, dict[str, Any]]:
    if name.lower().endswith(".png"):
        return _png_metadata(fh, name)
    try:
        return Layout.from_json(fh.read()), {}
    except LayoutError as exc:
        raise LayoutError(f"{name}: {exc}") from None


def _png_metadata(source: str | Path | BinaryIO, name: str) -> tuple[Layout, dict[str, Any]]:
    try:
        with Image.open(source, formats=["PNG"]) as image:
            text = {k: v for k, v in image.info.items() if isinstance(v, str)}  # chunks before the pixels
    except Exception as exc:  # noqa: BLE001 - OSError, DecompressionBombError, ValueError (huge chunk)…
        raise LayoutError(f"{name}: cannot read as a PNG image ({exc})") from None
    if PNG_LAYOUT_KEY not in text:
        raise LayoutError(f"{name}: this PNG carries no mdwidgets layout (was it made by mdwidgets?)")
    try:
        layout = Layout.from_json(text[PNG_LAYOUT_KEY])
    except LayoutError as exc:
        raise LayoutError(f"{name}: {exc}") from None
    try:
        settings = json.loads(text.get(PNG_SETTINGS_KEY, "{}"))
    except (ValueError, RecursionError):
        raise LayoutError(f"{name}: its settings are not valid JSON") from None
    return layout, check_settings(settings, name)


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> None:
    """Write through a temporary file in the same folder and rename it over ``path``: a crash, a
    kill or a full disk leaves the old file whole, and readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def unique_path(path: str | Path) -> Path:
    """``path``, or ``name-1.ext``, ``name-2.ext``… if it exists: exports never overwrite."""
    path = Path(path)
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate
