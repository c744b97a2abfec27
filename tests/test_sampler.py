import copy

import pytest
import torch

from mdwidgets import Layout, Region, compose
from mdwidgets.sampling.prompts import prompt_cache_for
from mdwidgets.sampling.reference import plain_multidiffusion
from mdwidgets.sampling.sampler import _bootstrap_backgrounds, _initial_noise
from tests.devices import model_latents, tolerance

SIZE = 64  # 8x8 latent: fast, and still several latent cells per box
STEPS = 6


def noise(seed=0, size=SIZE):
    return torch.randn((1, 4, size // 8, size // 8), generator=torch.Generator().manual_seed(seed))


def max_error(ours, reference):
    """Max abs difference, relative to the latents' magnitude when that exceeds 1.

    fp32 round-off grows with magnitude, and the random tiny model's latents reach ~20
    (its x0 predictions are far from the data); on unit-scale latents this is the plain
    max abs difference.
    """
    return ((ours - reference).abs().max() / reference.abs().max().clamp(min=1)).item()


def four_regions(n=4):
    boxes = [(0, 0, 32, 32), (24, 8, 64, 40), (8, 40, 40, 64), (40, 40, 56, 56)]
    prompts = ["a red circle", "a yellow square", "a green triangle", "a white cat"]
    regions = [Region(p, box=b) for p, b in zip(prompts[:n], boxes[:n])]
    return Layout(SIZE, SIZE, "a blue background", regions)


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++"])
@pytest.mark.parametrize("full_region", [False, True])
def test_equals_diffusers_pipeline(tiny_pipe, scheduler, full_region):
    """Background only, or one region covering the canvas, is plain text-to-image."""
    prompt = "a red circle on a blue background"
    regions = [Region(prompt, box=(0, 0, SIZE, SIZE))] if full_region else []
    layout = Layout(SIZE, SIZE, prompt if not full_region else "a green background", regions)
    ours = compose(
        tiny_pipe, layout, num_inference_steps=STEPS, guidance_scale=7.5, latents=noise(),
        scheduler=scheduler, output_type="latent", bootstrap_steps=2,
    )
    reference_pipe = copy.copy(tiny_pipe)
    reference_pipe.scheduler = ours_scheduler = type(tiny_pipe.scheduler).from_config(tiny_pipe.scheduler.config)
    if scheduler == "dpm++":
        from diffusers import DPMSolverMultistepScheduler

        reference_pipe.scheduler = DPMSolverMultistepScheduler.from_config(ours_scheduler.config)
    theirs = reference_pipe(
        prompt, height=SIZE, width=SIZE, num_inference_steps=STEPS, guidance_scale=7.5,
        latents=model_latents(noise(), tiny_pipe), output_type="latent",
    ).images
    assert ours.latents.shape == theirs.shape == (1, 4, SIZE // 8, SIZE // 8)
    assert max_error(ours.latents, theirs) <= tolerance(tiny_pipe)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_equals_plain_reference_ddim(tiny_pipe, n):
    layout = four_regions(n)
    ours = compose(tiny_pipe, layout, num_inference_steps=STEPS, latents=noise(n), bootstrap_steps=0,
                   scheduler="ddim", output_type="latent")
    ref = plain_multidiffusion(tiny_pipe, layout, num_inference_steps=STEPS, guidance_scale=7.5,
                               latents=noise(n), scheduler="ddim")
    assert max_error(ours.latents, ref) <= tolerance(tiny_pipe)


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++", "euler", "euler-a", "pndm", "lcm", "unipc", "heun"])
@pytest.mark.parametrize("bootstrap", [0, 3])
def test_one_fused_step_equals_one_scheduler_per_path(tiny_pipe, scheduler, bootstrap):
    """Stateful schedulers stay correct, with and without bootstrapping (see compose's docstring)."""
    layout = four_regions(3)
    steps = 5
    ours = compose(tiny_pipe, layout, num_inference_steps=steps, latents=noise(7), bootstrap_steps=bootstrap,
                   scheduler=scheduler, output_type="latent", generator=torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    evals = len(ours.timings["steps"])
    backgrounds = _bootstrap_backgrounds(tiny_pipe.vae, 3, round(bootstrap * evals / steps), generator, "cpu")
    ref = plain_multidiffusion(tiny_pipe, layout, num_inference_steps=steps, guidance_scale=7.5,
                               latents=noise(7), scheduler=scheduler,
                               bootstrap_backgrounds=backgrounds if bootstrap else None, generator=generator)
    assert torch.isfinite(ours.latents).all()
    assert max_error(ours.latents, ref) <= tolerance(tiny_pipe)


def test_bootstrapping_changes_result_and_is_reproducible(tiny_pipe):
    layout = four_regions(2)
    run = lambda boot, seed: compose(  # noqa: E731
        tiny_pipe, layout, num_inference_steps=STEPS, bootstrap_steps=boot, seed=seed, output_type="latent"
    ).latents
    with_boot = run(3, 11)
    assert torch.equal(with_boot, run(3, 11))
    assert not torch.allclose(with_boot, run(0, 11), atol=1e-4)
    assert not torch.allclose(with_boot, run(3, 12), atol=1e-4)


def test_same_seed_same_image_and_seed_is_reported(tiny_pipe):
    layout = four_regions(2)
    a = compose(tiny_pipe, layout, num_inference_steps=3, seed=5)
    b = compose(tiny_pipe, layout, num_inference_steps=3, seed=5)
    assert a.settings["seed"] == 5
    assert a.image.tobytes() == b.image.tobytes()
    c = compose(tiny_pipe, layout, num_inference_steps=3)
    d = compose(tiny_pipe, layout, num_inference_steps=3, seed=c.settings["seed"])
    assert isinstance(c.settings["seed"], int)
    assert torch.equal(c.latents, d.latents)


def test_result_contents(tiny_pipe):
    layout = Layout(128, 64, "a blue background", [Region("a red circle", box=(8, 8, 40, 40))])
    result = compose(tiny_pipe, layout, num_inference_steps=4, guidance_scale=5.0, seed=1, scheduler="euler")
    assert result.image.size == (128, 64)
    assert result.latents.shape == (1, 4, 8, 16)
    assert result.layout == layout
    assert result.steps_done == 4 and not result.cancelled
    assert result.settings["scheduler"] == "euler"
    assert result.settings["bootstrap_steps"] == 1  # round(0.2 * 4)
    assert len(result.timings["steps"]) == 4
    assert result.timings["total"] >= result.timings["sample"] > 0


def test_events_and_cancel_within_one_step(tiny_pipe):
    layout = four_regions(2)
    seen = []

    def on_step(event):
        seen.append(event)
        if event.step == 2:
            event.cancel()

    result = compose(tiny_pipe, layout, num_inference_steps=10, seed=0, callback=on_step, region_x0=True,
                     bootstrap_steps=2)
    assert [e.step for e in seen] == [0, 1, 2]
    assert result.cancelled and result.steps_done == 3
    assert result.image is not None and result.image.size == (SIZE, SIZE)
    assert [e.bootstrapping for e in seen] == [True, True, False]
    event = seen[-1]
    assert event.num_steps == 10
    assert event.latents.shape == event.x0.shape == (1, 4, 8, 8)
    assert event.region_x0.shape == (3, 4, 8, 8)
    assert event.weights.shape == (3, 1, 8, 8)
    # The fused x0 is the weighted mean of the paths' x0 (paths share the latent after bootstrap).
    fused = (event.weights * event.region_x0).sum(0, keepdim=True)
    assert torch.allclose(fused, event.x0, atol=tolerance(tiny_pipe))


def test_max_batch_gives_same_latents(tiny_pipe):
    layout = four_regions(4)
    kwargs = dict(num_inference_steps=3, latents=noise(2), bootstrap_steps=1, output_type="latent", seed=0)
    full = compose(tiny_pipe, layout, **kwargs).latents
    chunked = compose(tiny_pipe, layout, max_batch=2, **kwargs).latents
    assert max_error(chunked, full) <= tolerance(tiny_pipe)


def test_moving_a_box_encodes_no_prompt(tiny_pipe):
    layout = four_regions(2)
    compose(tiny_pipe, layout, num_inference_steps=1, seed=0, output_type="latent")
    cache = prompt_cache_for(tiny_pipe.text_encoder)
    misses = cache.misses
    moved = layout.with_regions([layout.regions[0].replace(box=(8, 8, 40, 40)), layout.regions[1]])
    compose(tiny_pipe, moved, num_inference_steps=1, seed=0, output_type="latent")
    assert cache.misses == misses
    compose(tiny_pipe, moved.replace(background="a black background"), num_inference_steps=1, seed=0,
            output_type="latent")
    assert cache.misses == misses + 1


def test_per_region_negative_prompt_and_guidance(tiny_pipe):
    base = four_regions(2)
    plain = compose(tiny_pipe, base, num_inference_steps=3, seed=0, output_type="latent").latents
    region = base.regions[0]
    for changed in (region.replace(negative_prompt="blue"), region.replace(guidance_scale=1.0)):
        layout = base.with_regions([changed, base.regions[1]])
        other = compose(tiny_pipe, layout, num_inference_steps=3, seed=0, output_type="latent").latents
        assert not torch.allclose(plain, other, atol=1e-5)
    ref = plain_multidiffusion(tiny_pipe, base.with_regions([region.replace(negative_prompt="blue"),
                                                             base.regions[1]]),
                               num_inference_steps=3, guidance_scale=7.5, latents=noise(4))
    ours = compose(tiny_pipe, base.with_regions([region.replace(negative_prompt="blue"), base.regions[1]]),
                   num_inference_steps=3, latents=noise(4), bootstrap_steps=0, output_type="latent")
    assert max_error(ours.latents, ref) <= tolerance(tiny_pipe)


def test_region_seed_owns_the_noise_inside_its_region(tiny_pipe):
    layout = Layout(SIZE, SIZE, "a blue background", [Region("a red circle", box=(0, 0, 32, 32), seed=42)])
    support = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    support[1, :, :4, :4] = True
    a = _initial_noise(layout, (1, 4, 8, 8), torch.Generator().manual_seed(1), None, support)
    b = _initial_noise(layout, (1, 4, 8, 8), torch.Generator().manual_seed(2), None, support)
    assert torch.equal(a[..., :4, :4], b[..., :4, :4])
    assert not torch.equal(a[..., 4:, :], b[..., 4:, :])


def test_reduced_precision_runs_end_to_end(tiny_pipe):
    pipe = copy.deepcopy(tiny_pipe)
    pipe.unet.to(torch.bfloat16)
    pipe.text_encoder.to(torch.bfloat16)
    result = compose(pipe, four_regions(2), num_inference_steps=3, seed=0, bootstrap_steps=1)
    assert result.settings["dtype"] == "bfloat16"
    assert result.latents.dtype == torch.float32
    assert torch.isfinite(result.latents).all()
    assert result.image.size == (SIZE, SIZE)


def _cpu_half_convolution() -> bool:
    try:
        half = torch.zeros(1, 1, 3, 3, dtype=torch.float16)
        torch.nn.functional.conv2d(half, half[:, :, :1, :1])
    except RuntimeError:  # torch 2.1: "slow_conv2d_cpu" not implemented for 'Half'
        return False
    return True


@pytest.mark.skipif(not _cpu_half_convolution(), reason="this torch has no float16 convolution on the CPU")
def test_fp16_vae_decodes_in_float32_and_is_left_as_it_is(tiny_pipe):
    pipe = copy.deepcopy(tiny_pipe)
    pipe.vae.to(torch.float16)
    result = compose(pipe, four_regions(1), num_inference_steps=1, seed=0, bootstrap_steps=1)
    assert pipe.vae.dtype == torch.float16  # decoded through a float32 copy (images.float32_vae)
    assert result.image.size == (SIZE, SIZE)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_inference_steps=0), "steps=0 must be a whole number from 1 to 1000"),
        (dict(num_inference_steps=4, bootstrap_steps=5), "bootstrap_steps=5 must be between 0 and"),
        (dict(scheduler="warp-drive"), "scheduler='warp-drive' is not known; choose one of ddim"),
        (dict(max_batch=0), "max_batch=0 must be a whole number >= 1"),
        (dict(output_type="np"), "output_type='np' must be 'pil' or 'latent'"),
        (dict(guidance_scale=float("nan")), "guidance_scale=nan must be a finite number >= 0"),
        (dict(guidance_scale=float("inf")), "guidance_scale=inf must be a finite number >= 0"),
        (dict(guidance_scale=-2.0), "guidance_scale=-2.0 must be a finite number >= 0"),
        (dict(guidance_scale="7"), "guidance_scale='7' must be a finite number >= 0"),
        (dict(seed=1.7), "seed=1.7 must be a whole number >= 0"),
        (dict(circular="no"), "circular='no' must be true or false"),
        (dict(seed="12"), "seed='12' must be a whole number >= 0"),
        (dict(seed=2**63), "must be a whole number >= 0"),
        (dict(num_inference_steps=2, scheduler="pndm"), "pndm needs at least 4 steps (got 2)"),
        (dict(latents=torch.zeros(1, 4, 4, 4)), "latents must have shape (1, 4, 8, 8)"),
    ],
)
def test_bad_arguments(tiny_pipe, kwargs, message):
    with pytest.raises(ValueError) as info:
        compose(tiny_pipe, four_regions(1), **kwargs)
    assert message in str(info.value)


