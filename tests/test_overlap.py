"""Issue #35, data and sampler: ``Region.weight`` and ``Layout.overlap`` in the data model, JSON and PNG
metadata; the fusion weights of both overlap modes against hand-computed formulas; the sampler equal to
the literal reference in both modes."""

import io
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from mdwidgets import Layout, LayoutError, Region, compose, fusion_weights
from mdwidgets.files import png_info, read_png_metadata, save_png
from mdwidgets.layout import MAX_FILE_BYTES, MAX_REGION_WEIGHT, OVERLAP_MODES
from mdwidgets.masks import region_mask
from mdwidgets.reference import plain_multidiffusion
from mdwidgets.sampler import _bootstrap_backgrounds
from tests.devices import tolerance

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


# -- fusion weights against formulas ---------------------------------------------------------------

A_ONLY, OVERLAP, B_ONLY, NONE = (0, 0), (3, 3), (5, 5), (7, 7)  # latent cells of two_boxes()


def two_boxes(weights=(1, 1), overlap="average"):
    """A (cells 0-3) under B (cells 2-5) on an 8x8 latent grid: they overlap on cells 2-3."""
    return Layout(64, 64, "bg", [Region("a", box=(0, 0, 32, 32), weight=weights[0]),
                                 Region("b", box=(16, 16, 48, 48), weight=weights[1])], overlap=overlap)


def at(w, cell):
    return w[:, 0, cell[0], cell[1]]


@pytest.mark.parametrize(
    "weights, overlap, expected",  # [background, A, B] at A only, the overlap, B only, no region
    [
        ((1, 1), "average", [[0, 1, 0], [0, 1 / 2, 1 / 2], [0, 0, 1], [1, 0, 0]]),
        ((2, 1), "average", [[0, 1, 0], [0, 2 / 3, 1 / 3], [0, 0, 1], [1, 0, 0]]),
        ((0.5, 0.25), "average", [[0.5, 0.5, 0], [0.25, 0.5, 0.25], [0.75, 0, 0.25], [1, 0, 0]]),
        ((0, 0), "average", [[1, 0, 0]] * 4),  # all weights 0: the background takes over
        ((1, 1), "layers", [[0, 1, 0], [0, 0, 1], [0, 0, 1], [1, 0, 0]]),  # B (later) covers A
        ((1, 0.25), "layers", [[0, 1, 0], [0, 0.75, 0.25], [0.75, 0, 0.25], [1, 0, 0]]),
        ((0.5, 0.5), "layers", [[0.5, 0.5, 0], [0.25, 0.25, 0.5], [0.5, 0, 0.5], [1, 0, 0]]),
        ((1, 3), "layers", [[0, 1, 0], [0, 0, 1], [0, 0, 1], [1, 0, 0]]),  # > 1 changes no hard mask
        ((0, 0), "layers", [[1, 0, 0]] * 4),
    ],
)
def test_weights_of_two_boxes_by_hand(weights, overlap, expected):
    w = fusion_weights(two_boxes(weights, overlap))
    for cell, want in zip((A_ONLY, OVERLAP, B_ONLY, NONE), expected):
        assert torch.allclose(at(w, cell), torch.tensor(want, dtype=torch.float32), atol=1e-7), (cell, at(w, cell))


def soft_pair(weights, overlap):
    """Soft masks of constant value per latent cell (so pooling keeps them): A is 0.6, B 0.5 on cell (0, 0)."""
    a, b = np.zeros((64, 64), np.float32), np.zeros((64, 64), np.float32)
    a[:8, :8], b[:8, :8] = 0.6, 0.5
    return Layout(64, 64, "bg", [Region("a", mask=a, weight=weights[0]), Region("b", mask=b, weight=weights[1])],
                  overlap=overlap)


