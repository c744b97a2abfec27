"""The Studio driven through ipycanvas' own message path, as a browser would drive it."""

import json

import pytest
import traitlets
from PIL import Image

from mdwidgets import Layout, Region, read_png_metadata
from mdwidgets.layout import EXAMPLES
from mdwidgets.studio import Studio
from tests.conftest import click, drag, send


def boxes(studio):
    return [r.box for r in studio.layout.regions]


def test_draw_snaps_to_grid_and_uses_new_box_prompt(studio):
    studio.toolbar.new_prompt.value = "a yellow square"
    drag(studio, (13, 21), (101.5, 77))
    assert boxes(studio) == [(16, 24, 104, 80)]
    assert studio.layout.regions[0].prompt == "a yellow square"
    assert studio.selected == 0
    assert len(studio.regions.rows) == 1 and studio.regions.rows[0].select.value is True


def test_draw_backwards_and_outside_the_canvas_is_clipped(studio):
    drag(studio, (200, 200), (-40, 300))
    assert boxes(studio) == [(0, 200, 200, 256)]


def test_tiny_drag_adds_nothing_and_deselects(studio):
    drag(studio, (10, 10), (100, 100))
    drag(studio, (150, 150), (152, 153))
    assert len(studio.layout.regions) == 1
    assert studio.selected is None


def test_hover_without_button_changes_nothing(studio):
    before = studio.layout
    for x in range(0, 256, 16):
        send(studio, "mouse_move", x, x)
    assert studio.layout is before


def test_click_selects_and_drag_moves_inside_canvas(studio):
    drag(studio, (16, 16), (80, 80))
    drag(studio, (120, 120), (200, 180))
    click(studio, 40, 40)  # selects box 1; a drag in a box that is not selected draws (nested regions)
    drag(studio, (40, 40), (61, 42))  # body of the selected box 1: move by (+21, +2) -> snapped (+24, 0)
    assert studio.selected == 0 and len(boxes(studio)) == 2
    assert boxes(studio)[0] == (40, 16, 104, 80)
    drag(studio, (50, 50), (-500, -500))  # moving stops at the canvas edge, size kept
    assert boxes(studio)[0] == (0, 0, 64, 64)


def test_a_drag_inside_an_unselected_box_draws_a_nested_one(studio):
    drag(studio, (0, 0), (256, 256))  # a box covering the canvas
    click(studio, 250, 250)
    assert studio.selected == 0
    studio.select(None)
    drag(studio, (64, 64), (128, 128))  # inside the big box, which is not selected: a new box
    assert boxes(studio) == [(0, 0, 256, 256), (64, 64, 128, 128)] and studio.selected == 1
    click(studio, 100, 100)  # a click selects the topmost box under the pointer
    assert studio.selected == 1
    click(studio, 20, 20)
    assert studio.selected == 0


def test_resize_by_corner_and_edge_handles(studio):
    drag(studio, (64, 64), (128, 128))
    drag(studio, (128, 128), (160, 200))  # bottom-right corner handle of the selected box
    assert boxes(studio) == [(64, 64, 160, 200)]
    drag(studio, (64, 100), (150, 100))  # left edge dragged past the right edge: keeps one cell
    assert boxes(studio) == [(152, 64, 160, 200)]


def test_release_outside_canvas_finishes_the_drag(studio):
    send(studio, "mouse_down", 10, 10)
    send(studio, "mouse_move", 90, 90)
    send(studio, "mouse_out", 300, 120)
    assert boxes(studio) == [(8, 8, 256, 120)]
    send(studio, "mouse_move", 10, 10)  # no button held any more
    assert boxes(studio) == [(8, 8, 256, 120)]


def test_delete_by_key_button_and_row(studio):
    for start in ((8, 8), (100, 8), (8, 100)):
        drag(studio, start, (start[0] + 40, start[1] + 40))
    send(studio, "key_down", key="Delete", shift_key=False, ctrl_key=False, meta_key=False)
    assert len(studio.layout.regions) == 2 and studio.selected is None
    studio.select(0)
    studio.toolbar.delete.click()
    assert boxes(studio) == [(104, 8, 144, 48)]
    studio.regions.rows[0].remove.click()
    assert studio.layout.regions == ()


def key(studio, name, shift=False, ctrl=True):
    send(studio, "key_down", key=name, shift_key=shift, ctrl_key=ctrl, meta_key=False)