def test_a_depth_unet_is_refused(tiny_pipe):
    pipe = copy.copy(tiny_pipe)
    pipe.unet = copy.deepcopy(tiny_pipe.unet)
    pipe.unet.register_to_config(in_channels=5)  # depth-conditioned SD 2: latents + depth
    with pytest.raises(ValueError, match="5 input channels \\(a depth or other special model\\)"):
        compose(pipe, four_regions(1), num_inference_steps=1)


def test_pipeline_scheduler_is_untouched(tiny_pipe):
    before = dict(tiny_pipe.scheduler.config)
    timesteps = tiny_pipe.scheduler.timesteps
    compose(tiny_pipe, four_regions(1), num_inference_steps=2, scheduler="euler", output_type="latent")
    assert dict(tiny_pipe.scheduler.config) == before
    assert tiny_pipe.scheduler.timesteps is timesteps


def test_non_finite_latents_stop_at_the_step_they_appear(tiny_pipe, monkeypatch):
    events = []
    pipe = copy.copy(tiny_pipe)
    pipe.unet = copy.deepcopy(tiny_pipe.unet)  # a UNet that overflows (NaN latents passed in are refused first)
    real_forward = pipe.unet.forward
    monkeypatch.setattr(pipe.unet, "forward", lambda *a, **k: (real_forward(*a, **k)[0] * float("nan"),))
    with pytest.raises(FloatingPointError, match=r"at step 1 in float32: the guidance scales \[7.5\] may be too large"):
        compose(pipe, four_regions(1), num_inference_steps=5, guidance_scale=7.5, callback=events.append)
    assert events == []  # stopped at the first step, not after the run
