"""Fast tests for the built-in shapes model tooling (mdwidgets.shapes)."""
import random
from pathlib import Path

import numpy as np
import pytest

from mdwidgets.shapes.analysis import analyse, classify_colour, classify_shape, colour_fractions, object_mask
from mdwidgets.shapes.data import COLOUR_NAMES, COLOURS, SHAPES, Obj, Scene, caption, random_scene, render
from training.evaluate import groundtruth_accuracy

MODEL_DIR = Path(__file__).resolve().parents[1] / "mdwidgets" / "models" / "shapes"


def test_generator_deterministic_by_seed():
    a = random_scene(random.Random(7), 256)
    b = random_scene(random.Random(7), 256)
    assert a == b
    assert np.array_equal(np.asarray(render(a, 128)), np.asarray(render(b, 128)))
    scenes_a = [random_scene(r, 256) for r in [random.Random(1)] * 5]
    rng = random.Random(1)
    scenes_b = [random_scene(rng, 256) for _ in range(5)]
    assert scenes_a == scenes_b
    # Different seeds give different scenes (over 20 seeds, a coincidence would be a bug).
    assert len({caption(random_scene(random.Random(s), 256)) for s in range(20)}) > 15


def test_scene_constraints_and_captions_match():
    rng = random.Random(0)
    for _ in range(200):
        sc = random_scene(rng, 256)
        cap = caption(sc)
        assert sc.background in COLOUR_NAMES
        assert cap.endswith(f"{sc.background} background")
        for o in sc.objects:
            assert o.colour != sc.background
            assert o.shape in SHAPES
            assert f"{o.colour} {o.shape}" in cap
            x0, y0, x1, y1 = o.box
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        assert cap.count(" and ") == max(0, len(sc.objects) - 1)
    sc = Scene("blue", [Obj("red", "circle", (0.1, 0.1, 0.4, 0.4)),
                        Obj("orange", "square", (0.5, 0.5, 0.9, 0.9))])
    assert caption(sc) == "a red circle and an orange square on a blue background"
    assert caption(sc, "objects") == "a red circle and an orange square"
    assert caption(sc, "background") == "a blue background"
    assert caption(sc, "empty") == ""
    assert caption(Scene("green")) == "a green background"


def test_render_size_and_colours():
    sc = Scene("blue", [Obj("red", "square", (0.25, 0.25, 0.75, 0.75))])
    im = render(sc, (96, 64))
    assert im.size == (96, 64)
    a = np.asarray(im)
    assert tuple(a[2, 2]) == COLOURS["blue"]
    assert tuple(a[32, 48]) == COLOURS["red"]


def test_tokenizer_round_trip_and_ids_in_vocab():
    pytest.importorskip("transformers")
    from mdwidgets.shapes.tokenizer import build_tokenizer, vocabulary
    tok = build_tokenizer()
    prompt = "A red circle and an orange Star on a blue background"
    enc = tok(prompt, padding="max_length", max_length=tok.model_max_length, truncation=True,
              return_tensors="pt")
    ids = enc.input_ids[0].tolist()
    assert len(ids) == tok.model_max_length
    assert ids[0] == tok.bos_token_id and tok.eos_token_id in ids
    assert max(ids) < len(vocabulary()) == len(tok)
    assert tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == prompt.lower()
    for w in list(COLOUR_NAMES) + list(SHAPES):
        assert tok.convert_tokens_to_ids(w) != tok.unk_token_id
    assert tok("a zebra").input_ids[2] == tok.unk_token_id
    long = tok(" ".join(["red"] * 100), padding="max_length", max_length=tok.model_max_length,
               truncation=True).input_ids
    assert len(long) == tok.model_max_length


def test_colour_and_mask_helpers():
    px = np.array([COLOURS["green"]] * 10 + [COLOURS["red"]] * 3, dtype=np.uint8)
    assert classify_colour(px) == "green"
    fr = colour_fractions(px)
    assert abs(fr["green"] - 10 / 13) < 1e-6 and abs(sum(fr.values()) - 1) < 1e-6
    im = render(Scene("white", [Obj("black", "circle", (0.25, 0.25, 0.75, 0.75))]), 64)
    m = object_mask(im, "white")
    assert abs(m.mean() - np.pi / 16) < 0.03
    assert classify_shape(m) == "circle"


@pytest.mark.parametrize("shape", SHAPES)
def test_classify_shape_on_renders(shape):
    for size, box in [(256, (0.3, 0.2, 0.7, 0.6)), (128, (0.1, 0.4, 0.6, 0.9)), (256, (0.6, 0.6, 0.85, 0.85))]:
        im = render(Scene("black", [Obj("yellow", shape, box)]), size)
        r = analyse(im)
        assert r["shape"] == shape, (size, box, r)
        assert r["object_colour"] == "yellow" and r["background"] == "black"


def test_checker_accuracy_on_groundtruth():
    res = groundtruth_accuracy(n=60, seed=3)
    assert res["colour"] >= 95 and res["background"] >= 95
    assert res["shape"] >= 90


