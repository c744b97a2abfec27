"""The composition as data: canvas size, background prompt and prompted regions.

A :class:`Layout` is immutable. Editors (the Studio, scripts) build new layouts with
:meth:`Layout.replace` / :meth:`Layout.with_regions`, so a running sampler can keep a snapshot
while the user goes on editing.

Rules (all enforced at construction, with :class:`LayoutError` naming the field and value):

- ``width`` and ``height`` are multiples of 8 (the SD latent grid), between 8 and 8192.
- Prompts (background and regions) must contain non-whitespace text; negative prompts may be empty.
- A region has exactly one of ``box`` (pixels, ``x0 < x1``, ``y0 < y1``) or ``mask``
  (a ``height × width`` array, bool or float in [0, 1], not all zero).
- A box that sticks out of the canvas is **clipped** to it with a :class:`LayoutWarning`;
  a box with no area left inside the canvas is rejected.
- A region's ``weight`` (strength) is a finite number in [0, :data:`MAX_REGION_WEIGHT`]; 1 is the default.
- Overlapping regions are allowed. ``Layout.overlap`` (one of :data:`OVERLAP_MODES`) says what happens where
  they overlap: ``"average"`` (the default, the paper's Eq. 5) shares the pixel in proportion to the regions'
  weights; ``"layers"`` stacks them like paint layers, later regions on top.
  :func:`mdwidgets.sampling.masks.fusion_weights` has the exact rules.
- Fields at their defaults are left out of the JSON, so files written before a field existed load unchanged
  and layouts that do not use it write the same bytes as before.
"""

from __future__ import annotations

import base64
import errno
import io
import json
import math
import os
import stat
import unicodedata
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

LAYOUT_VERSION = 1
MAX_SIDE = 8192
EXAMPLES = Path(__file__).resolve().parent / "examples"  #: example layouts and a sweep spec (in the wheel)
MAX_MASK_PIXELS = MAX_SIDE * MAX_SIDE  # all mask pixels of one layout file together
#: the most a layout file (JSON) or a sweep spec may hold: every layout the parser accepts fits (its masks,
#: at most MAX_MASK_PIXELS 8-bit pixels, are about 90 MB as base64 PNG even when they compress not at all)
MAX_FILE_BYTES = 128 * 2**20
#: how regions share a pixel where they overlap (``Layout.overlap``); the first is the default
OVERLAP_MODES = ("average", "layers")
#: the largest region weight: beyond it one region owns any overlap anyway, and float32 masks times it stay finite
MAX_REGION_WEIGHT = 100


class LayoutError(InputError):
    """A layout (or its JSON) is invalid. The message names the field and the offending value."""


class LayoutWarning(UserWarning):
    """A layout was accepted after a change (e.g. a box clipped to the canvas)."""


Box = tuple[float, float, float, float]


def _fail(field_name: str, value: Any, why: str) -> LayoutError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return LayoutError(f"{field_name}={shown}: {why}")


