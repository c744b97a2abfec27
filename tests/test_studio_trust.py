"""What a person sees must be right (issue #33): only finished renders become the result and enter
the history, live mode degrades instead of switching off, threads end at exit, work comes back."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mdwidgets import Layout, Region, Settings
from mdwidgets.studio import Studio
from tests.conftest import drag, make_studio
from tests.test_studio_start import calls  # noqa: F401 - a fixture


@pytest.fixture
def studio(tiny_pipe, tmp_path):
    return make_studio(tiny_pipe, tmp_path, steps=8, bootstrap=2)


def test_superseded_live_renders_leave_result_and_history_alone(studio, calls, monkeypatch):  # noqa: F811
    monkeypatch.setattr("mdwidgets.studio.results.LIVE_BURST_SECONDS", 1e9)  # however slow the machine
    studio.controls.live.value = True  # ticking Live renders at once
    studio.rendering.runner.join()
    assert len(studio.history.results) == 1, (studio.status.line.value, studio.rendering.last_error)
    assert studio.result is studio.history.results[0]
    first = studio.result
    calls.clear()
    drag(studio, (16, 16), (96, 96))  # three edits in a burst: each replaces the render before
    drag(studio, (128, 128), (200, 200))
    studio.regions.rows[0].prompt.value = "a purple star"
    studio.rendering.runner.join()
    finished = [c for c in calls if c["settings"].steps == 8]
    assert studio.result is not first and not studio.result.cancelled
    assert studio.result.layout == studio.layout  # the newest edit's render, not a superseded one
    assert len(studio.history.results) == 1  # one burst, one entry: the last finished render
    assert studio.history.results[0] is studio.result and len(finished) >= 1


def test_a_live_render_after_a_pause_gets_its_own_entry(studio, monkeypatch):
    monkeypatch.setattr("mdwidgets.studio.results.LIVE_BURST_SECONDS", 0.0)
    studio.controls.live.value = True
    studio.rendering.runner.join()
    drag(studio, (16, 16), (96, 96))
    studio.rendering.runner.join()
    assert len(studio.history.results) == 2
    assert "seed 0 · 8 steps, 2 bootstrapped" in studio.history.widget.children[1].children[2].value


@pytest.fixture
def a_second_per_step(monkeypatch, calls):  # noqa: F811
    """Renders report one second per step, whatever the machine's load: the speed rules become exact."""
    import mdwidgets.studio.rendering as rendering

    spy = rendering.compose

    def timed(pipe, layout, **kwargs):
        result = spy(pipe, layout, **kwargs)
        result.timings["total"] = float(kwargs["settings"].steps)
        return result

    monkeypatch.setattr(rendering, "compose", timed)
    return calls


def test_live_mode_degrades_to_drafts_with_a_note_that_stays(studio, monkeypatch, a_second_per_step):
    calls = a_second_per_step  # noqa: F811
    studio.controls.steps.value = 24
    studio.controls.bootstrap.value = 4
    monkeypatch.setattr("mdwidgets.studio.rendering.LIVE_MAX_SECONDS", 10.0)  # drafts (6 s) fit, full (24 s) not
    studio.controls.live.value = True
    studio.rendering.runner.join()
    assert studio.rendering.drafts_only and studio.controls.live.value
    assert "Live shows 6-step drafts: a full render takes" in studio.rendering.live_note.value
    calls.clear()
    drag(studio, (16, 16), (96, 96))
    studio.rendering.runner.join()
    # drafts only: one 6-step run per edit, the full render waits for Generate
    assert [c["settings"].steps for c in calls] == [6] and studio.controls.live.value
    studio.status.say("something else")  # the status line moves on; the note stays
    assert "Live shows 6-step drafts: a full render takes 24.0 s" in studio.rendering.live_note.value
    studio.generate(wait=True)  # Generate renders in full
    assert calls[-1]["settings"].steps == 24 and studio.result.steps_done == 24


def test_a_slow_draft_stops_live_mode_and_ticking_live_renders_at_once(studio, monkeypatch, a_second_per_step):
    calls = a_second_per_step  # noqa: F811
    studio.controls.steps.value = 24
    monkeypatch.setattr("mdwidgets.studio.rendering.LIVE_MAX_SECONDS", 3.0)
    studio.controls.live.value = True
    studio.rendering.runner.join()
    assert studio.controls.live.value is False
    assert "Live mode stopped: even a 6-step draft takes 6.0 s" in studio.rendering.live_note.value
    monkeypatch.setattr("mdwidgets.studio.rendering.LIVE_MAX_SECONDS", 1e9)
    calls.clear()
    studio.controls.live.value = True  # the user's tick: a render right away, the note answered
    studio.rendering.runner.join()
    assert [c["settings"].steps for c in calls] == [6, 24] and studio.rendering.live_note.value == ""


