"""Latents <-> images, and PNG files that carry the layout and settings that made them."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch
from PIL import Image, PngImagePlugin

from .layout import Layout, LayoutError

PNG_LAYOUT_KEY = "mdwidgets_layout"
PNG_SETTINGS_KEY = "mdwidgets_settings"
TILED_DECODE_ABOVE = 1024  # px: larger images are decoded in overlapping tiles to bound memory


def vae_scale_factor(vae) -> int:
    """Pixels per latent cell: each VAE down block after the first halves the resolution."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def _vae_scaling(vae) -> tuple[float, float]:
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return vae.config.scaling_factor, shift


def decode_latents(vae, latents: torch.Tensor) -> Image.Image:
    """Decode SD latents ``(1, C, h, w)`` to a PIL image.

    A float16 VAE is upcast to float32 first (once, in place): SD VAEs overflow to NaN in half
    precision on some images, which shows as a black picture. Images larger than
    ``TILED_DECODE_ABOVE`` px on a side are decoded in overlapping tiles (diffusers' tiled decode).
    """
    if vae.dtype == torch.float16:
        vae.to(torch.float32)
    scaling, shift = _vae_scaling(vae)
    scale = vae_scale_factor(vae)
    tiled = max(latents.shape[-2:]) * scale > TILED_DECODE_ABOVE and hasattr(vae, "tiled_decode")
    decode = vae.tiled_decode if tiled else vae.decode
    with torch.inference_mode():
        pixels = decode(latents.to(vae.device, vae.dtype) / scaling + shift, return_dict=False)[0]
    if not torch.isfinite(pixels).all():
        raise FloatingPointError(
            "the VAE decoded NaN/inf pixels; keep the VAE in float32 (load_pipeline does)"
        )
    array = ((pixels[0].float() / 2 + 0.5).clamp(0, 1) * 255).round().byte().permute(1, 2, 0)
    return Image.fromarray(array.cpu().numpy())


def encode_flat_colours(vae, colours: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Latents of flat images of the given RGB ``colours`` in [0, 1], shape ``(K, C, 1, 1)``.

    A flat image encodes to a (nearly) flat latent, so a small image and its mean latent stand
    for a flat canvas of any size at a fraction of the cost.
    """
    scaling, shift = _vae_scaling(vae)
    images = (colours.to(vae.device, vae.dtype) * 2 - 1)[:, :, None, None].expand(-1, -1, size, size)
    latents = vae.encode(images).latent_dist.mode()
    return ((latents - shift) * scaling).float().mean(dim=(2, 3), keepdim=True)


def save_png(
    image: Image.Image, path: str | Path, layout: Layout, settings: dict[str, Any] | None = None
) -> Path:
    """Write ``image`` as PNG with the layout and settings embedded as text chunks."""
    info = PngImagePlugin.PngInfo()
    info.add_text(PNG_LAYOUT_KEY, layout.to_json(indent=None))
    info.add_text(PNG_SETTINGS_KEY, json.dumps(settings or {}))
    path = Path(path)
    write_atomic(path, lambda tmp: image.save(tmp, format="PNG", pnginfo=info))
    return path


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


def read_png_metadata(path: str | Path | BinaryIO) -> tuple[Layout, dict[str, Any]]:
    """The layout and settings embedded in a PNG made by mdwidgets (a path or a binary file).

    Only the PNG's header and text chunks are read, never its pixels, and every problem (not a
    PNG, a decompression bomb, malformed or hostile JSON, settings of the wrong type) raises
    :class:`LayoutError` naming the file."""
    name = getattr(path, "name", path)
    try:
        with Image.open(path, formats=["PNG"]) as image:
            text = {k: v for k, v in image.info.items() if isinstance(v, str)}  # chunks before the pixels
    except Exception as exc:  # noqa: BLE001 - OSError, DecompressionBombError, ValueError (huge chunk)…
        raise LayoutError(f"{name}: cannot read as a PNG image ({exc})") from None
    if PNG_LAYOUT_KEY not in text:
        raise LayoutError(f"{name}: this PNG carries no mdwidgets layout (was it made by mdwidgets?)")
    layout = Layout.from_json(text[PNG_LAYOUT_KEY])
    try:
        settings = json.loads(text.get(PNG_SETTINGS_KEY, "{}"))
    except (ValueError, RecursionError):
        raise LayoutError(f"{name}: its settings are not valid JSON") from None
    return layout, check_settings(settings, name)


# What each rendering setting in a PNG must be (None is always allowed: "the default").
_SETTING_KINDS = {
    "model": "text", "scheduler": "text", "device": "text", "dtype": "text", "circular": "flag",
    "steps": "positive", "window": "positive", "stride": "positive", "max_batch": "positive",
    "bootstrap_steps": "count", "seed": "count", "guidance_scale": "number", "eta": "number",
}
_KIND_RULES = {
    "text": ("a string", lambda v: isinstance(v, str)),
    "flag": ("true or false", lambda v: isinstance(v, bool)),
    "positive": ("a whole number >= 1", lambda v: type(v) is int and 1 <= v < 2**63),
    "count": ("a whole number >= 0", lambda v: type(v) is int and 0 <= v < 2**63),
    "number": ("a finite number >= 0", lambda v: type(v) in (int, float) and math.isfinite(v) and v >= 0),
}


def check_settings(settings: Any, where: str | Path = "settings") -> dict[str, Any]:
    """Rendering settings from a file, checked before anything uses them (unknown keys are kept)."""
    if not isinstance(settings, dict):
        raise LayoutError(f"{where}: settings must be a JSON object, not {type(settings).__name__}")
    for key, value in settings.items():
        problem = setting_problem(key, value)
        if problem:
            raise LayoutError(f"{where}: setting {key}={value!r:.60} must be {problem}")
    return settings


def setting_problem(key: str, value: Any) -> str | None:
    """What a rendering setting must be, if ``value`` is not that (``None`` is always fine)."""
    kind = _SETTING_KINDS.get(key)
    if kind is None or value is None:
        return None
    description, valid = _KIND_RULES[kind]
    return None if valid(value) else description


def unique_path(path: str | Path) -> Path:
    """``path``, or ``name-1.ext``, ``name-2.ext``… if it exists: exports never overwrite."""
    path = Path(path)
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate
