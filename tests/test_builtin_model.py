"""The shipped built-in model draws what it is asked (marked slow: ~40 s on 2 CPU cores).

Fixed prompts over several seeds, judged by the project's evaluators; the thresholds sit well
below the measured rates (docs/model_card.md) so that they test the model, not one lucky seed.
"""

from pathlib import Path

import pytest

from mdwidgets import Layout, compose
from mdwidgets.shapes.adherence import shapes_adherence
from mdwidgets.shapes.analysis import analyse
from tests.devices import load_test_pipeline
from training.evaluate import prompt_for

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[1] / "mdwidgets" / "examples" / "shapes.json"
SINGLE = [("red", "circle", "blue"), ("yellow", "square", "black"), ("green", "triangle", "white"),
          ("white", "star", "purple"), ("orange", "ring", "green"), ("blue", "circle", "yellow")]
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def shapes_pipe():
    return load_test_pipeline("builtin:shapes")


def test_single_prompts_come_out_in_their_colours(shapes_pipe):
    seen = [analyse(compose(shapes_pipe, Layout(128, 128, prompt_for(*asked)), num_inference_steps=25,
                            seed=seed).image) | {"asked": asked}
            for asked in SINGLE for seed in SEEDS]
    colour = sum(s["object_colour"] == s["asked"][0] for s in seen)
    background = sum(s["background"] == s["asked"][2] for s in seen)
    shape = sum(s["shape"] == s["asked"][1] for s in seen)
    # measured on seeds 0-5 in pairs: colour 9-12, background 12, shape 9-11 of 12 (v3; v1: background
    # often wrong, shapes blobs); a random or broken model gets about 1-2 of 12 colours right
    assert colour >= 9 and background >= 10 and shape >= 6, seen


def test_the_example_composition_keeps_colours_in_their_boxes(shapes_pipe):
    layout = Layout.load(EXAMPLE)
    scores = [shapes_adherence(compose(shapes_pipe, layout, num_inference_steps=25, seed=seed).image, layout)
              for seed in SEEDS]
    # measured at the default (8 of 25 bootstrapped) on seeds 0-5: every object right (its colour and shape,
    # inside its box), background 0.98-0.99, IoU 0.48-0.58; at 20 of 25 (the default before) the circle is a
    # rounded square on every seed (1/3 right on 4 of 5); the one-sentence baseline gets about 1% right
    assert all(s["colour"] == 1.0 and s["in_box"] == 1.0 and s["background"] >= 0.85 for s in scores), scores
    assert sum(s["object_right"] for s in scores) / len(scores) >= 2 / 3, scores
    assert sum(s["iou"] for s in scores) / len(scores) >= 0.4, scores
