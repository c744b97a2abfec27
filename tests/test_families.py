"""SDXL, Turbo and LCM (issue #20) on tiny random components: equal to diffusers' own pipelines."""

import json

import pytest
import torch

from mdwidgets import Layout, Region, Settings, compose, load_pipeline
from mdwidgets.catalog import FAMILIES, ModelError, family_from_name
from mdwidgets.pipelines.facts import model_family
from mdwidgets.pipelines.loading import _checkpoint_kind
from mdwidgets.pipelines.tiny import TIME_ID_DIM, tiny_random_lcm_pipeline, tiny_random_sdxl_pipeline
from mdwidgets.sampling.conditioning import window_time_ids
from mdwidgets.sampling.reference import plain_multidiffusion
from mdwidgets.sampling.schedulers import make_scheduler
from mdwidgets.sampling.windows import window_grid
from tests.devices import load_test_pipeline, model_latents, on_test_device, tolerance

SIZE, STEPS = 64, 8


@pytest.fixture(scope="module")
def sdxl():
    return on_test_device(tiny_random_sdxl_pipeline())


@pytest.fixture(scope="module")
def lcm():
    return on_test_device(tiny_random_lcm_pipeline())


def noise(seed=0, width=SIZE, height=SIZE):
    return torch.randn(1, 4, height // 8, width // 8, generator=torch.Generator().manual_seed(seed))


def relative(ours, theirs):
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()


class RowCounter:
    """Counts the rows of every UNet call and keeps the keywords of the last one."""

    def __init__(self, unet):
        self.unet, self.rows, self.keywords = unet, [], {}
        self.forward = unet.forward

    def __enter__(self):
        def counting(sample, timestep, **keywords):
            self.rows.append(len(sample))
            self.keywords = keywords
            return self.forward(sample, timestep, **keywords)

        self.unet.forward = counting
        return self

    def __exit__(self, *_):
        del self.unet.forward


@pytest.mark.parametrize("scheduler", ["ddim", "euler", "dpm++"])
@pytest.mark.parametrize("negative", ["", "a blurry picture"])
def test_sdxl_without_regions_equals_the_sdxl_pipeline(sdxl, scheduler, negative):
    """An empty negative prompt is none (diffusers zeroes it for SDXL); a given one is encoded."""
    from diffusers import StableDiffusionXLPipeline

    layout = Layout(SIZE, SIZE, "a red circle on a blue background", negative_prompt=negative)
    ours = compose(sdxl, layout, num_inference_steps=STEPS, guidance_scale=5.0, latents=noise(), seed=0,
                   scheduler=scheduler, output_type="latent")
    theirs_pipe = StableDiffusionXLPipeline(**sdxl.components)
    theirs_pipe.scheduler = make_scheduler(scheduler, sdxl.scheduler)
    theirs = theirs_pipe(layout.background, negative_prompt=negative or None, height=SIZE, width=SIZE,
                         num_inference_steps=STEPS, guidance_scale=5.0, latents=model_latents(noise(), sdxl),
                         generator=torch.Generator().manual_seed(0), output_type="latent").images
    assert relative(ours.latents, theirs) <= tolerance()


@pytest.mark.parametrize("scheduler", ["ddim", "euler-a"])
@pytest.mark.parametrize("bootstrap", [0, 3])
def test_sdxl_regions_equal_one_scheduler_per_path(sdxl, scheduler, bootstrap):
    from mdwidgets.sampling.sampler import _bootstrap_backgrounds

    layout = Layout(SIZE, SIZE, "a blue background", [Region("a red circle", box=(0, 0, 40, 32)),
                                                      Region("a green square", box=(24, 24, 64, 64))])
    ours = compose(sdxl, layout, num_inference_steps=STEPS, guidance_scale=5.0, latents=noise(1), scheduler=scheduler,
                   bootstrap_steps=bootstrap, output_type="latent", generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(0)
    backgrounds = _bootstrap_backgrounds(sdxl.vae, 2, bootstrap, generator, "cpu") if bootstrap else None
    reference = plain_multidiffusion(sdxl, layout, num_inference_steps=STEPS, guidance_scale=5.0, latents=noise(1),
                                     scheduler=scheduler, bootstrap_backgrounds=backgrounds, generator=generator)
    assert relative(ours.latents, reference) <= tolerance()


def test_a_panorama_gives_every_window_its_own_crop_time_ids(sdxl):
    """Canvas 192×64 px (24×8 latent cells), windows of 8 cells moved by 4: crops at x = 0, 32, …, 128 px."""
    windows = window_grid(8, 24, 8, 4)
    expected = torch.tensor([[64, 192, 0, left, 64, 64] for left in (0, 32, 64, 96, 128)], dtype=torch.float32)
    assert torch.equal(window_time_ids(windows, (8, 24), 8), expected)
    layout = Layout(192, SIZE, "a blue background", [Region("a red circle", box=(0, 0, 64, 64))])
    with RowCounter(sdxl.unet) as counter:
        ours = compose(sdxl, layout, num_inference_steps=2, guidance_scale=5.0, window=8, stride=4, seed=0,
                       bootstrap_steps=0, output_type="latent")
    sent = counter.keywords["added_cond_kwargs"]["time_ids"]
    assert {tuple(ids.tolist()) for ids in sent} == {tuple(ids.tolist()) for ids in expected}
    reference = plain_multidiffusion(sdxl, layout, num_inference_steps=2, guidance_scale=5.0, latents=ours_noise(0),
                                     window=8, stride=4)
    assert relative(ours.latents, reference) <= tolerance()


def ours_noise(seed, width=192):
    return torch.randn(1, 4, SIZE // 8, width // 8, generator=torch.Generator("cpu").manual_seed(seed))


@pytest.mark.parametrize("guidance", [0.0, 1.0])
def test_unguided_runs_one_unet_row_per_prompt(tiny_pipe, guidance):
    regions = [Region("a red circle", box=(0, 0, 32, 32)), Region("a yellow square", box=(32, 32, 64, 64)),
               Region("a green triangle", box=(0, 32, 32, 64))]
    layout = Layout(SIZE, SIZE, "a blue background", regions)
    for bootstrap in (0, 2):
        with RowCounter(tiny_pipe.unet) as counter:
            compose(tiny_pipe, layout, num_inference_steps=4, guidance_scale=guidance, bootstrap_steps=bootstrap,
                    seed=0, output_type="latent")
        assert counter.rows == [4] * 4  # N + 1 = 4 prompts, not 2N or N + 1 + negatives
    with RowCounter(tiny_pipe.unet) as counter:
        compose(tiny_pipe, layout, num_inference_steps=4, guidance_scale=7.5, bootstrap_steps=0, seed=0,
                output_type="latent")
    assert counter.rows == [5] * 4  # guided: one shared unconditional row more


@pytest.mark.parametrize("scheduler", ["euler-a", "euler"])
def test_guidance_zero_equals_the_diffusers_pipeline(tiny_pipe, scheduler):
    """SD-Turbo's setting: no guidance, a few steps, trailing timesteps."""
    from diffusers import StableDiffusionPipeline

    turbo = make_scheduler(scheduler, tiny_pipe.scheduler)
    turbo = type(turbo).from_config(turbo.config, timestep_spacing="trailing")
    layout = Layout(SIZE, SIZE, "a red circle on a blue background")
    ours = compose(tiny_pipe, layout, num_inference_steps=2, guidance_scale=0.0, latents=noise(3), seed=0,
                   scheduler=turbo, output_type="latent")
    theirs_pipe = StableDiffusionPipeline(**tiny_pipe.components, requires_safety_checker=False)
    theirs_pipe.scheduler = turbo
    theirs = theirs_pipe(layout.background, height=SIZE, width=SIZE, num_inference_steps=2, guidance_scale=0.0,
                         latents=model_latents(noise(3), tiny_pipe), generator=torch.Generator().manual_seed(0),
                         output_type="latent").images
    assert relative(ours.latents, theirs) <= tolerance()


def test_lcm_unet_with_guidance_embedding_equals_the_lcm_pipeline(lcm):
    from diffusers import LatentConsistencyModelPipeline

    layout = Layout(SIZE, SIZE, "a red circle on a blue background")
    with RowCounter(lcm.unet) as counter:
        ours = compose(lcm, layout, latents=noise(4), seed=0, output_type="latent")
    assert ours.settings["steps"] == 4 and ours.settings["guidance_scale"] == 8.5  # the family's defaults
    assert ours.settings["scheduler"] == "lcm" and counter.rows == [1] * 4  # guidance is an input, not a row
    theirs = LatentConsistencyModelPipeline(**lcm.components, requires_safety_checker=False)(
        layout.background, height=SIZE, width=SIZE, num_inference_steps=4, guidance_scale=8.5,
        latents=model_latents(noise(4), lcm),
        generator=torch.Generator().manual_seed(0), output_type="latent").images
    assert relative(ours.latents, theirs) <= tolerance()


def test_lcm_regions_run_one_row_per_prompt_with_their_own_guidance(lcm):
    layout = Layout(SIZE, SIZE, "a blue background", [Region("a red circle", box=(0, 0, 32, 32), guidance_scale=3.0)])
    with RowCounter(lcm.unet) as counter:
        result = compose(lcm, layout, seed=0, output_type="latent")
    assert counter.rows == [2] * 4 and result.settings["bootstrap_steps"] == 1
    embedded = counter.keywords["timestep_cond"]
    assert embedded.shape == (2, 32) and not torch.equal(embedded[0], embedded[1])  # w = 7.5 and w = 2


def test_family_defaults_come_from_one_table():
    assert Settings().resolved("sd-turbo") == Settings(steps=4, guidance_scale=0.0, bootstrap_steps=1)
    assert Settings(steps=1).resolved("sdxl-turbo").bootstrap_steps == 0  # nothing to blend after one step
    assert Settings(steps=8).resolved("lcm").scheduler == "lcm"
    assert Settings().resolved("builtin:shapes") == Settings(steps=25, guidance_scale=5.0, bootstrap_steps=8)
    assert Settings().resolved("sdxl").guidance_scale == 5.0 and FAMILIES["sdxl"].canvas == 1024
    names = {"stabilityai/sdxl-turbo": "sdxl-turbo", "stabilityai/sd-turbo": "sd-turbo",
             "stabilityai/stable-diffusion-xl-base-1.0": "sdxl", "latent-consistency/lcm-lora-sdv1-5": "lcm",
             "stable-diffusion-v1-5/stable-diffusion-v1-5": "sd", "builtin:shapes": "shapes"}
    assert {name: family_from_name(name) for name in names} == names


def test_sdxl_folders_load_and_name_their_family(sdxl, tmp_path):
    for name, family in (("my-sdxl", "sdxl"), ("my-sdxl-turbo", "sdxl-turbo")):
        sdxl.save_pretrained(tmp_path / name, safe_serialization=True)
        pipe = load_pipeline(tmp_path / name)
        assert type(pipe).__name__ == "StableDiffusionXLPipeline" and model_family(pipe) == family
    result = compose(pipe, Layout(SIZE, SIZE, "a red circle"), seed=0, output_type="latent")
    assert (result.settings["steps"], result.settings["guidance_scale"]) == (4, 0.0)  # Turbo's defaults
    assert load_pipeline(tmp_path / name, family="sdxl").mdwidgets_family == "sdxl"
    with pytest.raises(ModelError, match="family='sd4' is not known"):
        load_pipeline(tmp_path / name, family="sd4")


def test_an_sdxl_single_file_is_told_by_its_keys(tmp_path):
    from safetensors.torch import save_file

    save_file({"conditioner.embedders.1.model.ln_final.weight": torch.zeros(1)}, tmp_path / "xl.safetensors")
    save_file({"cond_stage_model.transformer.text_model.final_layer_norm.weight": torch.zeros(1)},
              tmp_path / "v1.safetensors")
    assert (_checkpoint_kind(tmp_path / "xl.safetensors"), _checkpoint_kind(tmp_path / "v1.safetensors")) == (
        "sdxl", "sd")


@pytest.mark.parametrize("found", ["FluxPipeline", "StableDiffusion3Pipeline", "WanPipeline"])
def test_other_families_are_refused_naming_what_is_supported(tiny_pipe, tmp_path, found):
    folder = tmp_path / "model"
    tiny_pipe.save_pretrained(folder, safe_serialization=True)
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "_class_name": found}))
    with pytest.raises(ModelError, match=f"holds a {found} model; mdwidgets supports Stable Diffusion 1.x/2.x and "
                                         "SDXL, with their Turbo and LCM variants"):
        load_pipeline(folder)