def test_undo_and_redo_every_kind_of_layout_edit(studio):
    states = [studio.layout]
    drag(studio, (8, 8), (64, 64))  # draw
    states.append(studio.layout)
    drag(studio, (30, 30), (70, 50))  # move
    states.append(studio.layout)
    studio.regions.rows[0].prompt.value = "a purple star"  # prompt
    states.append(studio.layout)
    studio.toolbar.size.value = "512×512"  # canvas size (boxes scale)
    states.append(studio.layout)
    studio.toolbar.delete.click()  # delete
    states.append(studio.layout)
    assert len(set(map(id, states))) == 6 and studio.layout.regions == ()
    for expected in reversed(states[:-1]):  # Ctrl+Z walks back through every edit
        key(studio, "z")
        assert studio.layout == expected
    assert not studio.undo() and studio.toolbar.undo.disabled
    for expected in states[1:]:  # Ctrl+Shift+Z (and the button) walk forward again
        key(studio, "Z", shift=True) if len(expected.regions) else studio.toolbar.redo.click()
        assert studio.layout == expected
    assert not studio.redo() and studio.toolbar.redo.disabled


def test_a_new_edit_after_undo_drops_the_redo_branch_and_generation_keeps_history(studio):
    drag(studio, (8, 8), (64, 64))
    drag(studio, (100, 100), (140, 140))
    studio.undo()
    studio.generate(wait=True)
    assert len(studio.layout.regions) == 1 and not studio.toolbar.redo.disabled  # a render is no edit
    studio.regions.rows[0].prompt.value = "a black ring"
    assert studio.toolbar.redo.disabled and not studio.redo()
    studio.undo()
    assert studio.layout.regions[0].prompt != "a black ring" and len(studio.layout.regions) == 1


def test_region_list_edits_update_the_layout(studio):
    drag(studio, (8, 8), (64, 64))
    row = studio.regions.rows[0]
    row.prompt.value = "a green triangle"
    row.negative.value = "blurry"
    row.guidance.value = "4.5"
    row.seed.value = "17"
    region = studio.layout.regions[0]
    assert (region.prompt, region.negative_prompt, region.guidance_scale, region.seed) == (
        "a green triangle", "blurry", 4.5, 17)
    row.prompt.value = "   "  # refused: the field shows the kept prompt again, the reason is at the row
    assert studio.layout.regions[0].prompt == "a green triangle" and row.prompt.value == "a green triangle"
    assert "Not changed" in row.message.value and "must not be empty" in row.message.value
    row.seed.value = "abc"
    assert studio.layout.regions[0].seed == 17 and row.seed.value == "17"
    assert "'abc' is not an integer" in row.message.value
    row.guidance.value = ""
    assert studio.layout.regions[0].guidance_scale is None and row.message.value == ""


def test_a_prompt_past_the_tokenizer_limit_is_flagged_at_its_row(studio):
    drag(studio, (8, 8), (64, 64))
    row = studio.regions.rows[0]
    row.prompt.value = " ".join(["a red circle"] * 40)
    assert "these words are ignored" in row.message.value
    row.prompt.value = "a red circle"
    assert row.message.value == ""


def test_row_selection_selects_the_box(studio):
    drag(studio, (8, 8), (64, 64))
    drag(studio, (100, 100), (164, 164))
    studio.regions.rows[0].select.value = True
    assert studio.selected == 0
    assert studio.regions.rows[1].select.value is False


def test_background_and_negative_fields(studio):
    studio.toolbar.background.value = "a black background"
    studio.toolbar.negative.value = "noise"
    assert studio.layout.background == "a black background" and studio.layout.negative_prompt == "noise"
    studio.toolbar.background.value = ""
    assert studio.layout.background == "a black background"
    assert "must not be empty" in studio.status.line.value


def test_assigning_a_layout_redraws_the_panel(studio):
    layout = Layout(512, 512, "a white background",
                    [Region("a red circle", box=(0, 0, 64, 64)), Region("a blue square", box=(64, 64, 256, 256))])
    studio.layout = layout
    assert (studio.boxes.canvas.width, studio.boxes.canvas.height) == (512, 512)
    assert studio.toolbar.size.value == "512×512"
    assert studio.toolbar.background.value == "a white background"
    assert [row.prompt.value for row in studio.regions.rows] == ["a red circle", "a blue square"]
    with pytest.raises(traitlets.TraitError, match="The 'layout' trait of a Studio instance expected a Layout"):
        studio.layout = {"width": 8}
    assert studio.layout == layout  # nothing changed