def _number(field_name: str, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _fail(field_name, value, "must be a number")
    try:
        value = float(value)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise _fail(field_name, value, "must be a finite number")
    return int(value) if value.is_integer() else value


def _prompt(field_name: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise _fail(field_name, value, "must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no tokenizer can read it
        raise _fail(field_name, value, "contains characters that are not valid text (lone surrogates)") from None
    if not allow_empty and all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in value):
        raise _fail(field_name, value, "must not be empty (spaces and invisible characters only); "
                                       "describe what goes there")
    return value


def _optional(field_name: str, value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "prompt":
        return _prompt(field_name, value, allow_empty=True)
    if kind == "guidance":
        g = _number(field_name, value)
        if g < 0:
            raise _fail(field_name, value, "must be >= 0")
        return g
    if kind == "seed":
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise _fail(field_name, value, "must be an integer")
        if not 0 <= int(value) < 2**63:
            raise _fail(field_name, value, "must be in [0, 2**63)")
        return int(value)
    raise AssertionError(kind)


def check_canvas_side(field_name: str, value: Any) -> int:
    """Validate a canvas side (multiple of 8 in [8, 8192]) and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise _fail(field_name, value, "must be an integer number of pixels")
    value = int(value)
    if not 8 <= value <= MAX_SIDE:
        raise _fail(field_name, value, f"must be between 8 and {MAX_SIDE} pixels")
    if value % 8:
        lower, upper = value - value % 8, value - value % 8 + 8
        nearest = f"{lower} or {upper}" if lower >= 8 else f"{upper}"
        raise _fail(field_name, value, f"must be a multiple of 8; use {nearest}")
    return value


@dataclass(frozen=True, eq=False)
class Region:
    """One prompted area of the canvas.

    Args:
        prompt: what to draw inside the region.
        box: ``(x0, y0, x1, y1)`` in canvas pixels, right/bottom exclusive.
        mask: instead of ``box``, a ``(height, width)`` array (bool, or float in [0, 1]).
        negative_prompt: overrides the layout's negative prompt for this region.
        guidance_scale: overrides the run's classifier-free guidance for this region.
        seed: draw this region's initial noise from its own seed, so the object can be re-rolled
            without changing the rest of the picture.
        feather: width in pixels of a soft edge (0 = hard edge).
        weight: strength, multiplying the region's mask in the fusion (SemanticDraw's mask strength):
            0 hands the region's pixels to what lies under it, 1 is the plain mask, above 1 takes a larger share
            of an ``"average"`` overlap (and makes a soft edge more opaque under ``"layers"``). At most
            :data:`MAX_REGION_WEIGHT`.
    """

    prompt: str
    box: Box | None = None
    mask: np.ndarray | None = field(default=None, repr=False)
    negative_prompt: str | None = None
    guidance_scale: float | None = None
    seed: int | None = None
    feather: float = 0
    weight: float = 1.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "prompt", _prompt("prompt", self.prompt))
        if (self.box is None) == (self.mask is None):
            raise _fail("box", self.box, "give exactly one of box=(x0, y0, x1, y1) or mask=array")
        if self.box is not None:
            set_(self, "box", _check_box("box", self.box))
        else:
            set_(self, "mask", _check_mask("mask", self.mask))
        set_(self, "negative_prompt", _optional("negative_prompt", self.negative_prompt, "prompt"))
        set_(self, "guidance_scale", _optional("guidance_scale", self.guidance_scale, "guidance"))
        set_(self, "seed", _optional("seed", self.seed, "seed"))
        feather = _number("feather", self.feather)
        if not 0 <= feather <= MAX_SIDE:
            raise _fail("feather", feather, f"must be between 0 and {MAX_SIDE} pixels")
        set_(self, "feather", feather)
        weight = _number("weight", self.weight)
        if not 0 <= weight <= MAX_REGION_WEIGHT:
            raise _fail("weight", weight, f"must be between 0 and {MAX_REGION_WEIGHT} (1: the plain mask; "
                                          "0: the region gives its pixels to what lies under it)")
        set_(self, "weight", float(weight))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Region):
            return NotImplemented
        masks_equal = (self.mask is None and other.mask is None) or (
            self.mask is not None
            and other.mask is not None
            and self.mask.shape == other.mask.shape
            and bool(np.array_equal(self.mask, other.mask))
        )
        return masks_equal and _region_dict(self, with_mask=False) == _region_dict(
            other, with_mask=False
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def bounds(self) -> Box:
        """The box, or the bounding box ``(x0, y0, x1, y1)`` of the mask's non-zero pixels."""
        if self.box is not None:
            return self.box
        ys, xs = np.nonzero(self.mask)
        return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)

    def replace(self, **changes: Any) -> Region:
        """A copy with some fields changed (``box=`` clears ``mask`` and vice versa)."""
        if "box" in changes and changes["box"] is not None:
            changes.setdefault("mask", None)
        if "mask" in changes and changes["mask"] is not None:
            changes.setdefault("box", None)
        return replace(self, **changes)


def _check_box(field_name: str, box: Any) -> Box:
    if isinstance(box, (str, bytes)) or not isinstance(box, Iterable):
        raise _fail(field_name, box, "must be four numbers (x0, y0, x1, y1)")
    items = list(box)
    if len(items) != 4:
        raise _fail(field_name, box, "must be four numbers (x0, y0, x1, y1)")
    x0, y0, x1, y1 = (_number(f"{field_name}[{i}]", v) for i, v in enumerate(items))
    if x1 <= x0 or y1 <= y0:
        raise _fail(field_name, box, "must have x0 < x1 and y0 < y1 (a box with area)")
    return (x0, y0, x1, y1)


def _check_mask(field_name: str, mask: Any) -> np.ndarray:
    try:
        array = np.asarray(mask)
    except Exception as exc:  # noqa: BLE001 - any array-conversion failure is a user error here
        raise _fail(field_name, type(mask).__name__, f"must be an array ({exc})") from None
    if array.ndim != 2:
        raise _fail(field_name, f"array of shape {array.shape}", "must be 2-D (height, width)")
    if array.dtype == bool:
        array = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.number):
        array = array.astype(np.float32, copy=False)
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise _fail(field_name, "array", "values must be finite and within [0, 1]")
    else:
        raise _fail(field_name, f"array of dtype {array.dtype}", "must be bool or numeric")
    if not array.any():
        raise _fail(field_name, "array", "is empty (all zero); paint at least one pixel")
    if array.flags.writeable or array.base is not None:  # the caller's: a copy no later write can change
        array = array.copy()
        array.setflags(write=False)
    return array  # a region's own read-only mask is shared, not copied: edits and undo states cost no memory


