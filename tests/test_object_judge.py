"""The shapes judge (mdwidgets.shapes.adherence.judge_object) against objects labelled by eye.

tests/data/object_labels holds 276 crops of compositions by the built-in model (index.json says where
each comes from and where its box lies in it) and a person's labels (labels.json): is the object in
the prompt's colour, of the prompt's shape, inside its box? Batch 1 (189 crops) was labelled first
and used to fit the judge; batch 2 (87 crops of other layouts) was labelled once the judge was fixed.
``python scripts/object_labels.py agreement`` prints the confusion tables.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mdwidgets.shapes.adherence import classify_object, judge_crop

DATA = Path(__file__).parent / "data" / "object_labels"


@pytest.fixture(scope="module")
def judged():
    index = json.loads((DATA / "index.json").read_text())
    labels = json.loads((DATA / "labels.json").read_text())["labels"]
    rows = []
    for e in index:
        verdict = judge_crop(Image.open(DATA / e["file"]), e["box"], e["prompt"], [o["box"] for o in e["others"]])
        rows.append((e, labels[str(e["id"])], verdict))
    return rows


def agreement(rows, question):
    """Share of crops where judge and label agree; shape and inside only where the label says the colour
    is right (without an object in its colour, its shape and place are no question)."""
    if question == "right":
        pairs = [(lab["colour"] and lab["shape"] and lab["inside"], v.right) for _, lab, v in rows]
    else:
        pairs = [(lab[question], bool(getattr(v, question))) for _, lab, v in rows
                 if question == "colour" or lab["colour"]]
    return sum(a == b for a, b in pairs) / len(pairs)


def test_the_labelled_set_is_complete():
    index = json.loads((DATA / "index.json").read_text())
    labels = json.loads((DATA / "labels.json").read_text())["labels"]
    assert len(index) >= 150 and sorted(labels, key=int) == [str(e["id"]) for e in index]
    assert {e["bootstrap"] for e in index} >= {0, 5, 10, 15, 20}
    for e in index:
        with Image.open(DATA / e["file"]) as crop:
            x0, y0, x1, y1 = e["box"]
            assert 0 <= x0 < x1 <= crop.width and 0 <= y0 < y1 <= crop.height
    assert sum(f.stat().st_size for f in DATA.glob("*.png")) < 600_000  # small enough to live in the repository


def test_the_judge_agrees_with_the_labels(judged):
    # measured: colour 0.924, shape 0.929, inside 0.924, object right 0.895 over all 276 crops
    assert agreement(judged, "colour") >= 0.9
    assert agreement(judged, "shape") >= 0.9
    assert agreement(judged, "inside") >= 0.9
    assert agreement(judged, "right") >= 0.88


def test_the_judge_on_the_held_out_batch(judged):
    held_out = [row for row in judged if row[0]["batch"] == 2]
    # measured on the 87 crops the judge was not fitted to: colour 0.885, shape 0.911, object right 0.851
    assert len(held_out) >= 80
    assert agreement(held_out, "colour") >= 0.85 and agreement(held_out, "shape") >= 0.85
    assert agreement(held_out, "right") >= 0.8


def test_rounded_squares_and_hourglasses_are_wrong_on_the_quick_start(judged):
    """What the issue saw at the old default: every seed's red circle a rounded square, its triangle an
    hourglass; the judge calls them so, and calls the round circles and triangles of bootstrap 5 right."""
    quick = {(e["seed"], e["bootstrap"], e["prompt"]): v for e, _, v in judged if e["source"] == "quickstart"}
    for seed in (0, 1, 2):
        assert quick[seed, 20, "a red circle"].found == "square" and not quick[seed, 20, "a red circle"].right
        assert not quick[seed, 20, "a green triangle"].right
        assert all(quick[seed, 5, p].right for p in ("a red circle", "a yellow square", "a green triangle"))


def draw(shape: str, size: int = 48) -> np.ndarray:
    image = Image.new("1", (size, size), 0)
    d = ImageDraw.Draw(image)
    box = (6, 6, size - 7, size - 7)
    if shape == "circle":
        d.ellipse(box, fill=1)
    elif shape == "rounded square":
        d.rounded_rectangle(box, radius=size // 6, fill=1)
    elif shape == "triangle":
        d.polygon([(size / 2, 6), (size - 7, size - 7), (6, size - 7)], fill=1)
    elif shape == "hourglass":  # as the model draws a triangle filling its box: sides pinched to 70%
        d.polygon([(6, 6), (size - 7, 6), (size - 12, size / 2), (size - 7, size - 7), (6, size - 7),
                   (11, size / 2)], fill=1)
    elif shape == "star":
        from mdwidgets.shapes.data import _star_points

        d.polygon(_star_points(size / 2, size / 2, size / 2 - 4, (size / 2 - 4) * 0.42), fill=1)
    return np.asarray(image, dtype=bool)


@pytest.mark.parametrize(("drawn", "seen"), [("circle", "circle"), ("rounded square", "square"),
                                             ("triangle", "triangle"), ("star", "star")])
def test_classify_object(drawn, seen):
    assert classify_object(draw(drawn)) == seen


def test_an_hourglass_is_no_triangle():
    assert classify_object(draw("hourglass")) not in ("triangle", "circle")