def test_the_studio_state_is_traits_a_notebook_can_observe(studio):
    seen = []
    studio.observe(lambda change: seen.append((change["name"], change["new"])), ["layout", "settings", "result"])
    drag(studio, (0, 0), (64, 64))  # a box drawn with the mouse
    assert seen[-1] == ("layout", studio.layout) and len(studio.layout.regions) == 1
    studio.controls.seed.value = 7  # a control moved
    assert seen[-1][0] == "settings" and studio.settings.seed == 7
    studio.settings = studio.settings.replace(steps=2, guidance_scale=3.0)  # assigned from the notebook
    assert (studio.controls.steps.value, studio.controls.guidance.value) == (2, 3.0)
    studio.generate(wait=True)
    assert seen[-1] == ("result", studio.result) and studio.result.settings["steps"] == 2
    with pytest.raises(traitlets.TraitError):
        studio.result = None  # read-only: only a finished render sets it


def test_size_preset_scales_boxes(studio):
    drag(studio, (64, 64), (128, 128))
    studio.toolbar.size.value = "512×512"
    assert studio.layout.width == 512 and boxes(studio) == [(128, 128, 256, 256)]


def test_small_canvases_are_shown_enlarged_by_a_whole_factor(tiny_pipe):
    studio = Studio(tiny_pipe, Layout(128, 128, "a blue background"), autosave=False, live=False)
    shown_size = (studio.boxes.canvas.layout.width, studio.boxes.canvas.layout.height)
    assert shown_size == ("384px", "384px")  # 3× from the start: within 640×400
    assert studio.boxes.canvas.width == 128  # drawing stays in image pixels
    shown = {}
    for label in ("128×128", "256×256", "512×512", "512×128 (wide)", "1024×256 (wide)"):
        studio.toolbar.size.value = label
        shown[label] = (studio.boxes.canvas.layout.width, studio.boxes.canvas.layout.height)
    assert shown == {"128×128": ("384px", "384px"), "256×256": ("256px", "256px"), "512×512": ("400px", "400px"),
                     "512×128 (wide)": ("512px", "128px"), "1024×256 (wide)": ("640px", "160px")}
    send(studio, "mouse_down", 8, 8)  # mouse coordinates arrive in canvas pixels, whatever the zoom
    send(studio, "mouse_move", 60, 60)
    send(studio, "mouse_up", 60, 60)
    assert boxes(studio)[-1] == (8, 8, 64, 64)


def test_panorama_preset_switches_to_windows_and_generates(studio):
    drag(studio, (16, 16), (128, 128))
    assert studio.controls.stride.layout.display == "none"  # the stride means nothing without windows
    studio.toolbar.size.value = "1024×256 (wide)"
    assert (studio.layout.width, studio.layout.height) == (1024, 256)
    assert boxes(studio) == [(64, 16, 512, 128)]  # scaled with the canvas
    assert studio.boxes.canvas.layout.width == "640px" and studio.boxes.canvas.layout.height == "160px"  # scaled to fit
    assert studio.controls.windows.value == "native windows"
    assert studio.controls.stride.layout.display is None
    studio.controls.windows.value = "windows, 360° wrap"
    studio.controls.stride.value = 16
    studio.controls.steps.value = 1
    studio.generate(wait=True)
    result = studio.result
    assert result is not None, studio.status.line.value
    assert (result.settings["window"], result.settings["stride"], result.settings["circular"]) == (32, 16, True)
    assert result.image.size == (1024, 256)
    assert "windows of 32 latent cells, stride 16" in studio.status.line.value
    # Restoring an older, whole-canvas result puts the controls back.
    studio.controls.windows.value = "whole canvas"
    studio.restore_result(result)
    assert studio.controls.windows.value == "windows, 360° wrap" and studio.controls.stride.value == 16


