"""The Studio's parts, each alone, driven through their traits and hooks."""

import threading
import time

import pytest
from PIL import Image

from mdwidgets import Layout, Region
from mdwidgets.studio import BoxCanvas, Edits, HistoryStrip, RegionList, Runner
from mdwidgets.studio.status import StatusBar
from tests.conftest import drag, send


def gesture(canvas, start, end):
    drag(canvas, start, end, steps=1)


# -- BoxCanvas -----------------------------------------------------------------------------------
@pytest.fixture
def canvas():
    c = BoxCanvas(256, 256)
    c.seen = []
    c.on_draw(lambda box: c.seen.append(("draw", box)))
    c.on_change(lambda i, box: c.seen.append(("change", i, box)))
    c.on_select(lambda i: c.seen.append(("select", i)))
    c.on_key(lambda *key: c.seen.append(("key", *key)))
    return c


def test_box_canvas_reports_gestures_and_leaves_its_state_to_the_owner(canvas):
    gesture(canvas, (13, 21), (101.5, 77))
    assert canvas.seen == [("draw", (16, 24, 104, 80))] and canvas.boxes == []  # the owner decides
    canvas.boxes = [(16, 24, 104, 80)]
    send(canvas, "mouse_down", 50, 50)
    send(canvas, "mouse_up", 50, 50)
    assert canvas.seen[-1] == ("select", 0) and canvas.selected is None
    canvas.selected = 0
    gesture(canvas, (50, 50), (74, 50))  # a drag inside the selected box moves it
    assert canvas.seen[-1] == ("change", 0, (40, 24, 128, 80))
    gesture(canvas, (104, 80), (120, 96))  # its corner handle resizes it
    assert canvas.seen[-1] == ("change", 0, (16, 24, 120, 96))
    canvas.boxes = [(16, 24, 104, 80), (32, 32, 64, 64)]
    send(canvas, "mouse_down", 40, 40)  # a click inside the selected box, on a box drawn over it
    send(canvas, "mouse_up", 40, 40)
    assert canvas.seen[-1] == ("select", 1)
    send(canvas, "key_down", key="z", shift_key=False, ctrl_key=True, meta_key=False)
    assert canvas.seen[-1] == ("key", "z", False, True, False)


def test_box_canvas_draws_inside_an_unselected_box_and_clips_a_drag_that_leaves(canvas):
    canvas.boxes = [(0, 0, 256, 256)]
    gesture(canvas, (64, 64), (128, 128))
    assert canvas.seen[-1] == ("draw", (64, 64, 128, 128))
    send(canvas, "mouse_down", 10, 10)
    send(canvas, "mouse_move", 90, 90)
    send(canvas, "mouse_out", 300, 120)  # the pointer left: the gesture ends at the edge
    assert canvas.seen[-1] == ("draw", (8, 8, 256, 120))
    send(canvas, "mouse_move", 10, 10)
    send(canvas, "mouse_up", 10, 10)  # no gesture is still open
    assert len(canvas.seen) == 2


def test_box_canvas_zoom_keeps_image_pixels():
    canvas = BoxCanvas(128, 128, display_width=640)
    assert canvas.canvas.layout.width == "384px"  # "fit": 3× crisp, within 640×400
    canvas.zoom.value = "100%"
    assert (canvas.canvas.layout.width, canvas.canvas.layout.height) == ("128px", "128px")
    canvas.resize(1024, 256)
    canvas.zoom.value = "fit"
    assert (canvas.canvas.layout.width, canvas.canvas.layout.height) == ("640px", "160px")
    assert canvas.size == (1024, 256)


def test_box_outline_halo_contrasts_with_the_picture_under_it():
    canvas = BoxCanvas(64, 64)
    canvas.show_image(Image.new("RGB", (64, 64), (0, 200, 0)))  # light green
    assert canvas._halo((8, 8, 32, 32)).startswith("rgba(0, 0, 0")
    canvas.show_image(Image.new("RGB", (64, 64), (0, 40, 0)))  # dark green
    assert canvas._halo((8, 8, 32, 32)).startswith("rgba(255, 255, 255")


# -- RegionList ----------------------------------------------------------------------------------
def test_region_list_rows_edit_select_delete_and_refuse():
    regions = RegionList()
    seen = []

    def edit(i, changes):
        if changes.get("prompt") == "":
            raise ValueError("prompt must not be empty")
        seen.append((i, changes))

    regions.on_edit(edit)
    regions.on_select(lambda i: seen.append(("select", i)))
    regions.on_delete(lambda i: seen.append(("delete", i)))
    regions.colours = [(230, 25, 75), (60, 180, 75)]
    regions.regions = (Region("a red circle", box=(0, 0, 8, 8)), Region("a green square", box=(8, 8, 16, 16)))
    first, second = regions.rows
    second.seed.value = "7"
    first.prompt.value = ""
    second.select.value = True
    first.remove.click()
    assert seen == [(1, {"seed": 7}), ("select", 1), ("delete", 0)]
    assert first.prompt.value == "a red circle" and "must not be empty" in first.message.value
    regions.selected = 0
    assert first.select.value and not second.select.value and seen[-1] == ("delete", 0)  # no echo
    first.select.value = False  # the user unselects the row
    assert seen[-1] == ("select", None)


