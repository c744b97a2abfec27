import json
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mdwidgets import Layout, LayoutError, LayoutWarning, Region, fusion_weights
from mdwidgets.sampling.masks import region_mask


def layout(**changes):
    base = dict(
        width=256, height=128, background="a blue background",
        regions=(Region("a red circle", box=(8, 8, 64, 64)),), negative_prompt="",
    )
    base.update(changes)
    return Layout(**base)


# -- construction and validation ------------------------------------------------------------------


def test_prompts_in_sampler_order():
    lay = layout(regions=[Region("a", box=(0, 0, 8, 8)), Region("b", box=(8, 8, 16, 16))])
    assert lay.prompts == ["a blue background", "a", "b"]
    assert isinstance(lay.regions, tuple)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(width=500), "width=500: must be a multiple of 8; use 496 or 504"),
        (dict(height=4), "height=4: must be between 8 and 8192 pixels"),
        (dict(width=9000), "width=9000: must be between 8 and 8192"),
        (dict(width="256"), "width='256': must be an integer number of pixels"),
        (dict(background="   "), "background='   ': must not be empty"),
        (dict(background=None), "background=None: must be a string"),
        (dict(negative_prompt=3), "negative_prompt=3: must be a string"),
        (dict(regions="a red circle"), "regions='a red circle': must be a list of Region"),
        (dict(regions=[{"prompt": "x"}]), "regions[0]={'prompt': 'x'}: must be a Region"),
        (dict(regions=[Region("x", box=(300, 0, 400, 8))]), "regions[0].box=(300, 0, 400, 8): lies outside"),
        (dict(regions=[Region("x", mask=np.ones((8, 8)))]), "regions[0].mask=" ),
    ],
)
def test_layout_errors_name_field_and_value(changes, message):
    with pytest.raises(LayoutError) as info:
        layout(**changes)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(prompt=""), "prompt='': must not be empty"),
        (dict(prompt="\u200b\u200b \ufeff"), "must not be empty (spaces and invisible characters only)"),
        (dict(prompt="a red \ud800 circle", box=(0, 0, 8, 8)), "contains characters that are not valid text"),
        (dict(prompt="x", box=(10, 10, 10, 20)), "box=(10, 10, 10, 20): must have x0 < x1 and y0 < y1"),
        (dict(prompt="x", box=(10, 30, 20, 20)), "must have x0 < x1 and y0 < y1"),
        (dict(prompt="x", box=(0, 0, math.nan, 8)), "box[2]=nan: must be a finite number"),
        (dict(prompt="x", box=(0, 0, 8)), "must be four numbers"),
        (dict(prompt="x", box="0,0,8,8"), "must be four numbers"),
        (dict(prompt="x"), "give exactly one of box"),
        (dict(prompt="x", box=(0, 0, 8, 8), mask=np.ones((8, 8))), "give exactly one of box"),
        (dict(prompt="x", mask=np.zeros((8, 8))), "is empty (all zero)"),
        (dict(prompt="x", mask=np.full((8, 8), 2.0)), "within [0, 1]"),
        (dict(prompt="x", mask=np.ones(8)), "must be 2-D"),
        (dict(prompt="x", mask=np.array([["a"]])), "must be bool or numeric"),
        (dict(prompt="x", box=(0, 0, 8, 8), guidance_scale=-1), "guidance_scale=-1: must be >= 0"),
        (dict(prompt="x", box=(0, 0, 8, 8), seed=1.5), "seed=1.5: must be an integer"),
        (dict(prompt="x", box=(0, 0, 8, 8), feather=-2), "feather=-2: must be between 0 and 8192"),
        (dict(prompt="x", box=(0, 0, 10**400, 8)), "box[2]=inf: must be a finite number"),
        (dict(prompt="x", box=(0, 0, 8, 8), negative_prompt=5), "negative_prompt=5: must be a string"),
    ],
)
def test_region_errors_name_field_and_value(kwargs, message):
    with pytest.raises(LayoutError) as info:
        Region(**kwargs)
    assert message in str(info.value)


def test_box_sticking_out_is_clipped_with_warning():
    with pytest.warns(LayoutWarning, match=r"regions\[0\].box=\(-16, 8, 300, 64\) sticks out"):
        lay = layout(regions=[Region("x", box=(-16, 8, 300, 64))])
    assert lay.regions[0].box == (0, 8, 256, 64)


def test_box_inside_canvas_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layout()


def test_layout_is_immutable_and_replace_validates():
    lay = layout()
    with pytest.raises(AttributeError):
        lay.width = 64
    assert lay.replace(width=512).width == 512
    with pytest.raises(LayoutError, match="width=100"):
        lay.replace(width=100)
    region = lay.regions[0]
    masked = region.replace(mask=np.ones((128, 256)))
    assert masked.box is None and masked.mask.shape == (128, 256)
    assert not masked.mask.flags.writeable


# -- JSON --------------------------------------------------------------------------------------


def test_json_round_trip_with_every_field():
    mask = np.zeros((128, 256), dtype=bool)
    mask[10:50, 100:200] = True
    lay = Layout(
        256, 128, "a blue background",
        [
            Region("a red circle", box=(8, 8.5, 64, 64), negative_prompt="blur", guidance_scale=5,
                   seed=7, feather=16),
            Region("a yellow square", mask=mask),
        ],
        negative_prompt="ugly",
    )
    data = json.loads(lay.to_json())
    assert data["mdwidgets_layout"] == 1
    assert data["regions"][0] == {
        "prompt": "a red circle", "box": [8, 8.5, 64, 64], "negative_prompt": "blur",
        "guidance_scale": 5, "seed": 7, "feather": 16,
    }
    again = Layout.from_json(lay.to_json())
    assert again == lay
    assert np.array_equal(again.regions[1].mask, mask.astype(np.float32))