def test_restoring_an_entry_renders_nothing_and_keeps_the_model_default_scheduler(studio, calls):  # noqa: F811
    drag(studio, (16, 16), (96, 96))
    studio.generate(wait=True)
    first = studio.result
    studio.controls.seed.value = 7
    studio.controls.live.value = True
    studio.rendering.runner.join()
    assert len(studio.history.results) == 2
    calls.clear()
    studio.history.widget.children[0].children[0].click()  # the thumbnail itself
    studio.rendering.runner.join()
    assert calls == [] and len(studio.history.results) == 2  # no duplicate render
    assert studio.result is first and studio.controls.seed.value == 0
    assert studio.controls.scheduler.value == "model default" and studio.settings.scheduler is None


def test_a_comparison_is_marked_stale_when_the_layout_changes(studio):
    drag(studio, (16, 16), (96, 96))
    studio.compare_bootstrap(wait=True)
    assert "mdw-stale" not in studio.rendering.comparison_box._dom_classes
    studio.regions.rows[0].prompt.value = "a green triangle"
    assert "mdw-stale" in studio.rendering.comparison_box._dom_classes
    assert "Out of date" in studio.rendering.comparison_note.value
    studio.compare_bootstrap(wait=True)
    assert "mdw-stale" not in studio.rendering.comparison_box._dom_classes