def test_region_list_updates_fields_in_place_while_the_regions_keep_their_colours():
    regions = RegionList()
    regions.colours = [(1, 2, 3)]
    regions.regions = (Region("a", box=(0, 0, 8, 8)),)
    row = regions.rows[0]
    regions.regions = (Region("b", box=(0, 0, 8, 8)),)
    assert regions.rows[0] is row and row.prompt.value == "b"  # the field being typed in keeps its focus
    regions.colours = [(1, 2, 3), (4, 5, 6)]
    regions.regions = (Region("b", box=(0, 0, 8, 8)), Region("c", box=(8, 8, 16, 16)))
    assert [r.prompt.value for r in regions.rows] == ["b", "c"]


# -- Runner, Edits, HistoryStrip, StatusBar ------------------------------------------------------
def test_runner_runs_one_job_and_replace_keeps_only_the_newest():
    ran, gate = [], threading.Event()

    def job(name, wait=False):
        def run(cancelled):
            if wait:
                while not cancelled() and not gate.is_set():
                    time.sleep(0.01)
            ran.append((name, cancelled()))
        return run

    runner = Runner()
    assert runner.start(job("first", wait=True)) is not None
    assert runner.start(job("refused")) is None
    runner.replace(job("second"))
    runner.replace(job("third"))  # replaces "second" before it started
    runner.join(10)
    assert ran == [("first", True), ("third", False)] and not runner.running
    runner.start(job("slow", wait=True))
    runner.cancel()
    runner.join(10)
    assert ran[-1] == ("slow", True)


def test_edits_are_bounded_and_a_new_edit_drops_the_redo_branch():
    edits = Edits(limit=3)
    for state in range(5):
        edits.record(state)
    assert edits.undo_stack == [2, 3, 4]
    assert edits.undo(5) == 4 and edits.redo(4) == 5
    assert edits.undo(5) == 4
    edits.record(4)
    assert edits.redo(9) is None


def test_history_strip_keeps_the_newest_and_restores_on_click(tiny_pipe):
    from mdwidgets import compose

    strip = HistoryStrip(limit=2)
    restored = []
    strip.on_restore(restored.append)
    layout = Layout(64, 64, "a blue background")
    results = [compose(tiny_pipe, layout, num_inference_steps=1, seed=s) for s in range(3)]
    for result in results:
        strip.add(result)
    assert strip.results == results[1:] and len(strip.widget.children) == 2
    strip.widget.children[0].children[1].click()
    assert restored == [results[1]]
    with pytest.raises(ValueError, match="must be a whole number >= 1"):
        HistoryStrip(limit=0)


def test_status_bar_starts_each_run_from_zero_and_counts_words_right():
    status = StatusBar()
    status.step(25, 25, 3.0)
    status.start(10, "starting")
    assert (status.progress.value, status.progress.max, status.label.value) == (0, 10, "starting…")
    status.step(4, 10, 2.0)
    assert status.label.value == "step 4/10 · ETA 3 s"
    status.stop(1, 10, cancelled=True)
    assert status.label.value == "cancelled after 1 step"
    status.stop(1, 1, cancelled=False)
    assert status.label.value == "1 step"
    status.say('<b onclick="x">hi</b>', error=True)
    assert "<b" not in status.line.value and "&lt;b" in status.line.value


def test_overlay_outlines_stay_visible_on_a_picture_of_their_own_colour():
    from mdwidgets import overlay_regions

    layout = Layout(64, 64, "a green background", [Region("a green square", box=(16, 16, 48, 48))])
    green = Image.new("RGB", (64, 64), (60, 180, 75))
    shown = overlay_regions(green, layout, colours=[(60, 180, 75)], labels=False)
    assert shown.getpixel((16, 30)) == (0, 0, 0) or sum(shown.getpixel((16, 30))) < 100  # a dark halo
    dark = overlay_regions(Image.new("RGB", (64, 64), (10, 40, 10)), layout, colours=[(10, 40, 10)], labels=False)
    assert sum(dark.getpixel((16, 30))) > 600  # a light one on a dark picture


def test_run_controls_show_settings_and_report_only_user_changes():
    from mdwidgets import Settings
    from mdwidgets.studio import RunControls

    controls = RunControls("builtin:shapes")
    changed = []
    controls.on_change(lambda: changed.append(controls.settings))
    assert (controls.settings.guidance_scale, controls.settings.bootstrap_steps) == (5.0, 8)  # the model's own
    chosen = Settings(steps=12, guidance_scale=3.5, bootstrap_steps=4, scheduler="euler", seed=7, eta=0.3,
                      window=16, stride=4, circular=True, max_batch=2)
    controls.apply(chosen)
    assert controls.settings == chosen and changed == []  # showing settings is no edit
    controls.steps.value = 3  # the user: bootstrap is capped by the steps
    assert changed and controls.settings.steps == 3 and controls.settings.bootstrap_steps == 3
    assert controls.settings.eta == 0.3 and controls.settings.max_batch == 2  # fields without a control stay