@dataclass(frozen=True, eq=True)
class Layout:
    """A canvas with a background prompt and any number of regions (0 = plain text-to-image).

    Args:
        width, height: canvas size in pixels (multiples of 8).
        background: prompt for everything not covered by a region.
        regions: the foreground regions, in stacking order: the first lies just above the background,
            the last on top.
        negative_prompt: default negative prompt for every prompt.
        overlap: where regions overlap, ``"average"`` (default; the paper's Eq. 5: every region there gets a
            share in proportion to its weight) or ``"layers"`` (like paint layers: a region covers the ones
            below it where its mask is 1, partly where it is soft). See :func:`mdwidgets.sampling.masks.fusion_weights`.
    """

    width: int
    height: int
    background: str
    regions: tuple[Region, ...] = ()
    negative_prompt: str = ""
    overlap: str = OVERLAP_MODES[0]

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.overlap, str) or self.overlap not in OVERLAP_MODES:
            raise _fail("overlap", self.overlap, f"must be one of {', '.join(map(repr, OVERLAP_MODES))}")
        set_(self, "width", check_canvas_side("width", self.width))
        set_(self, "height", check_canvas_side("height", self.height))
        set_(self, "background", _prompt("background", self.background))
        set_(self, "negative_prompt", _prompt("negative_prompt", self.negative_prompt, allow_empty=True))
        if isinstance(self.regions, (str, bytes, Mapping)) or not isinstance(self.regions, Iterable):
            raise _fail("regions", self.regions, "must be a list of Region")
        regions = []
        for i, region in enumerate(self.regions):
            if not isinstance(region, Region):
                raise _fail(f"regions[{i}]", region, "must be a Region")
            regions.append(self._fit(i, region))
        set_(self, "regions", tuple(regions))

    def _fit(self, index: int, region: Region) -> Region:
        name = f"regions[{index}]"
        if region.mask is not None:
            if region.mask.shape != (self.height, self.width):
                raise _fail(
                    f"{name}.mask",
                    f"array of shape {region.mask.shape}",
                    f"must have the canvas shape (height, width) = ({self.height}, {self.width})",
                )
            return region
        x0, y0, x1, y1 = region.box
        clipped = (max(x0, 0), max(y0, 0), min(x1, self.width), min(y1, self.height))
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            raise _fail(
                f"{name}.box", region.box, f"lies outside the {self.width}x{self.height} canvas"
            )
        if clipped != (x0, y0, x1, y1):
            warnings.warn(
                f"{name}.box={region.box} sticks out of the {self.width}x{self.height} canvas; "
                f"clipped to {clipped}",
                LayoutWarning,
                stacklevel=4,
            )
            return region.replace(box=clipped)
        return region

    @property
    def prompts(self) -> list[str]:
        """Prompts in sampler order: ``[background, region 1, …, region N]``."""
        return [self.background, *(r.prompt for r in self.regions)]

    def replace(self, **changes: Any) -> Layout:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def with_regions(self, regions: Sequence[Region]) -> Layout:
        return replace(self, regions=tuple(regions))

    # -- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "mdwidgets_layout": LAYOUT_VERSION,
            "width": self.width,
            "height": self.height,
            "background": self.background,
            "negative_prompt": self.negative_prompt,
            "regions": [_region_dict(r) for r in self.regions],
            **({"overlap": self.overlap} if self.overlap != OVERLAP_MODES[0] else {}),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> Layout:
        """Parse the JSON form. Raises :class:`LayoutError` for any problem, never another error."""
        if not isinstance(data, Mapping):
            raise _fail("layout", data, "must be a JSON object")
        version = data.get("mdwidgets_layout")
        if version != LAYOUT_VERSION:
            raise _fail(
                "mdwidgets_layout",
                version,
                f"this mdwidgets reads layout version {LAYOUT_VERSION}"
                + ("" if version is not None else "; is this an mdwidgets layout file?"),
            )
        _no_unknown_keys("layout", data, _LAYOUT_KEYS)
        for key in ("width", "height", "background"):
            if key not in data:
                raise _fail(key, None, "is required")
        canvas = (check_canvas_side("width", data["width"]), check_canvas_side("height", data["height"]))
        regions_data = data.get("regions", [])
        if not isinstance(regions_data, list):
            raise _fail("regions", regions_data, "must be a list")
        masks = sum(isinstance(r, Mapping) and "mask" in r for r in regions_data)
        if masks * canvas[0] * canvas[1] > MAX_MASK_PIXELS:  # checked before any mask is decoded
            raise _fail("regions", f"{masks} masks of {canvas[0]}x{canvas[1]}",
                        f"too many mask pixels (at most {MAX_MASK_PIXELS:,} in all); use boxes or a smaller canvas")
        regions = []
        for i, item in enumerate(regions_data):
            try:
                regions.append(_region_from_dict(item, canvas))
            except LayoutError as exc:
                raise LayoutError(f"regions[{i}].{exc}") from None
        return cls(
            width=data["width"],
            height=data["height"],
            background=data["background"],
            regions=tuple(regions),
            negative_prompt=data.get("negative_prompt", ""),
            overlap=data.get("overlap", OVERLAP_MODES[0]),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Layout:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LayoutError(f"layout JSON is malformed: {exc}") from None
        except RecursionError:
            raise LayoutError("layout JSON is nested too deeply to be a layout") from None
        return cls.from_dict(data)

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.to_json() + "\n")

    @classmethod
    def load(cls, path: str) -> Layout:
        """A layout JSON file (a regular file of at most :data:`MAX_FILE_BYTES`; see :func:`read_limited`)."""
        return cls.from_json(read_limited(path))


