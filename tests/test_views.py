import math

import numpy as np
import pytest
import torch
from PIL import Image

from mdwidgets import Layout, Region, compose
from mdwidgets.render.figures import Recorder, compare, filmstrip, image_grid, prompt_paths
from mdwidgets.render.scoring import ClipScorer
from mdwidgets.shapes.adherence import prompt_colour, shapes_adherence
from mdwidgets.shapes.data import COLOURS

LAYOUT = Layout(64, 64, "a blue background",
                [Region("a red circle", box=(0, 0, 32, 32)), Region("a yellow square", box=(32, 32, 64, 56))])


def test_recorder_keeps_chosen_steps(tiny_pipe):
    rec = Recorder(every=3)
    compose(tiny_pipe, LAYOUT, num_inference_steps=7, seed=0, callback=rec, region_x0=True)
    assert [s.step for s in rec.steps] == [0, 3, 6]
    assert rec.steps[0].region_x0.shape == (3, 4, 8, 8)
    assert rec.steps[0].bootstrapping and not rec.steps[-1].bootstrapping
    assert rec.weights.shape == (3, 1, 8, 8)
    chosen = Recorder(steps=[1, 2])
    compose(tiny_pipe, LAYOUT, num_inference_steps=4, seed=0, callback=chosen)
    assert [s.step for s in chosen.steps] == [1, 2] and chosen.steps[0].region_x0 is None


def test_filmstrip_and_prompt_paths_images(tiny_pipe):
    rec = Recorder(every=2)
    compose(tiny_pipe, LAYOUT, num_inference_steps=4, seed=0, callback=rec, region_x0=True)
    strip = filmstrip(rec, tiny_pipe, cell_size=100)
    assert strip.width == 6 + 3 * 106 and strip.height > 100  # 3 recorded steps: 0, 2, 3
    decoded = filmstrip(rec, tiny_pipe, decode=True, show="latents", cell_size=100)
    assert decoded.size == strip.size
    paths = prompt_paths(rec, LAYOUT, tiny_pipe, cell_size=100)
    assert paths.width > 4 * 100 and paths.height > 3 * 100  # 3 prompts + fused, 3 rows
    with pytest.raises(ValueError, match="region_x0=True"):
        no_paths = Recorder()
        compose(tiny_pipe, LAYOUT, num_inference_steps=2, seed=0, callback=no_paths)
        prompt_paths(no_paths, LAYOUT, tiny_pipe)
    with pytest.raises(ValueError, match="holds no steps"):
        filmstrip(Recorder(), tiny_pipe)


