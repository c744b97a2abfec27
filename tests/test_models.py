import pytest
import torch

from mdwidgets import Layout, ModelError, PromptTruncatedWarning, Region, compose, load_pipeline
from mdwidgets.pipelines.loading import default_device_and_dtype, parse_dtype
from tests.devices import load_test_pipeline, tolerance


def test_default_device_is_cuda_fp16_else_cpu_fp32(monkeypatch):
    """Told apart by what torch reports, so the test holds on a GPU machine too (scripts/gpu_check.sh)."""
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_device_and_dtype() == (torch.device("cpu"), torch.float32)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device_and_dtype() == (torch.device("cuda"), torch.float16)


def test_builtin_tiny_random_loads_and_says_it_is_random():
    with pytest.warns(UserWarning, match="random weights"):
        pipe = load_pipeline("builtin:tiny-random", device="cpu")  # CPU: float32 (CUDA's default is float16)
    assert pipe.unet.dtype == torch.float32 and pipe.vae.dtype == torch.float32
    assert pipe.mdwidgets_model_name == "builtin:tiny-random"


def test_reduced_precision_keeps_vae_in_fp32():
    with pytest.warns(UserWarning):
        pipe = load_pipeline("builtin:tiny-random", dtype="bf16")
    assert pipe.unet.dtype == pipe.text_encoder.dtype == torch.bfloat16
    assert pipe.vae.dtype == torch.float32
    result = compose(pipe, Layout(64, 64, "a red circle"), num_inference_steps=2, seed=0)
    assert result.image.size == (64, 64)


def test_local_diffusers_folder_round_trip(tiny_pipe, tmp_path):
    tiny_pipe.save_pretrained(tmp_path / "model", safe_serialization=True)
    pipe = load_test_pipeline(str(tmp_path / "model"))
    assert pipe.mdwidgets_model_name == str(tmp_path / "model")
    layout = Layout(64, 64, "a blue background", [Region("a red circle", box=(8, 8, 40, 40))])
    a = compose(tiny_pipe, layout, num_inference_steps=2, seed=0, output_type="latent").latents
    b = compose(pipe, layout, num_inference_steps=2, seed=0, output_type="latent").latents
    assert torch.allclose(a, b, atol=1e-6)


def test_pickle_checkpoint_is_refused(tmp_path):
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"not really")
    with pytest.raises(ModelError, match="pickle checkpoint.*allow_pickle=True"):
        load_pipeline(str(ckpt))


def test_unknown_model_names_the_offline_option(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="builtin:shapes"):
        load_pipeline("nobody/no-such-model")
    with pytest.raises(ModelError, match="not a built-in model"):
        load_pipeline("builtin:nope")


def test_every_loading_failure_is_a_model_error_saying_what_was_tried(tiny_pipe, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert load_pipeline(None).mdwidgets_model_name == "builtin:shapes"  # None: the default
    with pytest.raises(ModelError, match="must be a model name or a path, not int"):
        load_pipeline(3)
    with pytest.raises(ModelError, match="no such file or folder: .*missing.safetensors"):
        load_pipeline(tmp_path / "missing.safetensors")  # a Path, and not reported as a hub id
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="is empty"):
        load_pipeline(empty)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":")
    with pytest.raises(ModelError, match="(?s)could not load checkpoint file.*needs its model's configs"):
        load_pipeline(truncated)
    folder = tmp_path / "model"
    tiny_pipe.save_pretrained(folder, safe_serialization=True)
    (folder / "unet" / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match="config.json must hold a JSON object, not list"):
        load_pipeline(folder)
    (folder / "model_index.json").write_text("{not json")
    with pytest.raises(ModelError, match="model_index.json is not readable JSON"):
        load_pipeline(folder)


def test_bad_dtype_name():
    with pytest.raises(ValueError, match="dtype='float8' is not known"):
        parse_dtype("float8")


def test_long_prompt_warns_with_dropped_words(tiny_pipe):
    words = "red " * 80 + "circle square"
    layout = Layout(64, 64, words)
    with pytest.warns(PromptTruncatedWarning, match="these words are ignored: '.*circle square'"):
        compose(tiny_pipe, layout, num_inference_steps=1, seed=0, output_type="latent")


def test_unsupported_families_are_named(tiny_pipe, tmp_path):
    import json

    folder = tmp_path / "model"
    tiny_pipe.save_pretrained(folder, safe_serialization=True)
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "_class_name": "StableDiffusion3Pipeline"}))
    with pytest.raises(ModelError, match="holds a StableDiffusion3Pipeline model"):
        load_pipeline(str(folder))
    (folder / "model_index.json").write_text(json.dumps(index))
    config = json.loads((folder / "unet" / "config.json").read_text())
    (folder / "unet" / "config.json").write_text(json.dumps({**config, "in_channels": 5}))  # a depth model
    with pytest.raises(ModelError, match=r"5 input channels.*text-to-image UNet \(4\) or an inpainting one \(9\)"):
        load_pipeline(str(folder))
    with pytest.raises(ModelError, match="no model_index.json"):
        load_pipeline(str(tmp_path))