@pytest.mark.parametrize(
    "weights, overlap, expected",
    [
        ((1, 1), "average", [0, 0.6 / 1.1, 0.5 / 1.1]),  # the masks sum past 1: no background, shared 6:5
        ((0.5, 0.5), "average", [0.45, 0.3, 0.25]),  # a = 0.3, 0.25: the background fills 0.45
        ((1, 1), "layers", [0.4 * 0.5, 0.6 * 0.5, 0.5]),  # B shows 0.5; A 0.6 of the rest; background the rest
        ((1, 1.5), "layers", [0.4 * 0.25, 0.6 * 0.25, 0.75]),  # weight 1.5: B covers 0.75
        ((1, 4), "layers", [0, 0, 1]),  # 0.5 x 4 clipped to 1: opaque
    ],
)
def test_weights_of_soft_masks_by_hand(weights, overlap, expected):
    w = fusion_weights(soft_pair(weights, overlap))
    assert torch.allclose(at(w, (0, 0)), torch.tensor(expected, dtype=torch.float32), atol=1e-6)


def random_layout(seed, overlap, n=4):
    """Boxes, soft painted masks and feathers with random weights (some 0, some above 1) on a 96x64 canvas."""
    rng = np.random.default_rng(seed)
    regions = []
    for i in range(n):
        weight = float(rng.choice([0, 0.3, 1, 1, 2.5]))
        if i % 2:
            mask = np.clip(rng.uniform(-0.5, 1.2, (64, 96)), 0, 1).astype(np.float32)
            regions.append(Region(f"r{i}", mask=mask, weight=weight))
        else:
            x0, y0 = rng.integers(0, 60), rng.integers(0, 40)
            feather = float(rng.choice([0, 16]))
            regions.append(Region(f"r{i}", box=(x0, y0, x0 + 32, y0 + 24), weight=weight, feather=feather))
    return Layout(96, 64, "bg", regions, overlap=overlap)


@pytest.mark.parametrize("seed", range(6))
def test_layers_are_alpha_over_compositing(seed):
    """Painting one-hot colours bottom to top with opacity min(weight * mask, 1) gives the weights."""
    lay = random_layout(seed, "layers")
    masks = [region_mask(r, 8, 12, 8) for r in lay.regions]
    canvas = torch.zeros(len(masks) + 1, 8, 12)
    canvas[0] = 1  # the background: the bottom layer, opaque
    for i, (region, mask) in enumerate(zip(lay.regions, masks), start=1):
        opacity = (region.weight * mask).clamp(max=1)
        colour = torch.zeros(len(masks) + 1, 1, 1)
        colour[i] = 1
        canvas = opacity * colour + (1 - opacity) * canvas
    assert torch.allclose(fusion_weights(lay)[:, 0], canvas, atol=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_average_is_weighted_eq5(seed):
    lay = random_layout(seed, "average")
    a = torch.stack([r.weight * region_mask(r, 8, 12, 8) for r in lay.regions])
    background = torch.clamp(1 - a.sum(0), min=0)
    expected = torch.cat([background[None], a]) / torch.maximum(a.sum(0), torch.ones(8, 12))
    w = fusion_weights(lay)[:, 0]
    assert torch.allclose(w, expected, atol=1e-6)
    assert torch.allclose(w.sum(0), torch.ones(8, 12), atol=1e-6) and (w >= 0).all()


def old_fusion_weights(layout, scale=8):
    """fusion_weights as it was before weights and overlap modes (verbatim)."""
    height, width = layout.height // scale, layout.width // scale
    foreground = [region_mask(r, height, width, scale) for r in layout.regions]
    background = (1 - sum(foreground, torch.zeros(height, width))).clamp(min=0)
    masks = torch.stack([background, *foreground])[:, None]
    return masks / masks.sum(0, keepdim=True)


@pytest.mark.parametrize("seed", range(6))
def test_average_with_weights_1_is_bit_identical_to_before(seed):
    lay = random_layout(seed, "average")
    lay = lay.with_regions([r.replace(weight=1) for r in lay.regions])
    assert torch.equal(fusion_weights(lay), old_fusion_weights(lay))


# -- the sampler ----------------------------------------------------------------------------------


def nested(overlap, weights=(1, 1)):
    """A small box inside a big one, and one partly overlapping both."""
    return Layout(64, 64, "a blue background", [
        Region("a yellow square", box=(0, 0, 48, 48), weight=weights[0]),
        Region("a red circle", box=(16, 16, 32, 32), weight=weights[1]),
        Region("a green triangle", box=(24, 24, 64, 64), feather=8)], overlap=overlap)


def test_compose_average_with_weights_1_is_bit_identical_to_before(tiny_pipe, monkeypatch):
    latents = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(0))
    kwargs = dict(num_inference_steps=4, latents=latents, bootstrap_steps=2, output_type="latent", seed=1)
    now = compose(tiny_pipe, nested("average"), **kwargs).latents
    monkeypatch.setattr("mdwidgets.sampler.fusion_weights", old_fusion_weights)
    assert torch.equal(now, compose(tiny_pipe, nested("average"), **kwargs).latents)


