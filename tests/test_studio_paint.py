"""Painting masks in the Studio, driven through ipycanvas' own message path as a browser would."""

import io

import numpy as np
import pytest
from PIL import Image

from mdwidgets import Layout, Region
from mdwidgets.studio import Studio
from mdwidgets.studio.maskview import latent_view
from mdwidgets.studio.paint import brush, ellipse

SIZE = 128


def send(studio, event, x=0, y=0, **extra):
    content = {"event": event, "x": x, "y": y, **extra}
    studio.boxes.canvas._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def stroke(studio, *points):
    send(studio, "mouse_down", *points[0])
    for point in points[1:]:
        send(studio, "mouse_move", *point)
    send(studio, "mouse_up", *points[-1])


def key(studio, name, ctrl=False, shift=False):
    send(studio, "key_down", key=name, shift_key=shift, ctrl_key=ctrl, meta_key=False)


@pytest.fixture
def studio(tiny_pipe, tmp_path):
    s = Studio(tiny_pipe, Layout(SIZE, SIZE, "a blue background"), output_dir=tmp_path, live=False)
    s.controls.steps.value = 2
    s.controls.bootstrap.value = 0
    return s


def mask(studio, index=0):
    return studio.layout.regions[index].mask > 0


def test_a_brush_stroke_is_a_disc_of_the_brush_radius_along_the_stroke_and_one_undo_step(studio):
    studio.toolbar.new_prompt.value = "a yellow square"
    key(studio, "b")
    studio.painting.tools.size.value = 10
    stroke(studio, (20, 30), (60, 30), (60, 90.5))  # mouse events far apart: the segments are filled in
    region = studio.layout.regions[0]
    assert region.prompt == "a yellow square" and region.box is None and studio.selected == 0
    assert np.array_equal(mask(studio), brush((SIZE, SIZE), [(20, 30), (60, 30), (60, 90.5)], 5))
    stroke(studio, (100, 100))  # a click: one disc, into the selected region
    assert np.array_equal(mask(studio)[90:110, 90:110], brush((SIZE, SIZE), [(100, 100)], 5)[90:110, 90:110])
    assert len(studio.layout.regions) == 1
    studio.undo()
    assert not mask(studio)[100, 100] and mask(studio)[30, 40]
    studio.undo()
    assert studio.layout.regions == ()
    studio.redo()
    studio.redo()
    assert mask(studio)[100, 100]


def test_eraser_ellipse_and_fill_each_make_one_undo_step(studio):
    key(studio, "b")
    studio.painting.tools.size.value = 4
    ring = [(20, 20), (80, 20), (80, 80), (20, 80), (20, 20)]
    stroke(studio, *ring)
    key(studio, "f")
    stroke(studio, (50, 50))  # a click inside the closed stroke fills it
    filled = mask(studio)
    assert filled[22:79, 22:79].all() and not filled[100, 100] and not filled[10, 50]
    key(studio, "e")
    key(studio, "]")  # 4 -> 5 px
    assert studio.painting.tools.size.value == 5
    stroke(studio, (50, 0), (50, 127))
    cut = brush((SIZE, SIZE), [(50, 0), (50, 127)], 2.5)
    assert np.array_equal(mask(studio), filled & ~cut)
    key(studio, "o")
    stroke(studio, (90, 90), (100, 100), (120, 126))
    assert np.array_equal(mask(studio), (filled & ~cut) | ellipse((SIZE, SIZE), [(90, 90), (120, 126)]))
    for before in ((filled & ~cut), filled):
        studio.undo()
        assert np.array_equal(mask(studio), before)
    studio.undo()
    assert np.array_equal(mask(studio), brush((SIZE, SIZE), ring, 2))
    assert studio.painting.tools.tool.value == "ellipse"  # undo leaves the tool


def test_a_box_turns_into_a_mask_on_its_first_stroke_and_undo_brings_the_box_back(studio):
    studio.layout = Layout(SIZE, SIZE, "a blue background", [Region("a red circle", box=(16, 16, 48, 48))])
    studio.select(0)
    studio.painting.tools.tool.value = "brush"
    studio.painting.tools.size.value = 8
    stroke(studio, (48, 32), (80, 32))
    painted = mask(studio)
    assert studio.layout.regions[0].box is None and painted[16:48, 16:48].all() and painted[32, 80]
    assert studio.layout.regions[0].prompt == "a red circle"
    studio.undo()
    assert studio.layout.regions[0].box == (16, 16, 48, 48) and studio.layout.regions[0].mask is None


