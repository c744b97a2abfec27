"""The Studio's "Start from image" (issue #19): image-to-image from the result or an upload, with a
Strength slider, driven through the widgets' traits and clicks."""

import io

import ipywidgets
import numpy as np
import pytest
from PIL import Image

from mdwidgets import Layout, Region, read_png_metadata
from mdwidgets.studio import HistoryStrip, Studio
from mdwidgets.studio.start import Start, uploaded_files
from tests.conftest import drag, make_studio
from tests.test_studio import cancel_at_first_preview


@pytest.fixture
def studio(tiny_pipe, tmp_path):
    return make_studio(tiny_pipe, tmp_path, steps=4, bootstrap=1)


@pytest.fixture
def calls(monkeypatch):
    """Every compose call's keywords (the run itself goes ahead)."""
    import mdwidgets.studio.rendering as rendering

    seen, real = [], rendering.compose

    def spy(pipe, layout, **kwargs):
        seen.append(kwargs)
        return real(pipe, layout, **kwargs)

    monkeypatch.setattr(rendering, "compose", spy)
    return seen


def png_bytes(size, colour="red"):
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def upload(studio, name, content):
    """The message a browser sends when a file is picked: ipywidgets 8 sends the value with the
    content as a buffer, 7.7 the metadata, the data and a counter that makes the value."""
    if ipywidgets.__version__.startswith("7."):
        meta = [{"name": name, "type": "image/png", "size": len(content), "lastModified": 0}]
        state = {"metadata": meta, "data": [None], "_counter": studio.start.upload._counter + 1}
        data = {"method": "update", "state": state, "buffer_paths": [["data", 0]]}
    else:
        value = [{"name": name, "type": "image/png", "size": len(content), "last_modified": 0}]
        data = {"method": "update", "state": {"value": value}, "buffer_paths": [["value", 0, "content"]]}
    studio.start.upload._handle_msg({"content": {"data": data}, "buffers": [memoryview(content)]})


def entry_label(studio, k):
    return studio.history.widget.children[k].children[2].value


def test_start_from_the_result_at_a_strength_runs_image_to_image_and_says_so(studio, calls):
    drag(studio, (16, 16), (128, 128))
    assert studio.start.start is None and studio.start.strength.disabled
    studio.generate(wait=True)
    first = studio.result
    studio.start.use_result.click()
    studio.start.strength.value = 0.5
    studio.generate(wait=True)
    kwargs, result = calls[-1], studio.result
    assert kwargs["strength"] == 0.5 and isinstance(kwargs["init_image"], Image.Image)
    assert np.array_equal(np.asarray(kwargs["init_image"]), np.asarray(first.image))
    assert result.steps_done == 2  # int(4 × 0.5) of the 4 steps run
    assert result.settings["strength"] == 0.5 and result.settings["start_image"] == (
        f"the result of seed {first.settings['seed']}")
    assert studio.history.labels == ["", "from result, strength 0.5"]
    assert "from result, strength 0.5" in entry_label(studio, 1) and "</small>" in entry_label(studio, 0)
    assert "from result, strength 0.5" in studio.status.line.value
    # From noise: back to text-to-image
    studio.start.clear.click()
    assert studio.start.start is None and studio.start.clear.disabled
    studio.generate(wait=True)
    assert "init_image" not in calls[-1] and "strength" not in studio.result.settings
    assert studio.result.steps_done == 4 and studio.history.labels[-1] == ""


def test_from_result_without_a_result_and_a_bad_strength_change_nothing(studio):
    studio.start.use_result.click()
    assert studio.start.start is None and "Generate first" in studio.status.line.value
    with pytest.raises(ValueError, match=r"strength=1.5 must be in \(0, 1\]"):
        studio.start_from(Image.new("RGB", (256, 256)), strength=1.5)
    assert studio.start.start is None