def test_generate_runs_and_records_history(studio, tmp_path):
    drag(studio, (16, 16), (128, 128))
    studio.generate(wait=True)
    assert studio.result is not None and not studio.result.cancelled, studio.status.line.value
    assert studio.result.steps_done == 3
    assert studio.status.progress.value == 3
    assert len(studio.history.results) == 1 and len(studio.history.widget.children) == 1
    assert studio.result.settings["seed"] == studio.controls.seed.value
    assert 1 <= len(studio.rendering.preview_seconds) <= 3  # previews are throttled to ~1/4 of the time
    path = studio.export_png()
    again = studio.export_png()
    assert path != again and path.exists() and again.exists()  # never overwrites
    layout, settings = read_png_metadata(path)
    assert layout == studio.result.layout and settings["steps"] == 3


def test_layout_is_snapshotted_and_double_generate_starts_one_run(studio, monkeypatch):
    import mdwidgets.studio.rendering as studio_module

    started, release = __import__("threading").Event(), __import__("threading").Event()
    seen = []
    real_compose = studio_module.compose

    def slow_compose(pipe, layout, callback=None, **settings):
        seen.append(layout)
        started.set()
        release.wait(10)
        return real_compose(pipe, layout, callback=callback, **settings)

    monkeypatch.setattr(studio_module, "compose", slow_compose)
    drag(studio, (16, 16), (128, 128))
    first = studio.generate()
    assert started.wait(10)
    assert studio.generate() is None and "Generating…" in studio.status.line.value  # a second click: no change
    drag(studio, (150, 150), (250, 250))  # edit during the run
    release.set()
    first.join(30)
    assert len(seen) == 1 and len(seen[0].regions) == 1
    assert len(studio.result.layout.regions) == 1 and len(studio.layout.regions) == 2


def test_previews_take_a_bounded_share_of_the_run(studio, monkeypatch):
    import time

    import mdwidgets.studio.rendering as studio_module

    drawn = []

    def slow_previewer(latents, size):  # a preview as costly as many steps
        time.sleep(0.4)
        drawn.append(size)
        return Image.new("RGB", size)

    monkeypatch.setattr(studio_module, "previewer_for", lambda *args, **kwargs: slow_previewer)
    drag(studio, (16, 16), (128, 128))
    studio.controls.steps.value = 8
    studio.generate(wait=True)
    assert studio.result.steps_done == 8
    # the first step is previewed; then a preview waits until 3× its cost has passed
    assert 1 <= len(drawn) < 8 and drawn[0] == (256, 256)


def cancel_at_first_preview(studio):
    """Make ``studio`` press Cancel as soon as its run shows a first preview."""
    original = studio.rendering.show_picture

    def cancel(image=None):
        original(image)
        studio.cancel()

    studio.rendering.show_picture = cancel


def test_cancel_stops_within_one_step_and_keeps_result_and_history(studio):
    studio.generate(wait=True)
    finished, entries = studio.result, list(studio.history.results)
    studio.controls.steps.value = 50
    studio.controls.bootstrap.value = 0
    cancel_at_first_preview(studio)
    studio.generate(wait=True)
    done = int(studio.status.label.value.split()[2])
    assert done <= 2 and "Cancelled" in studio.status.line.value
    assert studio.status.label.value == f"cancelled after {done} step" + ("s" if done != 1 else "")
    assert not studio.toolbar.generate.disabled and studio.toolbar.cancel.disabled
    # the cancelled picture was shown as a preview only: the result, the history and Save PNG are the finished run's
    assert studio.result is finished and studio.history.results == entries
    assert studio.export_png(studio.output_dir / "kept.png").exists()


def test_worker_error_is_shown_and_panel_stays_usable(studio, monkeypatch):
    import mdwidgets.studio.rendering as studio_module

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(studio_module, "compose", broken)
    studio.generate(wait=True)
    assert "Generation failed: RuntimeError: out of memory (simulated)" in studio.status.line.value
    assert not studio.toolbar.generate.disabled
    monkeypatch.undo()
    studio.generate(wait=True)
    assert studio.result is not None


def test_history_restore_brings_back_layout_and_settings(studio):
    drag(studio, (16, 16), (128, 128))
    studio.controls.seed.value = 123
    studio.generate(wait=True)
    first = studio.result
    drag(studio, (150, 150), (250, 250))
    studio.controls.seed.value = 5
    studio.history.widget.children[0].children[1].click()
    assert studio.layout == first.layout and studio.controls.seed.value == 123