def test_image_grid_layout():
    red, blue = Image.new("RGB", (50, 50), "red"), Image.new("RGB", (50, 50), "blue")
    grid = image_grid([[red, None], [blue, red]], column_titles=["a", "b"], row_titles=["1", "2"], cell_size=50)
    assert grid.width == 50 // 2 + 20 + 2 * 56
    assert grid.getpixel((50 // 2 + 20 + 25, 50 // 7 + 8 + 25)) == (255, 0, 0)


def test_image_grid_fits_images_to_their_cells():
    wide, big = Image.new("RGB", (20, 10), "red"), Image.new("RGB", (200, 100), "blue")
    grid = image_grid([[wide, big]], cell_size=50, gap=6)
    # both become 50 × 25, centred: rows 12-36 of the cell are filled, the rest is white
    for x, colour in ((6 + 25, (255, 0, 0)), (6 + 56 + 25, (0, 0, 255))):
        assert grid.getpixel((x - 24, 6 + 25)) == colour  # near the left edge: enlarged, not a 20 px thumbnail
        assert grid.getpixel((x, 6 + 5)) == (255, 255, 255)


def test_compare_bootstrap_default_sweep(tiny_pipe):
    result = compare(tiny_pipe, LAYOUT, num_inference_steps=10, seed=3, cell_size=64)
    assert result.values == [0, 1, 2, 4]
    assert [r.settings["bootstrap_steps"] for r in result.results] == [0, 1, 2, 4]
    assert len({r.settings["seed"] for r in result.results}) == 1
    assert not torch.equal(result.results[0].latents, result.results[-1].latents)
    assert set(result.scores[0]) == {"object_right", "colour", "shape", "in_box", "iou", "background"}
    assert result.image.width > 4 * 64
    assert [row["bootstrap_steps"] for row in result.table()] == [0, 1, 2, 4]
    # the model's own value is marked (tiny-random bootstraps 20%: 2 of 10 steps)
    assert result.default == 2
    assert result.titles == ["bootstrap_steps = 0", "bootstrap_steps = 1", "bootstrap_steps = 2 (default)",
                             "bootstrap_steps = 4"]


def test_compare_sweeps_the_models_own_steps_and_bootstrap_share(tiny_pipe, monkeypatch):
    from mdwidgets.render.figures import bootstrap_values

    assert bootstrap_values(25, 20) == [0, 2, 5, 10, 20]  # a slider at 20 among them
    default = compare(tiny_pipe, LAYOUT, score=lambda i, lay: None, cell_size=32)  # no steps given: the model's
    assert default.values == [0, 2, 5, 10] and {r.settings["steps"] for r in default.results} == {25}
    monkeypatch.setattr(tiny_pipe, "mdwidgets_family", "shapes", raising=False)
    shapes = compare(tiny_pipe, LAYOUT, num_inference_steps=5, score=lambda i, lay: None, cell_size=32)
    assert shapes.values == [0, 1, 2]  # 32% of 5 (2) among them


def test_compare_other_setting_and_errors(tiny_pipe):
    result = compare(tiny_pipe, LAYOUT, "guidance_scale", [1.0, 7.5], num_inference_steps=2, score=lambda i, lay: None)
    assert [r.settings["guidance_scale"] for r in result.results] == [1.0, 7.5]
    assert result.titles == ["guidance_scale = 1.0", "guidance_scale = 7.5 (default)"]  # tiny-random: SD's 7.5
    with pytest.raises(ValueError, match=r"cannot compare 'bootstrap': choose a compose\(\) keyword .*seed"):
        compare(tiny_pipe, LAYOUT, "bootstrap", [0, 1])
    with pytest.raises(ValueError, match="give the values"):
        compare(tiny_pipe, LAYOUT, "guidance_scale")
    with pytest.raises(ValueError, match="compared setting"):
        compare(tiny_pipe, LAYOUT, "bootstrap_steps", [0, 1], bootstrap_steps=2)


def paint(layout, colours):
    """An image with each box filled with a palette colour over the background colour."""
    image = np.zeros((layout.height, layout.width, 3), dtype=np.uint8)
    image[:] = COLOURS[colours[0]]
    for region, colour in zip(layout.regions, colours[1:]):
        x0, y0, x1, y1 = region.box
        image[y0:y1, x0:x1] = COLOURS[colour]
    return Image.fromarray(image)


def test_shapes_adherence_scores():
    filled = shapes_adherence(paint(LAYOUT, ["blue", "red", "yellow"]), LAYOUT)
    # a box filled edge to edge is a square: right for the yellow square, wrong for the red circle
    assert filled == {"object_right": 0.5, "colour": 1.0, "shape": 0.5, "in_box": 1.0, "iou": 1.0, "background": 1.0}
    swapped = shapes_adherence(paint(LAYOUT, ["blue", "yellow", "red"]), LAYOUT)
    assert swapped["object_right"] == swapped["colour"] == swapped["in_box"] == swapped["iou"] == 0.0
    assert swapped["background"] == 1.0
    half = np.asarray(paint(LAYOUT, ["blue", "red", "yellow"])).copy()
    half[0:16, 0:32] = COLOURS["blue"]
    score = shapes_adherence(Image.fromarray(half), LAYOUT)
    # the red half box still lies inside its box, but covers half of it
    assert score["in_box"] == 1.0 and score["iou"] == pytest.approx((0.5 + 1.0) / 2)
    assert shapes_adherence(paint(LAYOUT, ["blue", "red", "yellow"]), LAYOUT.replace(background="a sky")) is None
    assert prompt_colour("A Purple star") == "purple" and prompt_colour("a cat") is None


def test_shapes_adherence_judges_the_shape_in_each_box():
    from mdwidgets.shapes.data import Obj, Scene, render

    layout = Layout(128, 128, "a blue background", [
        Region("a red circle", box=(8, 8, 56, 56)), Region("a yellow triangle", box=(72, 8, 120, 56)),
        Region("a white star", box=(8, 72, 56, 120)), Region("a green ring", box=(72, 72, 120, 120)),
    ])
    drawn = [Obj(r.prompt.split()[1], r.prompt.split()[2], tuple(v / 128 for v in r.box)) for r in layout.regions]
    right = shapes_adherence(render(Scene("blue", drawn), 128), layout)
    assert right["object_right"] == right["shape"] == right["in_box"] == 1.0 and right["background"] > 0.99
    assert 0.3 < right["iou"] < 0.8  # shapes fill only part of their boxes: in-box and IoU differ
    # objects drawn a little outside their boxes still count (up to 15% of the side), farther ones do not
    def moved(by):
        return [Obj(o.colour, o.shape, (o.box[0] + by, o.box[1] + by, o.box[2] + by, o.box[3] + by)) for o in drawn]
    near = shapes_adherence(render(Scene("blue", moved(0.03)), 128), layout)  # 4 px of 48
    assert near["object_right"] == near["in_box"] == 1.0
    far = shapes_adherence(render(Scene("blue", moved(0.1)), 128), layout)  # 13 px of 48
    assert far["in_box"] <= 0.25 and far["colour"] == 1.0  # (a star's thin arms may reach out: not its body)
    swapped = [Obj(o.colour, shape, o.box) for o, shape in zip(drawn, ["square", "circle", "ring", "star"])]
    assert shapes_adherence(render(Scene("blue", swapped), 128), layout)["shape"] == 0.0
    wordless = layout.replace(regions=[r.replace(prompt=r.prompt.rsplit(" ", 1)[0]) for r in layout.regions])
    assert math.isnan(shapes_adherence(render(Scene("blue", drawn), 128), wordless)["shape"])


def test_clip_scorer_on_tiny_random_clip():
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTextConfig, CLIPVisionConfig

    from mdwidgets.pipelines.tiny import word_tokenizer

    tok = word_tokenizer("a red circle yellow square blue background".split())
    text = CLIPTextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=37, num_attention_heads=4,
                          num_hidden_layers=2, max_position_embeddings=77, projection_dim=16,
                          bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                              image_size=32, patch_size=8, projection_dim=16)
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=16))
    try:
        images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
        processor = CLIPProcessor(image_processor=images, tokenizer=tok)
    except ValueError as exc:  # transformers 4.x: a CLIPProcessor takes only a CLIPTokenizer (hub CLIPs have one)
        pytest.skip(f"this transformers' CLIPProcessor refuses the test's word-level tokenizer: {exc}")
    scorer = ClipScorer(model, processor)
    score = scorer(paint(LAYOUT, ["blue", "red", "yellow"]), LAYOUT)
    assert set(score) == {"clip", "clip_min"}
    assert 0 <= score["clip_min"] <= score["clip"] <= 100
    assert scorer(Image.new("RGB", (64, 64)), LAYOUT.with_regions([])) is None