def test_the_selected_mask_region_moves_with_a_drag_of_the_box_tool(studio):
    key(studio, "b")
    stroke(studio, (20, 20), (30, 30))
    before = mask(studio)
    key(studio, "r")  # the box tool: a drag inside the selected region moves it
    stroke(studio, (25, 25), (35, 30), (57, 41))  # (+32, +16) snapped to the grid
    assert np.array_equal(mask(studio), np.roll(before, (16, 32), (0, 1)))
    studio.undo()
    assert np.array_equal(mask(studio), before)


def test_the_eraser_with_nothing_selected_says_what_to_do_and_erasing_all_removes_the_region(studio):
    key(studio, "e")
    stroke(studio, (20, 20), (30, 30))
    assert studio.layout.regions == () and "Select a region to erase from" in studio.status.line.value
    key(studio, "b")
    stroke(studio, (20, 20))
    key(studio, "e")
    studio.painting.tools.size.value = 60
    stroke(studio, (20, 20))
    assert studio.layout.regions == () and studio.selected is None
    studio.undo()
    assert len(studio.layout.regions) == 1


def test_fill_the_rest_and_reorder_with_the_row_buttons(studio):
    studio.layout = Layout(SIZE, SIZE, "a blue background", [Region("a red circle", box=(0, 0, 64, 128))])
    studio.painting.tools.rest.click()  # nothing selected: a new region of what no region covers
    assert studio.selected == 1 and mask(studio, 1)[:, 64:].all() and not mask(studio, 1)[:, :64].any()
    colours = list(studio.boxes.colours)
    studio.regions.rows[1].up.click()
    assert studio.layout.regions[0].mask is not None and studio.layout.regions[1].box == (0, 0, 64, 128)
    assert studio.boxes.colours == colours[::-1] and studio.selected == 0  # colour and selection follow
    studio.undo()
    assert studio.layout.regions[0].box == (0, 0, 64, 128) and studio.boxes.colours == colours


def test_row_fields_thumbnails_and_hiding(studio):
    studio.layout = Layout(SIZE, SIZE, "a blue background", [Region("a red circle", box=(0, 0, 64, 32))])
    row = studio.regions.rows[0]
    thumb = np.asarray(Image.open(io.BytesIO(row.thumb.value)).convert("RGB"))
    assert thumb.shape == (40, 40, 3) and tuple(thumb[2, 2]) == studio.boxes.colours[0] and thumb[30, 30, 0] == 235
    row.feather.value = "12"
    assert studio.layout.regions[0].feather == 12
    studio.undo()
    assert studio.layout.regions[0].feather == 0 and row.feather.value == ""
    row.eye.value = False
    assert studio.boxes.hidden == [0] and studio.layout.regions[0].box == (0, 0, 64, 32)  # the render keeps it


def test_the_latent_view_shows_cells_of_the_vae_factor_with_weights(studio):
    region = Region("a red circle", box=(4, 4, 12, 12), feather=0)
    layout = Layout(32, 32, "a blue background", [region])
    view = np.asarray(latent_view(layout, [(255, 0, 0)], grid=False))
    assert view.shape == (32, 32, 3)
    assert tuple(view[5, 5]) == tuple(view[0, 0]) == (255, 0, 0)  # the box touches cells 0 and 1: all red
    assert tuple(view[20, 20]) == (128, 128, 128)  # background cells
    half = Layout(32, 32, "bg", [region, Region("b", box=(0, 0, 8, 8))])
    assert tuple(np.asarray(latent_view(half, [(255, 0, 0), (0, 0, 255)], grid=False))[3, 3]) == (128, 0, 128)
    studio.painting.tools.latent.value = True  # the toggle redraws the canvas picture
    assert studio.boxes._image is not None


def test_a_mask_from_an_image_file_and_a_mask_saved_as_png(studio, tmp_path):
    picture = Image.new("RGBA", (64, 32), (0, 0, 0, 0))
    picture.paste((255, 255, 255, 255), (0, 0, 32, 32))  # the left half opaque
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    studio.import_mask("left.png", buffer.getvalue())
    assert "resized from 64×32 to the canvas' 128×128" in studio.status.line.value
    assert mask(studio)[:, :63].all() and not mask(studio)[:, 66:].any()
    path = studio.export_mask()
    saved = np.asarray(Image.open(path))
    assert saved.shape == (SIZE, SIZE) and np.array_equal(saved > 127, studio.layout.regions[0].mask > 0.5)
    studio.import_mask("black.png", _png(Image.new("L", (8, 8), 0)))
    assert "empty mask" in studio.status.line.value


