import random

from mdwidgets.shapes.adherence import prompt_colour
from training.compositions import random_layout


def test_random_layouts_are_valid_and_deterministic():
    for seed in range(30):
        layout, sentence = random_layout(random.Random(seed))
        again, same_sentence = random_layout(random.Random(seed))
        assert layout == again and sentence == same_sentence
        assert 2 <= len(layout.regions) <= 4
        colours = [prompt_colour(r.prompt) for r in layout.regions]
        background = prompt_colour(layout.background)
        assert len(set(colours)) == len(colours) and background not in colours
        boxes = [r.box for r in layout.regions]
        for i, a in enumerate(boxes):
            assert all(v % 8 == 0 for v in a) and a[2] <= 256 and a[3] <= 256
            for b in boxes[i + 1 :]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
        for region in layout.regions:
            assert region.prompt in sentence
        assert sentence.endswith(layout.background)


def test_four_objects_on_request():
    layout, _ = random_layout(random.Random(1), objects=4)
    assert len(layout.regions) == 4


def test_the_asked_pictures_score_what_a_perfect_model_would():
    from training.compositions import ceiling

    scores = ceiling("builtin:shapes", samples=4)["scores_mean_and_stderr"]
    drawn, through_vae = scores["drawn"], scores["vae_round_trip"]
    assert drawn["background"][0] == 1.0  # every shape inside its box
    assert drawn["object_right"][0] == drawn["in_box"][0] == 1.0  # the judge sees every asked object right
    assert 0.3 < drawn["iou"][0] < 1.0  # shapes fill part of their boxes
    assert through_vae["background"][0] > 0.95
    assert through_vae["iou"][0] <= drawn["iou"][0] + 0.05 and through_vae["object_right"][0] <= 1.0
