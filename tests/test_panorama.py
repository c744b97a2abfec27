"""Sliding windows: panoramas (paper §4.1) and regions on canvases larger than the model."""


import pytest
import torch

from benchmarks.panorama import panorama_pipeline
from mdwidgets import Layout, Region, compose
from mdwidgets.sampling.masks import fusion_weights
from mdwidgets.sampling.paths import Paths
from mdwidgets.sampling.reference import plain_multidiffusion
from mdwidgets.sampling.sampler import _bootstrap_backgrounds
from mdwidgets.sampling.windows import Window, window_grid
from tests.devices import model_latents, on_test_device, tolerance


def noise(height, width, seed=0):
    return torch.randn((1, 4, height, width), generator=torch.Generator().manual_seed(seed))


def max_error(ours, reference):
    return ((ours - reference).abs().max() / reference.abs().max().clamp(min=1)).item()


def coverage(windows, height, width):
    count = torch.zeros(height * width)
    for w in windows:
        count.index_add_(0, w.cells(width), torch.ones(w.height * w.width))
    return count.view(height, width)


def test_window_grid_matches_the_paper_and_covers_the_edges():
    grid = window_grid(64, 128, 64, 8)
    assert [(w.top, w.left) for w in grid] == [(0, left) for left in range(0, 65, 8)]
    assert {(w.height, w.width) for w in grid} == {(64, 64)}
    # 70 - 64 is not a multiple of 8: a last window aligned to the edge covers the rest.
    grid = window_grid(70, 64, 64, 8)
    assert [w.top for w in grid] == [0, 6] and (coverage(grid, 70, 64) > 0).all()
    # No larger than the window: one view of the whole canvas.
    assert window_grid(8, 12, 64, 8) == [Window(0, 0, 8, 12)]