def _png(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_live_mode_renders_once_after_mouse_up_and_autosave_keeps_the_mask(tiny_pipe, tmp_path, autosave_dir):
    studio = Studio(tiny_pipe, Layout(SIZE, SIZE, "a blue background"), output_dir=tmp_path, live=False)
    renders = []
    studio.rendering.edited = lambda layout, settings, start, live: renders.append(layout)
    key(studio, "b")
    send(studio, "mouse_down", 20, 20)
    for x in range(21, 60, 3):
        send(studio, "mouse_move", x, 20)
    assert renders == [] and studio.layout.regions == ()  # nothing rasterised while the mouse moves
    send(studio, "mouse_up", 60, 20)
    assert len(renders) == 1 and len(studio.layout.regions) == 1
    restored = Studio.restore(tiny_pipe, autosave_dir=autosave_dir, live=False)
    assert np.array_equal(restored.layout.regions[0].mask, studio.layout.regions[0].mask)


def test_strength_and_overlap_are_one_undo_step_each_and_the_latent_view_shows_them(studio):
    studio.layout = Layout(SIZE, SIZE, "a blue background", [Region("a red circle", box=(0, 0, 64, 64)),
                                                             Region("a yellow square", box=(32, 32, 96, 96))])
    assert studio.toolbar.overlap.value == "average"  # the Studio keeps the paper's default
    row = studio.regions.rows[1]
    row.weight.value = "3"
    assert studio.layout.regions[1].weight == 3.0
    row.weight.value = "-1"
    assert studio.layout.regions[1].weight == 3.0 and row.weight.value == "3" and "Not changed" in row.message.value
    colours = [(255, 0, 0), (0, 0, 255)]
    shared = np.asarray(latent_view(studio.layout, colours, grid=False))[40, 40]
    assert tuple(shared) == (64, 0, 191)  # weights 1 : 3 in an average
    studio.toolbar.overlap.value = "layers"
    assert studio.layout.overlap == "layers"
    assert tuple(np.asarray(latent_view(studio.layout, colours, grid=False))[40, 40]) == (0, 0, 255)  # on top
    studio.undo()
    assert studio.layout.overlap == "average" and studio.toolbar.overlap.value == "average"
    studio.undo()
    assert studio.layout.regions[1].weight == 1.0 and row.weight.value == ""


def test_beside_a_mask_in_its_bounding_box_a_click_deselects_and_a_drag_draws_a_box(studio):
    key(studio, "b")
    stroke(studio, (20, 10), (20, 100), (100, 100))  # an L: its bounding box is mostly empty
    assert studio.selected == 0
    key(studio, "r")
    send(studio, "mouse_down", 80, 30)
    send(studio, "mouse_up", 80, 30)
    assert studio.selected is None
    stroke(studio, (64, 16), (112, 64))
    assert studio.layout.regions[1].box == (64, 16, 112, 64) and studio.selected == 1
    send(studio, "mouse_down", 20, 50)  # on the L's paint: selects it
    send(studio, "mouse_up", 20, 50)
    assert studio.selected == 0


def test_the_handles_of_a_selected_mask_region_scale_its_pixels(studio):
    square = np.zeros((SIZE, SIZE), bool)
    square[16:32, 16:32] = True
    studio.layout = Layout(SIZE, SIZE, "a blue background", [Region("a red circle", mask=square)])
    studio.select(0)
    stroke(studio, (32, 32), (48, 40), (64, 64))  # the bottom-right corner handle, dragged to (64, 64)
    assert studio.layout.regions[0].bounds == (16, 16, 64, 64) and mask(studio).sum() == 48 * 48


def test_a_new_studio_stacks_its_regions_like_layers_and_a_given_layout_keeps_its_mode(tiny_pipe, tmp_path):
    fresh = Studio(tiny_pipe, output_dir=tmp_path, live=False)
    assert fresh.layout.overlap == "layers" and fresh.toolbar.overlap.value == "layers"
    given = Studio(tiny_pipe, Layout(SIZE, SIZE, "a blue background"), output_dir=tmp_path, live=False)
    assert given.layout.overlap == "average"