@pytest.mark.parametrize("overlap, weights", [("layers", (1, 1)), ("layers", (0.5, 2)), ("average", (0.3, 2.5))])
@pytest.mark.parametrize("window", [None, 4])
def test_compose_equals_the_reference_in_both_modes(tiny_pipe, overlap, weights, window):
    """With bootstrapping and (window=4) sliding windows of 4x4 cells, stride 2, on the 8x8 latent."""
    layout = nested(overlap, weights)
    latents = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(2))
    ours = compose(tiny_pipe, layout, num_inference_steps=4, latents=latents, bootstrap_steps=2, scheduler="ddim",
                   window=window, stride=2, output_type="latent", generator=torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    backgrounds = _bootstrap_backgrounds(tiny_pipe.vae, 3, 2, generator, "cpu")
    ref = plain_multidiffusion(tiny_pipe, layout, num_inference_steps=4, guidance_scale=7.5, latents=latents,
                               scheduler="ddim", bootstrap_backgrounds=backgrounds, window=window, stride=2)
    error = ((ours.latents - ref).abs().max() / ref.abs().max().clamp(min=1)).item()
    assert error <= tolerance(tiny_pipe)


def test_modes_differ_and_covered_layers_cost_no_rows(tiny_pipe):
    latents = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(2))
    runs = {mode: compose(tiny_pipe, nested(mode), num_inference_steps=2, latents=latents, bootstrap_steps=0,
                          output_type="latent", seed=0).latents for mode in OVERLAP_MODES}
    assert not torch.allclose(runs["average"], runs["layers"])
    covered = Layout(64, 64, "bg", [Region("under", box=(16, 16, 32, 32)), Region("over", box=(0, 0, 48, 48))],
                     overlap="layers")
    w = fusion_weights(covered)
    assert not w[1].any()  # the region under an opaque one has no weight, so no path and no UNet rows


def test_all_weights_zero_renders_the_background_alone(tiny_pipe):
    latents = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(4))
    kwargs = dict(num_inference_steps=3, latents=latents, bootstrap_steps=1, output_type="latent", seed=0)
    layout = nested("average")
    zero = compose(tiny_pipe, layout.with_regions([r.replace(weight=0) for r in layout.regions]), **kwargs)
    plain = compose(tiny_pipe, Layout(64, 64, "a blue background"), **kwargs)
    assert torch.equal(zero.latents, plain.latents)


# -- command line ---------------------------------------------------------------------------------