def test_import_json_and_png_and_bad_files(studio, tmp_path, root):
    text = (root / "mdwidgets" / "examples" / "shapes.json").read_bytes()
    studio.import_file("shapes.json", text)
    assert studio.layout == Layout.from_json(text)
    before = studio.layout
    studio.import_file("bad.json", b'{"mdwidgets_layout": 1, "width": 100}')
    assert studio.layout is before and "Could not import bad.json" in studio.status.line.value
    studio.import_file("plain.png", _png_bytes())
    assert studio.layout is before and "carries no mdwidgets layout" in studio.status.line.value
    studio.generate(wait=True)
    exported = studio.export_png()
    studio.layout = Layout(256, 256, "a green background")
    studio.import_file(exported.name, exported.read_bytes())
    assert studio.layout == before


def test_export_layout_json(studio):
    drag(studio, (16, 16), (128, 128))
    path = studio.export_layout()
    assert Layout.from_json(path.read_text()) == studio.layout
    assert json.loads(path.read_text())["mdwidgets_layout"] == 1


def _png_bytes():
    import io

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    return buf.getvalue()


def test_compare_bootstrap_button_shows_a_grid(studio):
    drag(studio, (16, 16), (128, 128))
    studio.controls.steps.value = 5
    studio.controls.bootstrap.value = 4
    studio.toolbar.compare.click()
    studio.rendering.runner.join(60)
    assert studio.rendering.comparison is not None, studio.status.line.value
    # 0, 10%, 20%, 40% of 5 steps, rounded, distinct, and the slider's own 4
    assert studio.rendering.comparison.values == [0, 1, 2, 4]
    assert bytes(studio.rendering.comparison_image.value).startswith(b"\x89PNG")
    assert "Comparison done" in studio.status.line.value
    assert studio.status.progress.value == studio.status.progress.max == 4 * 5  # every cell's steps counted once
    assert studio.rendering.comparison.batched  # the cells shared UNet calls
    assert not studio.toolbar.compare.disabled and not studio.toolbar.generate.disabled


def test_cancel_stops_a_comparison_within_one_step(studio):
    drag(studio, (16, 16), (128, 128))
    studio.controls.steps.value = 20
    studio.status.progress.observe(lambda change: change["new"] == 2 and studio.cancel(), "value")
    studio.compare_bootstrap(wait=True)
    assert "Comparison cancelled." in studio.status.line.value
    assert studio.rendering.comparison is None and studio.status.progress.value == 2  # no step counted after the cancel
    assert studio.status.progress.max == 5 * 20  # 0, 2, 4, 8 and the Bootstrap slider's 5
    assert not studio.toolbar.compare.disabled and studio.toolbar.cancel.disabled


def test_every_edit_is_autosaved_and_restore_brings_it_back(tiny_pipe, autosave_dir):
    studio = Studio(tiny_pipe, live=False)
    drag(studio, (16, 16), (128, 128))
    studio.regions.rows[0].prompt.value = "a purple star"
    saved = Layout.load(studio.autosave.path)
    assert saved == studio.layout and saved.regions[0].prompt == "a purple star"
    del studio  # the kernel restarts…
    restored = Studio.restore(tiny_pipe)
    assert restored.layout == saved
    assert restored.autosave.path != saved  # the restored Studio saves to a file of its own


def test_a_new_untouched_studio_never_hides_the_saved_work(tiny_pipe, autosave_dir):
    work = Studio(tiny_pipe, live=False)
    drag(work, (16, 16), (96, 96))
    for _ in range(2):  # the notebook's Studio(pipe) cell re-run after a kernel restart
        untouched = Studio(tiny_pipe, live=False)
        assert not untouched.autosave.path.exists()
    assert Studio.restore(tiny_pipe).layout == work.layout