def test_sdxl_unet_is_refused_by_compose(tiny_pipe):
    import copy

    pipe = copy.copy(tiny_pipe)
    pipe.unet = copy.deepcopy(tiny_pipe.unet)
    pipe.unet.register_to_config(addition_embed_type="text_time")
    with pytest.raises(ValueError, match="SDXL"):
        compose(pipe, Layout(64, 64, "x"), num_inference_steps=1)


def test_out_of_memory_becomes_an_actionable_error(tiny_pipe, monkeypatch):
    import copy

    pipe = copy.copy(tiny_pipe)
    pipe.unet = copy.deepcopy(tiny_pipe.unet)

    def oom(*args, **kwargs):
        out_of_memory = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)  # the latter before torch 2.5
        raise out_of_memory("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(pipe.unet, "forward", oom)
    with pytest.raises(MemoryError, match="max_batch=1"):
        compose(pipe, Layout(64, 64, "x"), num_inference_steps=1)


def test_nan_latents_stop_with_an_explanation(tiny_pipe, monkeypatch):
    import copy

    pipe = copy.copy(tiny_pipe)
    pipe.unet = copy.deepcopy(tiny_pipe.unet)
    real_forward = pipe.unet.forward

    def overflow(*args, **kwargs):
        out = real_forward(*args, **kwargs)
        return (out[0] * float("inf"),)

    monkeypatch.setattr(pipe.unet, "forward", overflow)
    with pytest.raises(FloatingPointError, match="NaN/inf latents .* float32"):
        compose(pipe, Layout(64, 64, "x"), num_inference_steps=2)


def test_compiled_unet_gives_the_same_composition():
    """``compile_unet`` wraps the UNet in torch.compile; compose reads its config/device/dtype through
    the wrapper. (The cheap "eager" backend checks the plumbing; inductor's kernels are torch's.)"""
    layout = Layout(64, 64, "a blue background", [Region("a red circle", box=(8, 8, 40, 40))])
    with pytest.warns(UserWarning, match="random weights"):
        plain = load_test_pipeline("builtin:tiny-random")
        compiled = load_test_pipeline("builtin:tiny-random", compile_unet={"backend": "eager"})
    assert isinstance(compiled.unet, torch._dynamo.eval_frame.OptimizedModule)
    ours = compose(compiled, layout, num_inference_steps=2, seed=0, output_type="latent")
    reference = compose(plain, layout, num_inference_steps=2, seed=0, output_type="latent")
    assert torch.allclose(ours.latents, reference.latents, atol=tolerance(plain))


def test_default_guidance_bootstrap_and_canvas_are_the_models_own(tiny_pipe):
    from types import SimpleNamespace

    from mdwidgets.studio import Studio

    layout = Layout(64, 64, "a blue background", [Region("a red circle", box=(0, 0, 32, 32))])
    parts = {k: getattr(tiny_pipe, k) for k in ("vae", "unet", "text_encoder", "tokenizer", "scheduler")}
    as_shapes = SimpleNamespace(**parts, mdwidgets_model_name="builtin:shapes")
    kwargs = dict(num_inference_steps=5, seed=0, output_type="latent")
    shapes_default = compose(as_shapes, layout, **kwargs)
    assert shapes_default.settings["guidance_scale"] == 5.0
    assert shapes_default.settings["bootstrap_steps"] == 2  # 32% of 5
    same = compose(tiny_pipe, layout, guidance_scale=5.0, bootstrap_steps=2, **kwargs)
    assert torch.equal(shapes_default.latents, same.latents)
    other = compose(tiny_pipe, layout, **kwargs).settings  # any other model
    assert other["guidance_scale"] == 7.5 and other["bootstrap_steps"] == 1  # 20% of 5
    shapes_studio = Studio(model="builtin:shapes", autosave=False, live=False)  # before the model loads
    assert shapes_studio.controls.guidance.value == 5.0 and shapes_studio.controls.bootstrap.value == 8
    assert (shapes_studio.layout.width, shapes_studio.layout.height) == (128, 128)
    studio = Studio(tiny_pipe, autosave=False, live=False)
    assert studio.controls.guidance.value == 7.5 and studio.controls.bootstrap.value == 5
    assert (studio.layout.width, studio.layout.height) == (256, 256)