def test_a_wrong_size_upload_is_resized_with_a_note_and_the_layout_stays(studio, calls):
    drag(studio, (16, 16), (128, 128))
    layout = studio.layout
    upload(studio, "cat.png", png_bytes((300, 200)))
    note = "cat.png is 300×200 px, the canvas 256×256: resized to the canvas"
    assert note in studio.status.line.value and note in studio.start.note.value
    assert studio.layout == layout and studio.start.start.image.size == (300, 200)
    assert studio.start.thumbnail.layout.display is None and not studio.start.strength.disabled
    studio.generate(wait=True)
    assert calls[-1]["init_image"].size == (256, 256) and studio.history.labels[-1] == "from image, strength 0.6"
    assert studio.result.settings["start_image"] == "cat.png"
    # The canvas changes later: the picture is fitted to the new size (from the original), saying so
    studio.resize(128, 128)
    assert "the canvas 128×128" in studio.start.note.value
    studio.generate(wait=True)
    assert calls[-1]["init_image"].size == (128, 128)
    # From noise, then the same file again: it is taken again (the upload was emptied after reading)
    studio.start.clear.click()
    upload(studio, "cat.png", png_bytes((300, 200)))
    assert studio.start.start.name == "cat.png" and not studio.start.upload.value


def test_an_upload_that_is_no_picture_is_refused_and_nothing_changes(studio):
    studio.start_from(Image.new("RGB", (256, 256), "blue"), name="blue.png")
    before = studio.start.start
    upload(studio, "notes.png", b"not a png at all")
    assert "Not changed: notes.png is not a picture" in studio.status.line.value
    assert studio.start.start.image is before.image


def test_uploads_read_in_both_ipywidgets_formats():
    content = png_bytes((8, 8))
    assert uploaded_files(({"name": "a.png", "content": memoryview(content)},)) == [("a.png", content)]
    assert uploaded_files({"a.png": {"metadata": {"name": "a.png"}, "content": content}}) == [("a.png", content)]
    assert uploaded_files(()) == [] and uploaded_files({}) == []


def test_restoring_a_history_entry_restores_its_start(studio):
    drag(studio, (16, 16), (128, 128))
    studio.generate(wait=True)
    studio.start_from(strength=0.75)
    studio.generate(wait=True)
    studio.select(0)
    studio.redo_selected(wait=True)
    assert studio.history.labels == ["", "from result, strength 0.75", "redo: region 1"]
    studio.start.clear.click()
    studio.history.widget.children[1].children[1].click()
    start = studio.start.start
    assert start is not None and start.kind == "result" and studio.start.strength.value == 0.75
    studio.history.widget.children[0].children[1].click()
    assert studio.start.start is None and studio.start.strength.disabled


def test_undo_and_redo_leave_the_start_alone(studio):
    studio.start_from(Image.new("RGB", (256, 256), "green"), strength=0.4, name="green.png")
    drag(studio, (16, 16), (128, 128))
    assert studio.undo() and studio.layout.regions == ()
    assert studio.start.start.name == "green.png" and studio.start.strength.value == 0.4
    assert studio.redo() and studio.start.start.name == "green.png"


def test_the_png_names_the_start_and_an_import_brings_the_strength_back(studio, tiny_pipe, tmp_path):
    studio.start_from(Image.new("RGB", (256, 256), "green"), strength=0.4, name="green.png")
    studio.generate(wait=True)
    path = studio.export_png()
    _, settings = read_png_metadata(path)
    assert settings["start_image"] == "green.png" and settings["strength"] == 0.4
    other = Studio(tiny_pipe, output_dir=tmp_path, live=False)
    other.import_file(path.name, path.read_bytes())
    assert other.start.strength.value == 0.4 and other.start.start is None  # the picture is not in the PNG
    assert "started from green.png at strength 0.4" in other.status.line.value