def test_a_failed_autosave_stays_in_view_until_one_succeeds(tiny_pipe, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    studio = Studio(tiny_pipe, autosave_dir=blocker / "autosave", live=False)
    drag(studio, (16, 16), (96, 96))
    assert "Autosave failed" in studio.status.line.value
    studio.regions.rows[0].prompt.value = "a purple star"  # the next edit clears the status line
    assert "Autosave failed" in studio.status.line.value and studio.layout.regions[0].prompt == "a purple star"
    studio.autosave.path = tmp_path / "ok" / "studio.json"
    studio.regions.rows[0].prompt.value = "a green star"
    assert studio.status.line.value == "" and Layout.load(studio.autosave.path).regions[0].prompt == "a green star"


def test_names_and_values_from_files_are_shown_as_text_not_html(studio):
    bad = {"mdwidgets_layout": 1, "width": "<script>alert(2)</script>", "height": 64, "background": "x"}
    studio.import_file('<img src=x onerror="alert(1)">.json', json.dumps(bad).encode())
    assert "<img" not in studio.status.line.value and "<script" not in studio.status.line.value
    assert '&lt;img src=x onerror="alert(1)"&gt;.json' in studio.status.line.value
    assert "&lt;script&gt;" in studio.status.line.value and studio.toolbar.model_label.value.startswith("<b>Model:</b>")


@pytest.mark.parametrize("limit", [0, -1, 2.5, True])
def test_history_limit_must_keep_at_least_one_result(tiny_pipe, limit):
    with pytest.raises(ValueError, match="history_limit=.* must be a whole number >= 1"):
        Studio(tiny_pipe, history_limit=limit)


def test_restore_without_autosave_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="no autosaved Studio layout in"):
        Studio.restore(autosave_dir=tmp_path / "empty")


def test_two_studios_sharing_a_pipeline_do_not_interfere(tiny_pipe, tmp_path):
    layouts = [Layout(64, 64, "a blue background", [Region("a red circle", box=(8, 8, 40, 40))]),
               Layout(64, 64, "a green background", [Region("a yellow square", box=(24, 24, 64, 64))])]
    alone = []
    for layout in layouts:
        s = Studio(tiny_pipe, layout, output_dir=tmp_path, live=False)
        s.controls.steps.value = 4
        s.generate(wait=True)
        alone.append(s.result.image.tobytes())
    together = [Studio(tiny_pipe, layout, output_dir=tmp_path, live=False) for layout in layouts]
    for s in together:
        s.controls.steps.value = 4
    threads = [s.generate() for s in together]
    for t in threads:
        t.join(60)
    assert [s.result.image.tobytes() for s in together] == alone
    assert together[0].autosave.path != together[1].autosave.path


def test_history_is_bounded(tiny_pipe, tmp_path):
    studio = Studio(tiny_pipe, output_dir=tmp_path, history_limit=2, live=False)
    studio.controls.steps.value = 1
    for seed in range(3):
        studio.controls.seed.value = seed
        studio.generate(wait=True)
    assert [r.settings["seed"] for r in studio.history.results] == [1, 2]
    assert len(studio.history.widget.children) == 2


def test_model_label_names_the_pipeline_in_use(tiny_pipe, tmp_path):
    assert "builtin:tiny-random" in Studio(tiny_pipe, output_dir=tmp_path, live=False).toolbar.model_label.value
    anonymous = type(tiny_pipe)(**tiny_pipe.components, requires_safety_checker=False)
    assert "your pipeline" in Studio(anonymous, output_dir=tmp_path).toolbar.model_label.value
    unloaded = Studio(output_dir=tmp_path, live=False)  # loads the model on the first Generate
    assert "builtin:shapes" in unloaded.toolbar.model_label.value


def test_examples_menu_offers_what_the_model_draws_and_loading_one_is_undoable(tiny_pipe, studio):
    assert studio.toolbar.example.options == ("choose…", "living_room", "panorama", "shapes")  # tiny model: all
    shapes_studio = Studio(tiny_pipe, model="builtin:shapes", autosave=False, live=False)
    assert shapes_studio.toolbar.example.options == ("choose…", "panorama", "shapes")
    before = studio.layout
    studio.toolbar.example.value = "shapes"
    assert studio.layout == Layout.load(EXAMPLES / "shapes.json") and studio.toolbar.example.value == "choose…"
    assert "Loaded the example 'shapes'" in studio.status.line.value
    studio.undo()
    assert studio.layout == before


