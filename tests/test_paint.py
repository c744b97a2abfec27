"""Mask painting without widgets: exact pixels of strokes, ellipses and fills, and the edits they make."""

import numpy as np
import pytest

from mdwidgets import Layout, Region
from mdwidgets.studio import paint
from mdwidgets.studio.paint import PaintError, Stroke, brush, ellipse, flood, paint_layout


def rows(mask):
    return ["".join("#" if v else "." for v in row) for row in np.asarray(mask)]


def test_a_dot_is_the_disc_of_pixel_centres_within_the_radius():
    assert rows(brush((8, 8), [(4, 4)], 2)) == [
        "........",
        "........",
        "...##...",
        "..####..",
        "..####..",
        "...##...",
        "........",
        "........",
    ]


def test_a_stroke_is_the_union_of_discs_along_the_line_with_no_gaps():
    mask = brush((16, 12), [(4, 6), (12, 6)], 1)
    expected = np.zeros((12, 16), bool)
    expected[5:7, 3:13] = True  # rows whose centres are 0.5 away; the round caps reach 0.71 beyond the ends
    assert np.array_equal(mask, expected)
    diagonal = brush((32, 32), [(2, 2), (30, 30)], 1.5)  # two points far apart: the segment is filled in
    assert all(diagonal[k, k] for k in range(2, 30))


def test_the_reference_distance_to_a_polyline_agrees_on_a_random_stroke():
    rng = np.random.default_rng(0)
    points = [tuple(p) for p in rng.uniform(-5, 45, (6, 2))]
    mask = brush((40, 30), points, 3.3)
    ys, xs = np.mgrid[0:30, 0:40] + 0.5
    best = np.full((30, 40), np.inf)
    for (ax, ay), (bx, by) in zip(points, points[1:]):
        for t in np.linspace(0, 1, 2000):
            best = np.minimum(best, np.hypot(xs - (ax + t * (bx - ax)), ys - (ay + t * (by - ay))))
    assert np.array_equal(mask[np.abs(best - 3.3) > 0.05], (best <= 3.3)[np.abs(best - 3.3) > 0.05])


def test_an_ellipse_fills_the_drag_box():
    # centre (5, 3), radii 4 and 2: row 1's centres (y 1.5) reach |dx| <= 4 * sqrt(1 - 0.75 ** 2) = 2.65
    assert rows(ellipse((10, 6), [(9, 5), (1, 1)])) == [
        "..........",
        "..######..",
        ".########.",
        ".########.",
        "..######..",
        "..........",
    ]


def test_flood_fills_the_inside_of_a_closed_stroke_only():
    ring = brush((20, 20), [(4, 4), (15, 4), (15, 15), (4, 15), (4, 4)], 1)
    inside = flood(ring, 10, 10)
    assert inside[10, 10] and not inside[0, 0] and not (inside & ring).any()
    assert inside.sum() == 81  # the 9x9 pixels between the strokes (rows and columns 5 to 13)
    assert not flood(ring, 4, 4).any()  # on the stroke: nothing to fill


def layout(*regions):
    return Layout(32, 32, "a blue background", list(regions))


def test_a_stroke_with_nothing_selected_starts_a_new_mask_region():
    start = layout(Region("a red circle", box=(0, 0, 8, 8)))
    painted, slots, index = paint_layout(start, [3], None, Stroke("brush", ((20, 20),), 2), "a yellow square")
    assert index == 1 and slots == [3, 0]
    assert painted.regions[1].prompt == "a yellow square"
    assert np.array_equal(painted.regions[1].mask, brush((32, 32), [(20, 20)], 2))
    with pytest.raises(PaintError, match="Select a region to erase"):
        paint_layout(start, [0], None, Stroke("eraser", ((4, 4),), 2), "x")


def test_a_box_turns_into_a_mask_on_its_first_stroke_and_the_eraser_cuts_it():
    start = layout(Region("a red circle", box=(8, 8, 16, 16)))
    same, _, _ = paint_layout(start, [0], 0, Stroke("brush", ((12, 12),), 2), "x")
    assert same is start  # inside the box: nothing changes, still a box
    painted, _, _ = paint_layout(start, [0], 0, Stroke("brush", ((20, 12),), 2), "x")
    mask = painted.regions[0].mask
    assert painted.regions[0].box is None and mask[8:16, 8:16].all() and mask[12, 20] and not mask[0, 0]
    erased, _, _ = paint_layout(painted, [0], 0, Stroke("eraser", ((8, 8), (16, 16)), 1), "x")
    cut = erased.regions[0].mask
    assert not cut[12, 12] and cut[9, 14]
    assert np.array_equal(cut > 0, (mask > 0) & ~brush((32, 32), [(8, 8), (16, 16)], 1))
    gone, slots, index = paint_layout(erased, [0], 0, Stroke("eraser", ((16, 16),), 40), "x")
    assert gone.regions == () and slots == [] and index is None  # erased to nothing: the region goes


def test_fill_inside_a_stroke_and_fill_the_rest():
    ring = Region("a red circle", mask=brush((32, 32), [(4, 4), (20, 4), (20, 20), (4, 20), (4, 4)], 1))
    filled, _, _ = paint_layout(layout(ring), [0], 0, Stroke("fill", ((12, 12),)), "x")
    assert filled.regions[0].mask[4:21, 4:21].all() and not filled.regions[0].mask[25, 25]
    other = Region("a yellow square", box=(24, 24, 32, 32))
    rest, slots, index = paint_layout(layout(other), [0], None, Stroke("rest", ()), "a green triangle")
    assert index == 1 and slots == [0, 1]
    expected = np.ones((32, 32), bool)
    expected[24:, 24:] = False
    assert np.array_equal(rest.regions[1].mask > 0, expected)


def test_moving_a_mask_moves_its_pixels_and_reorder_moves_its_colour():
    mask = np.zeros((32, 32), bool)
    mask[2:6, 3:5] = True
    moved = paint.place_region(layout(Region("a red circle", mask=mask)), 0, (11, 10, 13, 14))
    assert moved.regions[0].bounds == (11, 10, 13, 14) and moved.regions[0].mask.sum() == 8
    assert paint.shift_mask(mask, (3, 2, 5, 6), (3, 2, 7, 10)).sum() == 32  # a resize scales the pixels
    start = layout(Region("a", box=(0, 0, 8, 8)), Region("b", box=(8, 8, 16, 16)), Region("c", box=(0, 8, 8, 16)))
    again, slots = paint.reorder(start, [5, 6, 7], 2, 0)
    assert [r.prompt for r in again.regions] == ["c", "a", "b"] and slots == [7, 5, 6]
    with pytest.raises(PaintError, match="cannot move region 3 to place 4"):
        paint.reorder(start, [0, 1, 2], 2, 3)