def test_an_sdxl_unet_without_its_second_encoder_is_refused(sdxl, tiny_pipe):
    from diffusers import StableDiffusionPipeline

    odd = StableDiffusionPipeline(**{**tiny_pipe.components, "unet": sdxl.unet}, requires_safety_checker=False)
    with pytest.raises(ValueError, match="has no text_encoder_2"):
        compose(odd, Layout(SIZE, SIZE, "a red circle"), num_inference_steps=1, seed=0)


def test_time_id_width_matches_the_unet(sdxl):
    assert sdxl.unet.add_embedding.linear_1.in_features == 6 * TIME_ID_DIM + 32


def tiny_lora(folder):
    """A LoRA of the tiny random UNet saved by diffusers to ``folder``; returns the adapted pipeline."""
    pytest.importorskip("peft")
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from mdwidgets.pipelines.tiny import tiny_random_pipeline

    adapted = on_test_device(tiny_random_pipeline())
    torch.manual_seed(1)
    adapted.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                        target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    StableDiffusionPipeline.save_lora_weights(
        folder, unet_lora_layers=convert_state_dict_to_diffusers(get_peft_model_state_dict(adapted.unet)))
    return adapted


def test_the_cli_loads_a_lora_and_records_it(tmp_path, root):
    from mdwidgets.apps.cli import main
    from mdwidgets.files import read_png_metadata

    tiny_lora(tmp_path / "tiny-lcm-lora")
    out = tmp_path / "out.png"
    with pytest.warns(UserWarning, match="random weights"):
        assert main(["render", str(root / "mdwidgets" / "examples" / "shapes.json"), "-o", str(out), "--model",
                     "builtin:tiny-random", "--lora", str(tmp_path / "tiny-lcm-lora"), "--seed", "0",
                     "--no-progress"]) == 0
    _, settings = read_png_metadata(out)
    assert settings["lora"] == str(tmp_path / "tiny-lcm-lora")
    assert (settings["scheduler"], settings["steps"], settings["guidance_scale"]) == ("lcm", 4, 1.0)