def test_circular_windows_wrap_and_cover_every_column_equally():
    grid = window_grid(16, 48, 16, 8, circular=True)
    assert [w.left for w in grid] == [0, 8, 16, 24, 32, 40]
    assert grid[-1].cells(48).view(16, 16)[0].tolist() == list(range(40, 48)) + list(range(0, 8))
    assert (coverage(grid, 16, 48) == 2).all()  # seamless: no column is special


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 0}, "window=0 must be a whole number >= 1 or 'native'"),
        ({"window": "wide"}, "window='wide' must be a whole number >= 1 or 'native'"),
        ({"window": 4, "stride": 0}, "stride=0 must be a whole number >= 1"),
        ({"window": 4, "stride": 6}, "stride=6 must not exceed window=4"),
    ],
)
def test_bad_window_arguments(tiny_pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compose(tiny_pipe, Layout(64, 128, "sky"), num_inference_steps=1, output_type="latent", **kwargs)


@pytest.fixture(scope="module")
def wide_pipe(tiny_pipe):
    """The tiny pipeline with cross-attention only at the lower UNet level: 64x64-cell windows
    (diffusers' panorama pipeline fixes window=64) cost ~6x less than with full-resolution attention."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(1)
    unet = UNet2DConditionModel(
        sample_size=32, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=16,
    ).eval().requires_grad_(False)
    return on_test_device(type(tiny_pipe)(**{**tiny_pipe.components, "unet": unet}, requires_safety_checker=False))




@pytest.mark.parametrize(
    ("scheduler", "height", "width", "circular", "view_batch_size"),
    [("ddim", 512, 768, False, 1), ("ddim", 576, 640, False, 4), ("dpm++", 512, 640, False, 1),
     ("ddim", 512, 576, True, 3)],
)
def test_equals_diffusers_panorama_pipeline(wide_pipe, scheduler, height, width, circular, view_batch_size):
    """No regions, the paper's 64-cell windows with stride 8: diffusers' panorama pipeline."""
    prompt = "a red circle on a blue background"
    latents = noise(height // 8, width // 8, seed=width)
    ours = compose(wide_pipe, Layout(width, height, prompt), num_inference_steps=3, guidance_scale=7.5,
                   latents=latents, scheduler=scheduler, window=64, stride=8, circular=circular,
                   output_type="latent")
    theirs = panorama_pipeline(wide_pipe, scheduler)(
        prompt, height=height, width=width, num_inference_steps=3, guidance_scale=7.5,
        latents=model_latents(latents, wide_pipe),
        circular_padding=circular, view_batch_size=view_batch_size, output_type="latent",
    ).images
    assert ours.latents.shape == theirs.shape == (1, 4, height // 8, width // 8)
    assert max_error(ours.latents, theirs) <= tolerance(wide_pipe)
    assert ours.settings["window"] == 64 and ours.settings["stride"] == 8 and ours.settings["circular"] == circular


def wide_layout(width=768, height=256):
    return Layout(width, height, "a blue background", [
        Region("a red circle", box=(32, 64, 224, 224)),
        Region("a yellow square", box=(400, 32, 560, 192)),
        Region("a green triangle", box=(640, 96, width, 256), negative_prompt="blurry"),
    ])


@pytest.mark.parametrize(
    ("scheduler", "bootstrap", "circular"),
    [("ddim", 0, False), ("ddim", 2, True), ("dpm++", 2, False), ("dpm++", 0, True), ("pndm", 2, True)],
)
def test_regions_on_a_wide_canvas_equal_one_scheduler_per_window_and_prompt(wide_pipe, scheduler, bootstrap, circular):
    layout = wide_layout()
    latents = noise(32, 96, seed=5)
    ours = compose(wide_pipe, layout, num_inference_steps=4, latents=latents, bootstrap_steps=bootstrap,
                   scheduler=scheduler, window="native", stride=16, circular=circular, output_type="latent",
                   generator=torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    evals = len(ours.timings["steps"])
    backgrounds = _bootstrap_backgrounds(wide_pipe.vae, 3, round(bootstrap * evals / 4), generator, "cpu")
    ref = plain_multidiffusion(wide_pipe, layout, num_inference_steps=4, guidance_scale=7.5, latents=latents,
                               scheduler=scheduler, bootstrap_backgrounds=backgrounds if bootstrap else None,
                               window=32, stride=16, circular=circular)
    assert ours.settings["window"] == 32  # the tiny UNet's native 32x32 latent
    assert max_error(ours.latents, ref) <= tolerance(wide_pipe)


def test_a_prompt_is_only_evaluated_in_the_windows_its_region_reaches():
    layout = wide_layout()
    windows = window_grid(32, 96, 32, 8)
    paths = Paths(layout, 7.5, fusion_weights(layout), windows, 96)
    by_prompt = [[k for k, p in paths.paths if p == prompt] for prompt in range(4)]
    assert len(windows) == 9
    assert by_prompt[1] == [0, 1, 2, 3]  # red circle: x 32-224 px = cells 4-28, windows start 0, 8, 16, 24
    assert by_prompt[2] == [3, 4, 5, 6, 7, 8]  # yellow square: cells 50-70
    assert by_prompt[3] == [7, 8]  # green triangle: cells 80-96
    assert paths.rows(shared=True) == len(paths.paths) + 9 + 2  # one unconditional row per window and negative
    assert paths.pixels == 32 * 32


def test_panorama_events_show_each_prompt_over_the_canvas(tiny_pipe):
    layout = wide_layout()
    events = []
    result = compose(tiny_pipe, layout, num_inference_steps=2, seed=1, window="native", stride=16,
                     region_x0=True, callback=events.append)
    assert result.image.size == (768, 256)
    assert [e.region_x0.shape for e in events] == [(4, 4, 32, 96)] * 2
    assert all(e.x0.shape == (1, 4, 32, 96) and torch.isfinite(e.region_x0).all() for e in events)
    # Where the red circle's prompt was never evaluated (right of its windows) it shows the fused x0.
    last = events[-1]
    assert torch.equal(last.region_x0[1, :, :, 56:], last.x0[0, :, :, 56:])
    assert not torch.equal(last.region_x0[1, :, :, :56], last.x0[0, :, :, :56])


def test_circular_implies_native_windows_and_whole_canvas_is_the_default(tiny_pipe):
    layout = Layout(512, 256, "a blue background")
    plain = compose(tiny_pipe, layout, num_inference_steps=1, seed=0, output_type="latent")
    wrapped = compose(tiny_pipe, layout, num_inference_steps=1, seed=0, circular=True, output_type="latent")
    assert plain.settings["window"] is None and plain.settings["stride"] is None
    assert wrapped.settings["window"] == 32 and wrapped.settings["circular"] is True
    assert not torch.equal(plain.latents, wrapped.latents)