def open_regular(path: str | os.PathLike) -> io.BufferedReader:
    """``path`` opened for reading if it is a regular file; ``OSError`` for a folder, a FIFO or a device.

    It is opened without blocking and checked on the open file (``fstat``), so a FIFO cannot hang the
    caller and nothing can be swapped in between the check and the read."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file (a folder, pipe or device)", os.fspath(path))
    return os.fdopen(fd, "rb")


def read_limited(path: str | os.PathLike, limit: int | None = None) -> bytes:
    """The content of the regular file ``path`` (:func:`open_regular`); ``OSError`` if it holds more than
    ``limit`` bytes (default :data:`MAX_FILE_BYTES`; at most ``limit + 1`` are read, whatever its size says)."""
    limit = MAX_FILE_BYTES if limit is None else limit
    with open_regular(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit / 2**20:g} MiB, the most this reader takes", os.fspath(path))
    return data


_LAYOUT_KEYS = {"mdwidgets_layout", "width", "height", "background", "negative_prompt", "regions", "overlap"}
_REGION_KEYS = {"prompt", "box", "mask", "negative_prompt", "guidance_scale", "seed", "feather", "weight"}


def _no_unknown_keys(where: str, data: Mapping, known: set[str]) -> None:
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise _fail(
            f"{where}.{unknown[0]}", data[unknown[0]] if unknown[0] in data else None,
            f"unknown key; allowed keys are {sorted(known)}",
        )


def _region_dict(region: Region, with_mask: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"prompt": region.prompt}
    if region.box is not None:
        out["box"] = list(region.box)
    elif with_mask:
        out["mask"] = _mask_to_png_b64(region.mask)
    for key in ("negative_prompt", "guidance_scale", "seed"):
        if getattr(region, key) is not None:
            out[key] = getattr(region, key)
    if region.feather:
        out["feather"] = region.feather
    if region.weight != 1:
        out["weight"] = region.weight
    return out


def _region_from_dict(data: Any, canvas: tuple[int, int]) -> Region:
    if not isinstance(data, Mapping):
        raise _fail("region", data, "must be a JSON object")
    _no_unknown_keys("region", data, _REGION_KEYS)
    if "prompt" not in data:
        raise _fail("prompt", None, "is required")
    kwargs = {k: data[k] for k in _REGION_KEYS & set(data) if k != "mask"}
    if "mask" in data:
        kwargs["mask"] = _mask_from_png_b64(data["mask"], canvas)
    return Region(**kwargs)


def _mask_to_png_b64(mask: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.round(mask * 255).astype(np.uint8), mode="L").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _mask_from_png_b64(text: Any, canvas: tuple[int, int]) -> np.ndarray:
    """A mask from its base64 PNG: PNG only, and its size (from the header) must be the canvas's
    before any pixel is decoded."""
    from PIL import Image

    if not isinstance(text, str):
        raise _fail("mask", text, "must be a base64-encoded greyscale PNG string")
    try:
        image = Image.open(io.BytesIO(base64.b64decode(text, validate=True)), formats=["PNG"])
    except Exception:  # noqa: BLE001 - any decoding failure is a user error here
        raise _fail("mask", text, "is not a base64-encoded PNG image") from None
    if image.size != canvas:
        raise _fail("mask", f"{image.size[0]}x{image.size[1]} PNG", f"must be the canvas size, {canvas[0]}x{canvas[1]}")
    try:
        return _mask_values(image)
    except Exception:  # noqa: BLE001
        raise _fail("mask", text, "is not a readable PNG image") from None


def _mask_values(image) -> np.ndarray:
    """A mask PNG's pixels in [0, 1], scaled by its bit depth: 16-bit greyscale (PIL's ``I;16``/``I``
    modes) by 65535, anything else as 8-bit grey by 255 (``convert("L")`` would clip 16-bit values)."""
    if image.mode.startswith("I"):
        return np.clip(np.asarray(image, dtype=np.float32) / 65535.0, 0.0, 1.0)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def example_layouts() -> dict[str, Path]:
    """The example layouts shipped with mdwidgets, by name (``shapes``, ``panorama``, …)."""
    return {p.stem: p for p in sorted(EXAMPLES.glob("*.json")) if '"mdwidgets_layout"' in p.read_text(encoding="utf-8")}