def test_cli_overlap_and_region_weight_go_into_the_png(tmp_path, capsys):
    from mdwidgets.cli import EXAMPLES, main

    out = tmp_path / "out.png"
    assert main(["render", str(EXAMPLES / "shapes.json"), "-o", str(out), "--steps", "2", "--seed", "1",
                 "--overlap", "layers", "--region-weight", "1=0.5", "--region-weight", "2=2"]) == 0
    assert "overlap layers" in capsys.readouterr().out
    layout, _ = read_png_metadata(out)
    original = Layout.load(EXAMPLES / "shapes.json")
    assert layout.overlap == "layers" and [r.weight for r in layout.regions][:2] == [0.5, 2.0]
    assert layout.with_regions([r.replace(weight=1) for r in layout.regions]).replace(overlap="average") == original
    again = tmp_path / "again.png"  # re-rendering the PNG keeps them
    assert main(["render", str(out), "-o", str(again)]) == 0
    assert read_png_metadata(again)[0] == layout
    assert Image.open(again).tobytes() == Image.open(out).tobytes()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--region-weight", "9=1"], "--region-weight 9=1: the layout has regions 1 to"),
        (["--region-weight", "1=-1"], "--region-weight 1=-1: weight=-1: must be between 0 and 100"),
        (["--region-weight", "1=nan"], "--region-weight 1=nan: weight=nan: must be a finite number"),
    ],
)
def test_cli_bad_region_weights_exit_2_before_a_model_loads(tmp_path, capsys, monkeypatch, flags, message):
    from mdwidgets.cli import EXAMPLES, main

    monkeypatch.setattr("mdwidgets.models.load_pipeline", lambda *a, **k: pytest.fail("loaded a model"))
    assert main(["render", str(EXAMPLES / "shapes.json"), "-o", str(tmp_path / "x.png"), *flags]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--region-weight", "two"], ["--region-weight", "1:2"], ["--overlap", "max"]])
def test_cli_malformed_overlap_flags_are_usage_errors(tmp_path, flags):
    from mdwidgets.cli import EXAMPLES, main

    with pytest.raises(SystemExit):
        main(["render", str(EXAMPLES / "shapes.json"), "-o", str(tmp_path / "x.png"), *flags])


# -- sweeps ---------------------------------------------------------------------------------------


def sweep_spec(tmp_path, **changes):
    from mdwidgets.sweep import load_spec

    small = {"mdwidgets_layout": 1, "width": 64, "height": 64, "background": "a blue background", "name": "small",
             "regions": [{"prompt": "a red circle", "box": [8, 8, 40, 40]},
                         {"prompt": "a yellow square", "box": [24, 24, 56, 56]}]}
    return load_spec({"model": "builtin:tiny-random", "layouts": [small], "steps": 2, "bootstrap_steps": 0,
                      "output": str(tmp_path / "out"), **changes})


def test_sweep_overlap_axis_keeps_the_ids_of_average_cells(tmp_path, tiny_pipe):
    import csv

    from mdwidgets.sweep import run_sweep

    plain = sweep_spec(tmp_path).cells()
    cells = sweep_spec(tmp_path, overlap=["average", "layers"]).cells()
    assert [c.layout.overlap for c in cells] == ["average", "layers"]
    assert cells[0].id == plain[0].id  # extending a sweep by the axis keeps its finished cells
    assert cells[1].id.startswith("small-layers-s0-") and cells[1].id != cells[0].id
    assert sweep_spec(tmp_path, overlap="layers").cells()[0].id == cells[1].id
    report = run_sweep(sweep_spec(tmp_path, overlap=["average", "layers"]), pipe=tiny_pipe, log=lambda line: None)
    assert report.rendered == 2
    with open(tmp_path / "out" / "results.csv", newline="") as fh:
        rows = {row["cell"]: row for row in csv.DictReader(fh)}
    assert [rows[c.id]["overlap"] for c in cells] == ["average", "layers"]
    assert read_png_metadata(tmp_path / "out" / f"{cells[1].id}.png")[0].overlap == "layers"


@pytest.mark.parametrize("value, message", [(["max"], "overlap 'max' must be one of 'average', 'layers'"),
                                            ([], "axis 'overlap' is empty"),
                                            ([1], "overlap 1 must be one of")])
def test_sweep_bad_overlap_axis(tmp_path, value, message):
    with pytest.raises(ValueError, match=message):
        sweep_spec(tmp_path, overlap=value)


def test_compare_overlap_modes_side_by_side(tiny_pipe):
    from mdwidgets.views import compare

    result = compare(tiny_pipe, nested("average"), "overlap", num_inference_steps=2, score=lambda i, lay: None)
    assert [res.layout.overlap for res in result.results] == ["average", "layers"]
    assert result.table() == [{"overlap": "average"}, {"overlap": "layers"}]
    assert not torch.equal(result.results[0].latents, result.results[1].latents)