def test_a_lora_is_loaded_fused_and_names_its_family(tmp_path):
    """A LoRA saved by diffusers loads through load_pipeline(lora=...) and renders as the adapted UNet;
    an LCM-LoRA's name makes the family ``lcm`` (LCM scheduler, 4 steps, no guidance)."""
    from mdwidgets.pipelines.tiny import tiny_random_pipeline

    folder = tmp_path / "tiny-lcm-lora"
    adapted = tiny_lora(folder)
    with pytest.warns(UserWarning, match="random weights"):
        loaded = load_test_pipeline("builtin:tiny-random", lora=folder)
    assert model_family(loaded) == "lcm"
    layout, settings = Layout(SIZE, SIZE, "a red circle"), Settings(steps=4, guidance_scale=1.0, seed=0)
    ours = compose(loaded, layout, settings=settings, output_type="latent")
    assert ours.settings["scheduler"] == "lcm"
    reference = compose(adapted, layout, settings=settings.replace(scheduler="lcm"), output_type="latent")
    plain = compose(on_test_device(tiny_random_pipeline()), layout, settings=settings.replace(scheduler="lcm"),
                    output_type="latent")
    assert relative(ours.latents, reference.latents) <= tolerance(loaded)
    assert relative(plain.latents, reference.latents) > 1e-3  # the LoRA changed the UNet
    with pytest.raises(ModelError, match="could not load the LoRA"), pytest.warns(UserWarning):
        load_pipeline("builtin:tiny-random", lora=tmp_path / "missing")


def test_the_studio_takes_the_loaded_models_family_defaults(sdxl):
    import copy

    from mdwidgets.studio import Studio
    from mdwidgets.studio.toolbar import SIZE_PRESETS

    studio = Studio(sdxl, autosave=False, live=False)
    assert (studio.layout.width, studio.layout.height) == (1024, 1024)  # SDXL's canvas
    assert (studio.controls.steps.value, studio.controls.guidance.value, studio.controls.bootstrap.value) == (25, 5, 5)
    turbo = copy.copy(sdxl)
    turbo.mdwidgets_family = "sdxl-turbo"
    studio = Studio(turbo, autosave=False, live=False)
    assert (studio.controls.steps.value, studio.controls.guidance.value, studio.controls.bootstrap.value) == (4, 0, 1)
    assert studio.controls.settings.guidance_scale == 0.0  # unguided: one UNet row per prompt
    assert {"1024×1024 (SDXL)", "1344×768 (SDXL)"} <= set(SIZE_PRESETS)