@pytest.mark.skipif(not (MODEL_DIR / "model_index.json").exists(), reason="shipped model not present")
def test_shipped_model_loads_and_generates():
    torch = pytest.importorskip("torch")
    from diffusers import StableDiffusionPipeline
    pipe = StableDiffusionPipeline.from_pretrained(str(MODEL_DIR))
    assert pipe.safety_checker is None
    assert pipe.unet.dtype == torch.float32
    pipe.set_progress_bar_config(disable=True)
    img = pipe("a red circle on a blue background", height=64, width=64, num_inference_steps=2,
               generator=torch.Generator().manual_seed(0)).images[0]
    assert img.size == (64, 64)
    size_mb = sum(f.stat().st_size for f in MODEL_DIR.rglob("*") if f.is_file()) / 1e6
    assert size_mb <= 25
    assert pipe.unet.config.sample_size * pipe.vae_scale_factor == 128  # the native canvas


def test_shipped_model_is_stored_as_every_transformers_version_reads_it():
    """Prefixed CLIP keys (older transformers load unprefixed ones as a random encoder) and the
    tokenizer class that exists in every version."""
    import json

    from safetensors import safe_open

    with safe_open(str(MODEL_DIR / "text_encoder" / "model.safetensors"), "np") as weights:
        assert all(key.startswith("text_model.") for key in weights.keys())
    assert json.loads((MODEL_DIR / "model_index.json").read_text())["tokenizer"][1] == "PreTrainedTokenizerFast"
    config = json.loads((MODEL_DIR / "tokenizer" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"


def test_training_scenes_cover_free_backgrounds_far_from_their_objects():
    from mdwidgets.shapes.data import training_scene

    rng = random.Random(0)
    scenes = [training_scene(rng, 128) for _ in range(400)]
    free = [(scene, rgb) for scene, rgb in scenes if rgb is not None]
    assert 40 < len(free) < 120  # about 20%
    for scene, rgb in free:
        assert all(np.linalg.norm(np.subtract(rgb, COLOURS[o.colour])) > 100 for o in scene.objects)
        image = render(scene, 128, background_rgb=rgb)
        assert tuple(np.asarray(image)[0, 0]) == rgb or scene.objects  # the border shows the free colour
    sides = [o.box[2] - o.box[0] for scene, _ in scenes for o in scene.objects]
    assert min(sides) < 0.2 and max(sides) > 0.6  # small and large objects


def test_captions_for_training_never_name_a_free_background():
    pytest.importorskip("torch")
    from training.train import pick_caption

    rng = random.Random(1)
    free = ("a red circle on a blue background", "a red circle", True)
    palette = ("a red circle on a blue background", "a red circle", False)
    empty_scene = ("a blue background", "", False)
    assert {pick_caption(rng, free) for _ in range(200)} == {"", "a red circle"}
    assert {pick_caption(rng, palette) for _ in range(200)} == {"", "a red circle", "a red circle on a blue background"}
    assert {pick_caption(rng, empty_scene) for _ in range(200)} == {"", "a blue background"}


def test_layout_scene_draws_each_region_shape_filling_its_box():
    from mdwidgets.layout import Layout, Region
    from training.compositions import layout_scene

    layout = Layout(128, 128, "a blue background", [Region("a red circle", box=(16, 32, 64, 80)),
                                                     Region("a yellow star", box=(80, 0, 128, 48))])
    scene = layout_scene(layout)
    assert scene == Scene("blue", [Obj("red", "circle", (0.125, 0.25, 0.5, 0.625)),
                                   Obj("yellow", "star", (0.625, 0.0, 1.0, 0.375))])
    pixels = np.asarray(render(scene, 128))
    assert tuple(pixels[56, 40]) == COLOURS["red"]  # the circle's centre
    assert tuple(pixels[33, 17]) == COLOURS["blue"]  # its box's corner, outside the circle


def test_region_states_are_what_compose_shows_each_path(tiny_pipe):
    import torch

    from mdwidgets.layout import Layout
    from mdwidgets.sampling.masks import fusion_weights
    from mdwidgets.settings import Settings
    from training.states import record_states

    states = record_states(tiny_pipe, layouts=2, min_timestep=0, bootstrap_steps=7, log=lambda message: None)
    layouts = [Layout.from_dict(d) for d in states["layouts"]]
    steps = Settings(bootstrap_steps=7).resolved("tiny-random")
    paths = [1 + len(layout.regions) for layout in layouts]
    assert len(states["prompts"]) == steps.steps * sum(paths) == len(states["inputs"]) == len(states["cells"])
    assert states["targets"].shape == (2, *states["inputs"].shape[1:])
    start = 0
    for k, layout in enumerate(layouts):
        weights = fusion_weights(layout, 8)[:, 0] > 0
        for step in range(steps.steps):
            rows = slice(start, start + paths[k])
            x, cells = states["inputs"][rows].float(), states["cells"][rows]
            assert states["prompts"][rows] == layout.prompts and torch.equal(cells, weights)
            assert (states["target"][rows] == k).all()
            for v in range(1, paths[k]):  # a foreground reads the shared latent inside its box ...
                assert torch.equal(x[v][:, cells[v]], x[0][:, cells[v]])
                # ... and, while bootstrapped, a noised flat colour outside it
                assert torch.equal(x[v], x[0]) == (step >= steps.bootstrap_steps)
            start += paths[k]


def test_a_bootstrapped_state_target_is_drawn_on_the_colour_its_path_saw():
    import torch

    from mdwidgets.pipelines.loading import load_pipeline
    from mdwidgets.sampling.images import encode_flat_colours
    from training.states import _surround_rgb

    pipe = load_pipeline("builtin:shapes", device="cpu")  # the trainer's states are built on the CPU, as here
    gen = torch.Generator().manual_seed(0)
    shared, noise = torch.randn(4, 16, 16, generator=gen), torch.randn(4, 16, 16, generator=gen)
    outside = torch.ones(16, 16, dtype=torch.bool)
    outside[4:10, 2:12] = False
    t, alpha_bar = 700, pipe.scheduler.alphas_cumprod[700]
    for colour in ((0.9, 0.2, 0.1), (0.1, 0.6, 0.3), (0.95, 0.95, 0.9)):
        flat = encode_flat_colours(pipe.vae, torch.tensor([colour]))[0]  # what compose noises outside the box
        row = torch.where(outside, alpha_bar.sqrt() * flat + (1 - alpha_bar).sqrt() * noise, shared)
        rgb = _surround_rgb(pipe, row, shared, noise, outside, t)
        assert max(abs(c - 255 * v) for c, v in zip(rgb, colour)) < 32, (rgb, colour)  # the VAE round trip
    assert _surround_rgb(pipe, shared.clone(), shared, noise, outside, t) is None  # not bootstrapped


def test_surround_targets_are_one_per_bootstrapped_region_state(tiny_pipe):
    from training.states import record_states

    states = record_states(tiny_pipe, layouts=1, min_timestep=0, bootstrap_steps=3, surround=True,
                           log=lambda message: None)
    regions = len(states["layouts"][0]["regions"])
    steps = len(states["prompts"]) // (1 + regions)
    assert len(states["targets"]) == 1 + 3 * regions
    per_step = states["target"].view(steps, 1 + regions)
    assert (per_step[:, 0] == 0).all() and (per_step[3:] == 0).all()  # background path; unbootstrapped steps
    assert sorted(per_step[:3, 1:].flatten().tolist()) == list(range(1, 1 + 3 * regions))


def test_a_region_state_target_takes_its_input_to_the_asked_picture():
    import torch

    from training.train import build_scheduler, state_batch

    gen = torch.Generator().manual_seed(0)
    states = {"inputs": torch.randn(5, 4, 16, 16, generator=gen).half(),
              "timesteps": torch.tensor([961, 500, 250, 700, 900]),
              "targets": torch.randn(2, 4, 16, 16, generator=gen).half(), "target": torch.tensor([0, 1, 1, 0, 1]),
              "cells": torch.rand(5, 16, 16, generator=gen) > 0.5}
    sched = build_scheduler("ddpm")
    picked = torch.tensor([1, 4])
    noisy, noise, t = torch.zeros(3, 4, 16, 16), torch.ones(3, 4, 16, 16), torch.tensor([1, 2, 3])
    noisy, noise, t, cells = state_batch(states, picked, sched, noisy, noise, t)
    assert noisy.shape == noise.shape == (5, 4, 16, 16) and t.tolist() == [1, 2, 3, 500, 900]
    assert torch.equal(cells[:, 0], states["cells"][picked])
    alpha_bar = sched.alphas_cumprod[t[3:]].view(-1, 1, 1, 1)
    x0 = (noisy[3:] - (1 - alpha_bar).sqrt() * noise[3:]) / alpha_bar.sqrt()  # what the target noise implies
    torch.testing.assert_close(x0, states["targets"][[1, 1]].float(), atol=1e-4, rtol=1e-4)


def test_the_trainer_makes_an_8_channel_model_that_loads_and_composes(tmp_path):
    """``--latent-channels 8`` (the VAE pilot in docs/model_card.md): a few steps of every stage give a
    diffusers folder whose UNet follows its VAE, which the loader accepts and compose renders."""
    pytest.importorskip("torch")
    from mdwidgets import compose, load_pipeline
    from mdwidgets.layout import Layout, Region
    from training import train

    export = tmp_path / "export"
    train.main(["--out", str(tmp_path / "run"), "--stage", "all", "--latent-channels", "8", "--vae-steps", "2",
                "--unet-steps", "2", "--batch", "4", "--scenes", "8", "--sample-every", "1000",
                "--export", str(export)])
    pipe = load_pipeline(str(export), family="shapes")
    assert pipe.vae.config.latent_channels == pipe.unet.config.in_channels == pipe.unet.config.out_channels == 8
    layout = Layout(128, 128, "a blue background", [Region("a red circle", box=(8, 16, 56, 64))])
    result = compose(pipe, layout, seed=0, num_inference_steps=3, bootstrap_steps=1)
    assert result.latents.shape == (1, 8, 16, 16)
    assert result.image.size == (128, 128)
