"""Files: PNGs that carry the layout and settings that made them, loading a layout from a file,
and writes that never leave half a file.

Every reader here raises an :class:`~mdwidgets.InputError` naming the file for every problem, so
callers catch one error type: :class:`~mdwidgets.LayoutError` for the layout (hostile JSON, a bad
field), :class:`~mdwidgets.SettingsError` for a bad setting, the base itself for a file that cannot
be read (missing, not a PNG).
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, PngImagePlugin

from .errors import InputError
from .layout import Layout, LayoutError, open_regular, read_limited
from .settings import Settings, SettingsError, check_settings

PNG_LAYOUT_KEY = "mdwidgets_layout"
PNG_SETTINGS_KEY = "mdwidgets_settings"


def save_png(
    image: Image.Image, path: str | Path, layout: Layout, settings: Settings | dict[str, Any] | None = None,
    *, exclusive: bool = False,
) -> Path:
    """Write ``image`` as PNG with the layout and settings (e.g. ``result.settings``) embedded as
    text chunks, atomically (``exclusive``: only if ``path`` does not exist, see :func:`write_atomic`).
    Metadata too large for :func:`read_png_metadata` is refused first (:func:`png_info`)."""
    info = png_info(layout, settings)
    path = Path(path)
    write_atomic(path, lambda tmp: image.save(tmp, format="PNG", pnginfo=info), exclusive=exclusive)
    return path


def png_info(layout: Layout, settings: Settings | dict[str, Any] | None = None) -> PngImagePlugin.PngInfo:
    """The text chunks :func:`save_png` writes; a :class:`LayoutError` if :func:`read_png_metadata` could
    not read them back (PIL reads at most ``PngImagePlugin.MAX_TEXT_MEMORY``, 64 MB, of text: soft masks
    that do not compress can take more), so no PNG is written that its own reader refuses."""
    if isinstance(settings, Settings):
        settings = settings.to_dict()
    texts = {PNG_LAYOUT_KEY: layout.to_json(indent=None), PNG_SETTINGS_KEY: json.dumps(settings or {})}
    size, most = sum(len(v) for v in texts.values()), PngImagePlugin.MAX_TEXT_MEMORY
    if size > most:
        raise LayoutError(f"the layout and settings take {size / 2**20:.1f} MiB as PNG text but a PNG's text is "
                          f"read back only up to {most / 2**20:g} MiB: use boxes, fewer or harder-edged masks, "
                          "or save the layout as JSON (layout.save) and the picture without it")
    info = PngImagePlugin.PngInfo()
    for key, text in texts.items():
        info.add_text(key, text)
    return info


def read_png_metadata(path: str | Path | BinaryIO) -> tuple[Layout, dict[str, Any]]:
    """The layout and settings dict embedded in a PNG made by mdwidgets (a path or a binary file).

    The dict is checked (:func:`~mdwidgets.settings.check_settings`) and keeps the run metadata
    (``model``, ``device``, ``dtype``); :meth:`Settings.from_dict` turns it into :class:`Settings`.
    Only the PNG's header and text chunks are read, never its pixels, and every problem (not a
    PNG, a decompression bomb, malformed or hostile JSON, settings of the wrong type) raises
    :class:`~mdwidgets.InputError` naming the file."""
    if isinstance(path, (str, os.PathLike)):
        try:
            with open_regular(path) as fh:
                return _png_metadata(fh, str(path))
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _png_metadata(path, str(getattr(path, "name", path)))


def load_layout_file(path: str | Path) -> tuple[Layout, dict[str, Any]]:
    """The layout in a layout JSON file or an mdwidgets PNG (``.png``), and the settings dict the
    PNG carries (``{}`` for JSON). Every failure, an unreadable file included, is a
    :class:`~mdwidgets.InputError` naming the file."""
    try:
        if not str(path).lower().endswith(".png"):
            return _load_layout(str(path), io.BytesIO(read_limited(path)))
        with open_regular(path) as fh:
            return _load_layout(str(path), fh)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


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
        raise InputError(f"{name}: cannot read as a PNG image ({exc})") from None
    if PNG_LAYOUT_KEY not in text:
        raise LayoutError(f"{name}: this PNG carries no mdwidgets layout (was it made by mdwidgets?)")
    try:
        layout = Layout.from_json(text[PNG_LAYOUT_KEY])
    except LayoutError as exc:
        raise LayoutError(f"{name}: {exc}") from None
    try:
        settings = json.loads(text.get(PNG_SETTINGS_KEY, "{}"))
    except (ValueError, RecursionError):
        raise SettingsError(f"{name}: its settings are not valid JSON") from None
    return layout, check_settings(settings, name)


def write_atomic(path: str | Path, write: Callable[[Path], Any], *, exclusive: bool = False) -> None:
    """Write through a temporary file in the same folder and rename it over ``path``: a crash, a
    kill or a full disk leaves the old file whole, and readers never see half a file.

    ``exclusive``: ``path`` must not exist (``FileExistsError``). It is claimed first with an exclusive
    create (``O_EXCL``: the check and the creation are one step, so of two writers one gets it and the
    other the error), then written as above; if the write fails, the claim is let go."""
    path = Path(path)
    if exclusive:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if exclusive:
            path.unlink(missing_ok=True)
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_new(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Write a new file at ``path``, or at ``name-1.ext``, ``name-2.ext``… where one exists, and return it:
    exports never overwrite, and two writers at once never take the same name (:func:`write_atomic`'s
    ``exclusive``)."""
    path = Path(path)
    candidate, n = path, 0
    while True:
        try:
            write_atomic(candidate, write, exclusive=True)
            return candidate
        except FileExistsError:
            n += 1
            candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