def test_compare_feather_softens_every_region(tiny_pipe):
    result = compare(tiny_pipe, LAYOUT, "feather", [0, 16], num_inference_steps=3, score=lambda i, lay: None)
    assert [[r.feather for r in res.layout.regions] for res in result.results] == [[0, 0], [16, 16]]
    assert [r.prompt for r in result.results[1].layout.regions] == [r.prompt for r in LAYOUT.regions]
    assert not torch.equal(result.results[0].latents, result.results[1].latents)
    assert result.table() == [{"feather": 0}, {"feather": 16}]


def test_small_vaes_preview_by_their_true_decode(tiny_pipe):
    from mdwidgets.render.preview import DecodePreviewer, LatentPreviewer, previewer_for
    from mdwidgets.sampling.images import decode_latents

    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    previewer = previewer_for(tiny_pipe.vae)
    assert isinstance(previewer, DecodePreviewer) and previewer_for(tiny_pipe.vae) is previewer  # shared
    truth = decode_latents(tiny_pipe.vae, latents)
    assert np.array_equal(np.asarray(previewer(latents)), np.asarray(truth))
    linear = np.asarray(LatentPreviewer(tiny_pipe.vae)(latents, truth.size), dtype=np.float32)
    assert np.abs(linear - np.asarray(truth, dtype=np.float32)).mean() > 1  # what a decode preview saves


def test_compare_cells_show_the_judges_scores(tiny_pipe, monkeypatch):
    """Each cell's note is its own scores: objects right and inside their box as counts of the boxes, and the
    IoU; a line under the grid says what they mean. Pictures of the asked shapes stand in for the model's."""
    from mdwidgets.render import figures as views
    from mdwidgets.sampling.sampler import ComposeResult
    from mdwidgets.shapes.data import Obj, Scene, render
    from training.compositions import layout_scene

    layout = Layout(128, 128, "a blue background", [Region("a red circle", box=(8, 16, 56, 64)),
                                                     Region("a yellow square", box=(72, 16, 120, 64)),
                                                     Region("a green triangle", box=(40, 72, 88, 120))])
    asked = render(layout_scene(layout), 128)
    blobs = render(Scene("blue", [Obj(o.colour, "square", o.box) for o in layout_scene(layout).objects]), 128)
    pictures = iter([asked, blobs])

    def fake_compose_many(pipe, runs, max_batch=None):
        return [ComposeResult(image=next(pictures), latents=None, layout=run.layout, settings={}) for run in runs]

    monkeypatch.setattr(views, "compose_many", fake_compose_many)
    result = compare(tiny_pipe, layout, "bootstrap_steps", [3, 5], num_inference_steps=25, cell_size=96)
    good, filled = result.scores
    assert good["object_right"] == 1.0 and good["in_box"] == 1.0 and good["iou"] < 0.8  # in-box is not the IoU
    assert filled["object_right"] == pytest.approx(1 / 3) and filled["iou"] > good["iou"]  # blobs: only the square
    assert views.score_note(good, layout) == f"right 3/3 · in box 3/3\nIoU {good['iou']:.2f}"
    assert views.score_note(filled, layout).startswith("right 1/3 · in box 3/3")
    assert result.titles == ["bootstrap_steps = 3", "bootstrap_steps = 5 (default)"]  # tiny-random: 20% of 25
    assert "right: objects in their prompt's colour and shape" in views.SCORE_LEGEND
    no_legend = compare(tiny_pipe, layout, "bootstrap_steps", [0], num_inference_steps=2, cell_size=96,
                        score=lambda image, lay: {"clip": 0.3}, batch=False)
    assert result.image.height > no_legend.image.height  # the legend's line(s)