def test_live_edits_render_again_from_the_same_start_picture(studio, calls):
    studio.controls.steps.value = 20
    studio.controls.bootstrap.value = 4
    picture = Image.new("RGB", (256, 256), "yellow")
    studio.start_from(picture, strength=0.5, name="yellow.png")
    studio.controls.live.value = True
    drag(studio, (16, 16), (128, 128))
    studio.rendering.runner.join(60)
    drag(studio, (144, 144), (240, 240))
    studio.rendering.runner.join(60)
    assert len(calls) >= 2
    for kwargs in calls:
        assert kwargs["strength"] == 0.5 and np.array_equal(np.asarray(kwargs["init_image"]), np.asarray(picture))
    draft, final = calls[-2]["settings"], calls[-1]["settings"]
    assert (draft.steps, draft.bootstrap_steps) == (12, 2) and final.steps == 20  # the draft runs 6 steps
    assert studio.result.steps_done == 10 and studio.history.labels[-1] == "from image, strength 0.5"
    studio.controls.live.value = False


def test_cancel_stops_an_image_to_image_run_within_one_step(studio):
    studio.controls.steps.value = 50
    studio.controls.bootstrap.value = 0
    studio.start_from(Image.new("RGB", (256, 256), "yellow"), strength=0.8)
    cancel_at_first_preview(studio)
    studio.generate(wait=True)
    assert int(studio.status.label.value.split()[2]) <= 2 and studio.result is None  # a preview, not a result
    assert "of 40" in studio.status.line.value and not studio.toolbar.generate.disabled


def test_history_strip_labels_and_origins(tiny_pipe):
    from mdwidgets import compose

    strip = HistoryStrip(limit=2)
    results = [compose(tiny_pipe, Layout(64, 64, "a blue background"), num_inference_steps=1, seed=s)
               for s in range(3)]
    for k, result in enumerate(results):
        strip.add(result, f"<entry {k}>", origin=k)
    assert strip.labels == ["<entry 1>", "<entry 2>"]
    assert "&lt;entry 2&gt;" in strip.widget.children[1].children[2].value  # shown as text
    assert strip.origin_of(results[2]) == 2 and strip.origin_of(results[0], "gone") == "gone"


def test_start_checks_its_values():
    with pytest.raises(ValueError, match="must be in"):
        Start(Image.new("RGB", (8, 8)), "x", 0.0)
    with pytest.raises(TypeError, match="PIL image"):
        Start(np.zeros((8, 8, 3)), "x", 0.5)
    assert Start(Image.new("RGB", (8, 8)), "x", 0.55).label == "from image, strength 0.55"


@pytest.fixture(scope="module")
def shapes_pipe():
    from tests.devices import load_test_pipeline

    return load_test_pipeline("builtin:shapes")


def test_a_low_strength_render_stays_close_to_its_start_picture(shapes_pipe, tmp_path):
    """The square is moved after the first render: from noise it is drawn at its new place; from
    that render at strength 0.3 the picture stays close to the first one (the last 6 of 20 steps
    only finish it). Measured: 51/255 from noise, 7.3/255 at strength 0.3."""
    studio = Studio(shapes_pipe, Layout(128, 128, "a blue background", regions=(
        Region("a red square", box=(16, 16, 64, 64)),)), output_dir=tmp_path, live=False)
    studio.controls.steps.value = 20
    studio.controls.bootstrap.value = 12
    studio.controls.seed.value = 1
    studio.generate(wait=True)
    picture = np.asarray(studio.result.image, np.float32)
    studio.edit_region(0, box=(64, 64, 112, 112))
    studio.controls.seed.value = 3
    distances = {}
    for strength in (None, 0.3):
        if strength is not None:
            studio.start_from(studio.history.results[0].image, strength=strength, name="the first render")
        studio.generate(wait=True)
        distances[strength] = float(np.abs(np.asarray(studio.result.image, np.float32) - picture).mean())
    print("mean |result - start picture| /255:", distances)
    assert distances[0.3] < 15 < 30 < distances[None]
    assert studio.result.steps_done == 6