def test_a_script_that_edits_a_live_studio_and_exits_returns_0(tmp_path):
    script = textwrap.dedent("""
        from mdwidgets import Layout, Region
        from mdwidgets.pipelines.tiny import tiny_random_pipeline
        from mdwidgets.studio import Studio
        studio = Studio(tiny_random_pipeline(), live=True, autosave=False)
        studio.controls.steps.value = 40
        studio.layout = Layout(64, 64, "a blue background", [Region("a red circle", box=(8, 8, 40, 40))])
        studio.edit_region(0, prompt="a green square")
        assert studio.rendering.runner.running  # exits with a render in flight
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={"MDWIDGETS_AUTOSAVE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]


def earlier_work(pipe, **controls) -> Studio:
    """A Studio with one box, ``controls`` set (e.g. ``seed=42``) and a finished render: autosaved work."""
    before = Studio(pipe, live=False)
    drag(before, (16, 16), (96, 96))
    for name, value in controls.items():
        getattr(before.controls, name).value = value
    before.generate(wait=True)
    return before


def test_a_new_studio_offers_the_work_of_an_earlier_kernel(tiny_pipe, autosave_dir):
    before = earlier_work(tiny_pipe, seed=42, guidance=3.5)
    picture = before.result.image
    del before  # the kernel restarts; the notebook's cell runs again
    after = Studio(tiny_pipe, live=False)
    offer = after.offer.button
    assert offer.layout.display is None and offer.description.startswith("Restore work from ")
    assert after.layout.regions == () and after.result is None  # nothing changes before the click
    offer.click()
    assert len(after.layout.regions) == 1 and offer.layout.display == "none"
    assert after.controls.seed.value == 42 and after.settings.guidance_scale == 3.5
    assert after.result is not None and np.array_equal(np.asarray(after.result.image), np.asarray(picture))
    assert after.result.settings["seed"] == 42 and "Restored the work saved at" in after.status.line.value
    after.select(0)
    after.redo_selected(wait=True)  # a restored picture stands for its latents
    assert len(after.history.results) == 1 and after.result.settings["seed"] != 42


def test_no_offer_without_earlier_work_or_with_a_layout_given(tiny_pipe, autosave_dir):
    assert Studio(tiny_pipe, live=False).offer.button.layout.display == "none"
    drag(Studio(tiny_pipe, live=False), (16, 16), (96, 96))
    given = Studio(tiny_pipe, Layout(128, 128, "a blue background", [Region("x", box=(0, 0, 8, 8))]), live=False)
    assert given.offer.button.layout.display == "none"


def test_restore_brings_back_settings_and_picture(tiny_pipe, autosave_dir):
    before = earlier_work(tiny_pipe, steps=5, seed=9)
    restored = Studio.restore(tiny_pipe, live=False)
    assert restored.settings == before.settings and isinstance(restored.settings, Settings)
    assert restored.result.layout == before.result.layout and restored.result.settings["steps"] == 5


def _widgets(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _widgets(child)


def test_every_control_has_a_tooltip_and_bootstrap_says_n_of_m(studio):
    import ipywidgets as w

    controls = (w.Button, w.ToggleButton, w.Dropdown, w.IntSlider, w.FloatSlider, w.Checkbox, w.FileUpload,
                w.IntText)
    drag(studio, (16, 16), (96, 96))  # a region row too
    missing = [f"{type(c).__name__} {c.description!r}" for c in _widgets(studio.widget)
               if isinstance(c, controls) and not c.tooltip]
    assert missing == []
    studio.controls.steps.value, studio.controls.bootstrap.value = 25, 5
    assert "first 5 of 25 steps" in studio.controls.bootstrap.tooltip
    assert "first 5 of 25 steps" in studio.controls.bootstrap_note.value


def test_the_cursor_says_what_a_drag_will_do(studio):
    from mdwidgets.studio.boxcanvas import hover_cursor

    boxes = [(16, 16, 96, 96), (40, 40, 64, 64)]
    assert hover_cursor(boxes, None, 4, 4, 2) == "crosshair"  # draws
    assert hover_cursor(boxes, None, 50, 50, 2) == "pointer"  # a click selects the inner box
    assert hover_cursor(boxes, 0, 50, 50, 2) == "move"  # a drag inside the selected box moves it
    assert hover_cursor(boxes, 0, 16, 16, 2) == "nwse-resize" and hover_cursor(boxes, 0, 96, 16, 2) == "nesw-resize"
    assert hover_cursor(boxes, 0, 16, 50, 2) == "ew-resize" and hover_cursor(boxes, 0, 50, 96, 2) == "ns-resize"
    drag(studio, (16, 16), (96, 96))
    from tests.conftest import send

    send(studio, "mouse_move", 50, 50)  # hover over the new, selected box
    assert "mdw-cursor-move" in studio.boxes.canvas._dom_classes
    assert "mdw-cursor-crosshair" not in studio.boxes.canvas._dom_classes


def test_outline_colours_never_contradict_the_prompts(studio):
    from mdwidgets.render.preview import OUTLINE_FOR_WORD, outline_colours

    prompts = ["a red circle", "a yellow square", "a green triangle", "a dog"]
    colours = outline_colours(prompts, background="a blue background")
    assert colours[:3] == [OUTLINE_FOR_WORD["red"], OUTLINE_FOR_WORD["yellow"], OUTLINE_FOR_WORD["green"]]
    assert colours[3] not in [OUTLINE_FOR_WORD[c] for c in ("red", "yellow", "green", "blue")]
    studio.layout = Layout(256, 256, "a blue background", [Region(p, box=(0, 0, 64, 64)) for p in prompts])
    assert studio.boxes.colours == colours


def test_unknown_words_are_named_with_the_vocabulary(studio):
    drag(studio, (16, 16), (96, 96))
    studio.regions.rows[0].prompt.value = "a purple elephant"
    note = studio.regions.rows[0].message.value
    assert "does not know &#x27;elephant&#x27;" in note or "does not know 'elephant'" in note
    assert "It knows:" in note and "purple" in note
    studio.regions.rows[0].prompt.value = "a purple square"
    assert "does not know" not in studio.regions.rows[0].message.value


def test_the_first_cell_prints_nothing_on_stderr(tmp_path):
    script = "from mdwidgets import Studio, load_pipeline\nStudio(load_pipeline())\n"
    env = {"MDWIDGETS_AUTOSAVE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    # older transformers (the floor job's 4.40) migrate a new cache folder once, saying so: not ours
    subprocess.run([sys.executable, "-c", "import transformers"], capture_output=True, timeout=300, env=env)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    # what mdwidgets controls: the loading bars and transformers' torchvision notice (a stack without
    # accelerate still gets diffusers' own advice to install it)
    assert "Loading pipeline components" not in done.stderr and "torchvision" not in done.stderr


def test_a_canvas_above_the_models_native_size_is_warned_about(studio):
    studio.toolbar.size.value = "1024×1024 (SDXL)"
    assert "draws at 256×256: on 1024×1024" in studio.status.line.value
    studio.controls.windows.value = "native windows"
    studio.toolbar.size.value = "512×512"
    assert "draws at" not in studio.status.line.value


def test_copy_as_code_renders_the_same_picture(studio, tiny_pipe, monkeypatch):
    import mdwidgets

    drag(studio, (16, 16), (96, 96))
    studio.regions.rows[0].prompt.value = "a red circle ''' \\ done"  # quotes and a backslash survive
    studio.controls.seed.value = 5
    studio.generate(wait=True)
    studio.toolbar.copy_code.click()
    code = studio.toolbar.code_view.value
    assert studio.toolbar.code_view.layout.display is None and code == studio.to_code()
    assert "compose(pipe, layout, settings=settings)" in code
    monkeypatch.setattr(mdwidgets, "load_pipeline", lambda *a, **k: tiny_pipe)
    namespace = {}
    monkeypatch.chdir(studio.output_dir)
    exec(compile(code, "copied.py", "exec"), namespace)
    assert namespace["layout"] == studio.layout and namespace["settings"] == studio.settings
    assert np.array_equal(np.asarray(namespace["result"].image), np.asarray(studio.result.image))


def test_a_canvas_front_end_that_never_answers_is_explained(studio, monkeypatch):
    import time

    import mdwidgets.studio.recovery as recovery

    monkeypatch.setattr(recovery, "FRONTEND_WAIT_SECONDS", 0.05)
    bundle = studio._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "enable_custom_widget_manager" in bundle["text/plain"]
    time.sleep(0.5)
    assert "The drawing canvas has not answered" in studio.status.line.value


def test_a_canvas_that_answers_gets_no_warning(tiny_pipe, monkeypatch):
    import time

    import mdwidgets.studio.recovery as recovery

    monkeypatch.setattr(recovery, "FRONTEND_WAIT_SECONDS", 0.2)
    studio = Studio(tiny_pipe, live=False)
    studio._repr_mimebundle_()
    studio.boxes.canvas._canvases[-1]._handle_frontend_event(None, {"event": "client_ready"}, [])
    time.sleep(0.6)
    assert "has not answered" not in studio.status.line.value


def test_a_failing_save_button_says_why_in_the_panel(tiny_pipe, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    studio = Studio(tiny_pipe, output_dir=blocker, live=False)
    studio.toolbar.save_layout.click()
    assert "Save layout failed" in studio.status.line.value and blocker.read_text() == "mine"


def test_an_imported_png_applies_its_settings_whole_and_says_what_changed(studio, tmp_path):
    from PIL import Image

    from mdwidgets import save_png

    layout = Layout(256, 256, "a blue background", [Region("a red circle", box=(8, 8, 64, 64))])
    path = save_png(Image.new("RGB", (256, 256)), tmp_path / "x.png", layout,
                    {"seed": 5, "steps": 150, "guidance_scale": 20.0})
    studio.import_file("x.png", path.read_bytes())
    assert studio.layout == layout
    assert (studio.settings.steps, studio.settings.guidance_scale, studio.settings.seed) == (150, 20.0, 5)  # no clamp
    assert "steps 8 → 150" in studio.status.line.value and "seed 0 → 5" in studio.status.line.value
    only_seed = save_png(Image.new("RGB", (256, 256)), tmp_path / "s.png", layout, {"seed": 9})
    studio.import_file("s.png", only_seed.read_bytes())  # a seed alone: the other settings stay
    assert studio.settings.seed == 9 and studio.settings.steps == 150


def test_live_mode_pauses_on_a_canvas_far_over_the_models_size(studio, calls):  # noqa: F811
    studio.controls.live.value = True
    studio.rendering.runner.join()
    calls.clear()
    studio.layout = Layout(1088, 256, "a blue background")  # over 4× the tiny model's 256×256
    studio.rendering.runner.join()
    assert calls == [] and "Live paused: a 1088×256 canvas" in studio.rendering.live_note.value
    studio.controls.live.value = False
    studio.controls.steps.value = 1
    studio.generate(wait=True)  # Generate still renders it
    assert calls and studio.result.layout.width == 1088


def test_mask_regions_share_their_mask_across_edits_and_undo_states(studio):
    """Issue #36 I: a prompt edit of a mask region copied its mask into every undo state."""
    mask = np.zeros((256, 256), np.float32)
    mask[32:96, 40:120] = 1
    studio.layout = Layout(256, 256, "a blue background", [Region("a red circle", mask=mask)])
    shared = studio.layout.regions[0].mask
    mask[:] = 0  # the caller's array: writing to it later changes nothing in the layout
    assert shared.any() and not shared.flags.writeable
    for k in range(20):
        studio.edit_region(0, prompt=f"a red circle {k}")
    states = [state[0] for state in studio.edits.undo_stack] + [studio.layout]
    assert all(s.regions[0].mask is shared for s in states[1:])  # one array for all 21 layouts