def test_every_setting_survives_png_import_the_studio_and_a_cli_rerender(studio, tiny_pipe, tmp_path):
    """Issue #16: compose → PNG → Studio import → Studio render → Save PNG → CLI re-render, unchanged
    (fields without a control, eta and max_batch, are carried along)."""
    from mdwidgets import Settings, compose, save_png
    from mdwidgets.apps.cli import main

    layout = Layout(64, 32, "a blue background", [Region("a red circle", box=(8, 0, 40, 32))])
    chosen = Settings(steps=3, guidance_scale=6.5, bootstrap_steps=1, scheduler="ddim", seed=3, eta=0.5, window=4,
                      stride=2, circular=True, max_batch=5)
    first = compose(tiny_pipe, layout, settings=chosen)
    png = save_png(first.image, tmp_path / "first.png", layout, first.settings)
    studio.import_file(png.name, png.read_bytes())
    assert studio.layout == layout and studio.settings == chosen
    assert studio.controls.windows.value == "windows, 360° wrap" and studio.controls.scheduler.value == "ddim"
    studio.generate(wait=True)
    assert studio.result.settings == first.settings
    assert studio.result.image.tobytes() == first.image.tobytes()
    exported = studio.export_png(tmp_path / "from-studio.png")
    again = tmp_path / "again.png"
    assert main(["render", str(exported), "-o", str(again)]) == 0
    assert read_png_metadata(again)[1] == first.settings


def test_an_old_png_with_old_setting_keys_imports_into_the_studio(studio, tmp_path):
    from mdwidgets import save_png

    layout = Layout(64, 64, "a blue background", [Region("a red circle", box=(8, 8, 40, 40))])
    old = {"num_inference_steps": 7, "guidance_scale": 4.0, "seed": 9, "model": "builtin:tiny-random"}
    png = save_png(Image.new("RGB", (64, 64), (0, 0, 255)), tmp_path / "old.png", layout, old)
    studio.import_file(png.name, png.read_bytes())
    assert (studio.settings.steps, studio.settings.guidance_scale, studio.settings.seed) == (7, 4.0, 9)
    assert studio.rendering.image.getpixel((0, 0)) == (0, 0, 255)  # the PNG's picture is on the canvas


def test_a_png_whose_layout_reads_but_pixels_do_not_is_refused_whole(studio, tmp_path):
    from mdwidgets import save_png

    layout = Layout(64, 64, "a blue background", [Region("a red circle", box=(8, 8, 40, 40))])
    png = save_png(Image.effect_noise((64, 64), 64).convert("RGB"), tmp_path / "cut.png", layout, {"seed": 5})
    before, seed = studio.layout, studio.settings.seed
    studio.import_file("cut.png", png.read_bytes()[:-200])  # the text chunks whole, the pixels cut short
    assert "Could not import cut.png" in studio.status.line.value
    assert studio.layout == before and studio.settings.seed == seed


def test_redo_selected_renders_the_box_again_and_keeps_every_other_pixel(studio):
    import numpy as np

    assert studio.redo_selected() is None and "needs a result and a selected box" in studio.status.line.value
    drag(studio, (16, 16), (96, 96))
    drag(studio, (128, 128), (224, 224))
    studio.generate(wait=True)
    first = studio.result
    studio.select(0)
    studio.regions.rows[0].prompt.value = "a green triangle"
    studio.redo_selected(wait=True)
    again = studio.result
    assert again is not first and again.layout.regions[0].prompt == "a green triangle"
    assert len(studio.history.results) == 2 and again.settings["seed"] != first.settings["seed"]
    before, after = np.asarray(first.image, np.int16), np.asarray(again.image, np.int16)
    outside = np.ones(before.shape[:2], bool)
    outside[16:96, 16:96] = False
    assert np.array_equal(before[outside], after[outside])  # every kept pixel, exactly
    assert np.abs(before[16:96, 16:96] - after[16:96, 16:96]).mean() > 1  # the box is new


def test_the_method_control_and_compare_methods(studio):
    """Issue #37 in the Studio: Method is a setting like the others; Compare methods renders one seed by each."""
    drag(studio, (0, 0), (128, 128))
    studio.controls.method.value = "attention"
    assert studio.settings.method == "attention"
    studio.generate(wait=True)
    assert studio.result.settings["method"] == "attention" and studio.result.timings["rows"] == [2, 2, 2]
    studio.toolbar.compare_methods.click()
    studio.rendering.runner.join(60)
    comparison = studio.rendering.comparison
    assert comparison.values == ["fusion", "fusion, bootstrap 0", "attention", "hybrid"]
    assert [r.settings["method"] for r in comparison.results] == ["fusion", "fusion", "attention", "hybrid"]
    assert len({r.settings["seed"] for r in comparison.results}) == 1
    assert "same seed, fusion · fusion, bootstrap 0 · attention · hybrid" in studio.status.line.value
    assert studio.rendering.comparison_box.layout.display is None  # the grid is shown
    assert not studio.toolbar.compare_methods.disabled  # idle again