def test_save_and_load(tmp_path):
    path = tmp_path / "layout.json"
    layout().save(path)
    assert Layout.load(path) == layout()


def good_json():
    return layout().to_dict()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("mdwidgets_layout"), "mdwidgets_layout=None: this mdwidgets reads layout version 1; is this"),
        (lambda d: d.update(mdwidgets_layout=2), "mdwidgets_layout=2: this mdwidgets reads layout version 1"),
        (lambda d: d.update(colour="red"), "layout.colour='red': unknown key"),
        (lambda d: d.pop("width"), "width=None: is required"),
        (lambda d: d.update(width=12.5), "width=12.5: must be an integer"),
        (lambda d: d.update(regions={}), "regions={}: must be a list"),
        (lambda d: d["regions"].append(5), "regions[1].region=5: must be a JSON object"),
        (lambda d: d["regions"][0].update(box=[0, 0, "8", 8]), "regions[0].box[2]='8': must be a number"),
        (lambda d: d["regions"][0].update(colour=1), "regions[0].region.colour=1: unknown key"),
        (lambda d: d["regions"][0].pop("prompt"), "regions[0].prompt=None: is required"),
        (lambda d: d["regions"][0].update(mask="notpng", box=None), "regions[0].mask='notpng': is not a base64"),
    ],
)
def test_json_errors_name_field_and_value(mutate, message):
    data = good_json()
    mutate(data)
    with pytest.raises(LayoutError) as info:
        Layout.from_dict(data)
    assert message in str(info.value)


@pytest.mark.parametrize("text", ["{", "[]", "null", '"x"', b"\xff\xfe"])
def test_malformed_json(text):
    with pytest.raises(LayoutError):
        Layout.from_json(text)


# -- masks and fusion weights ------------------------------------------------------------------


def test_box_maps_outward_to_latent_cells():
    mask = region_mask(Region("x", box=(9, 3, 17, 5)), 16, 32, 8)
    rows, cols = torch.nonzero(mask, as_tuple=True)
    assert (rows.min().item(), rows.max().item()) == (0, 0)
    assert (cols.min().item(), cols.max().item()) == (1, 2)


def test_overlaps_average_and_background_fills_the_rest():
    lay = Layout(64, 64, "bg", [Region("a", box=(0, 0, 32, 32)), Region("b", box=(16, 16, 48, 48))])
    w = fusion_weights(lay)
    assert w.shape == (3, 1, 8, 8)
    assert torch.allclose(w[:, 0, 3, 3], torch.tensor([0.0, 0.5, 0.5]))  # overlap: averaged
    assert torch.allclose(w[:, 0, 0, 0], torch.tensor([0.0, 1.0, 0.0]))
    assert torch.allclose(w[:, 0, 7, 7], torch.tensor([1.0, 0.0, 0.0]))  # uncovered: background


def test_feather_gives_soft_edges_with_full_weight_inside():
    hard = fusion_weights(Layout(128, 128, "bg", [Region("a", box=(32, 32, 96, 96))]))
    soft = fusion_weights(Layout(128, 128, "bg", [Region("a", box=(32, 32, 96, 96), feather=24)]))
    assert soft[1, 0, 8, 8] == 1.0
    edge = soft[1, 0, 8, 3:6]
    assert ((edge > 0) & (edge < 1)).any()  # a ramp across the edge
    assert (soft[1] > 0).sum() > (hard[1] > 0).sum()
    assert torch.allclose(soft.sum(0), torch.ones(16, 16))


def test_pixel_mask_is_pooled_so_thin_strokes_survive():
    mask = np.zeros((64, 64), dtype=bool)
    mask[30, 5:60] = True  # a one-pixel line
    w = fusion_weights(Layout(64, 64, "bg", [Region("a", mask=mask)]))
    assert (w[1, 0, 3] == 1).sum() >= 7


boxes = st.tuples(
    st.integers(0, 255), st.integers(0, 255), st.integers(1, 64), st.integers(1, 64)
).map(lambda b: (b[0], b[1], b[0] + b[2], b[1] + b[3]))


@settings(max_examples=60, deadline=None)
@given(
    width=st.sampled_from([8, 64, 136, 256]),
    height=st.sampled_from([8, 72, 256]),
    raw_boxes=st.lists(boxes, max_size=6),
    feather=st.sampled_from([0, 0, 8, 30]),
)
def test_weight_properties(width, height, raw_boxes, feather):
    regions = [
        Region("x", box=(x0 % width, y0 % height, x0 % width + (x1 - x0), y0 % height + (y1 - y0)), feather=feather)
        for x0, y0, x1, y1 in raw_boxes
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LayoutWarning)
        lay = Layout(width, height, "bg", regions)
    w = fusion_weights(lay)
    assert w.shape == (len(regions) + 1, 1, height // 8, width // 8)
    assert torch.allclose(w.sum(0), torch.ones(height // 8, width // 8), atol=1e-6)
    assert (w >= 0).all()
    for v, region in enumerate(lay.regions, start=1):
        x0, y0, x1, y1 = region.box
        inside = w[v, 0, int(y0 // 8) : math.ceil(y1 / 8), int(x0 // 8) : math.ceil(x1 / 8)]
        assert (inside > 0).all()  # every region keeps weight over its whole box, however small


def test_bounds_of_box_and_mask_regions():
    assert Region("x", box=(8, 16, 24, 40)).bounds == (8, 16, 24, 40)
    mask = np.zeros((64, 64), dtype=bool)
    mask[10:20, 30:33] = True
    assert Region("x", mask=mask).bounds == (30, 10, 33, 20)
