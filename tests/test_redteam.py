"""Hostile and unlucky files at every boundary that reads one (inputs from benchmarks/redteam.py)."""

import io
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.redteam import GOOD, hostile_layouts, hostile_pngs, png_bytes, studio_try
from mdwidgets import InputError, Layout, read_png_metadata
from mdwidgets.apps.cli import main
from mdwidgets.files import PNG_LAYOUT_KEY, PNG_SETTINGS_KEY
from mdwidgets.settings import check_settings
from mdwidgets.studio import Studio


@pytest.mark.parametrize("name", list(hostile_layouts()))
def test_hostile_layout_json_raises_only_layout_errors(name):
    with pytest.raises(InputError):
        Layout.from_json(hostile_layouts()[name])


@pytest.mark.parametrize("name", list(hostile_pngs()))
def test_hostile_pngs_raise_only_layout_errors(name):
    with pytest.raises(InputError):
        read_png_metadata(io.BytesIO(hostile_pngs()[name]))


def test_masks_are_checked_from_their_header_before_decoding():
    with pytest.raises(InputError, match=r"mask='9000x9000 PNG': must be the canvas size, 64x64"):
        Layout.from_json(hostile_layouts()["mask larger than canvas (header)"])
    with pytest.raises(InputError, match="too many mask pixels"):
        Layout.from_json(hostile_layouts()["too many full-canvas masks"])
    with pytest.raises(InputError, match="is not a base64-encoded PNG image"):
        Layout.from_json(hostile_layouts()["mask as GIF"])


def test_png_metadata_is_read_without_decoding_pixels():
    layout, _ = read_png_metadata(io.BytesIO(png_bytes((16, 16), text={PNG_LAYOUT_KEY: json.dumps(GOOD)})))
    assert layout == Layout.from_dict(GOOD)
    with pytest.raises(InputError, match="setting seed=1.7 must be a whole number >= 0"):
        read_png_metadata(io.BytesIO(hostile_pngs()["settings: seed 1.7"]))
    with pytest.raises(InputError, match="setting circular='no' must be true or false"):
        read_png_metadata(io.BytesIO(hostile_pngs()["settings: circular 'no'"]))


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
SETTING_KEYS = st.sampled_from(["seed", "steps", "guidance_scale", "bootstrap_steps", "scheduler", "circular",
                                "window", "stride", "max_batch", "model", "unknown"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(SETTING_KEYS, JSON, max_size=4) | JSON)
def test_settings_of_any_shape_are_refused_or_have_the_right_types(value):
    try:
        checked = check_settings(value)
    except InputError:
        return
    numbers = ("steps", "window", "stride", "max_batch", "bootstrap_steps", "seed")
    for key in numbers:
        native = key == "window" and checked.get(key) == "native"  # the model's own window size
        assert checked.get(key) is None or native or (type(checked[key]) is int and checked[key] >= 0)
    guidance = checked.get("guidance_scale")
    assert guidance is None or (type(guidance) in (int, float) and math.isfinite(guidance) and guidance >= 0)
    assert checked.get("circular") in (None, True, False)
    assert checked.get("scheduler") is None or isinstance(checked["scheduler"], str)


@pytest.fixture(scope="module")
def studio(tiny_pipe, tmp_path_factory):
    return Studio(tiny_pipe, autosave=False, output_dir=tmp_path_factory.mktemp("out"), live=False)


@pytest.mark.parametrize("name", list(hostile_layouts()) + list(hostile_pngs()))
def test_the_studio_refuses_hostile_files_as_text_and_keeps_the_users_work(studio, name):
    studio.layout = Layout.from_dict(GOOD)
    studio.controls.seed.value = 1234
    if name in hostile_layouts():
        file_name, content = f"<img src=x onerror=alert(1)> {name}.json", hostile_layouts()[name].encode()
    else:
        file_name, content = f"{name}.png", hostile_pngs()[name]
    outcome, detail = studio_try(studio, file_name, content)
    assert outcome == "clean", detail
    assert studio.layout == Layout.from_dict(GOOD) and studio.controls.seed.value == 1234


def test_rerendering_a_png_loads_its_model_only_when_asked(tmp_path, capsys, monkeypatch):
    png = tmp_path / "from-someone.png"
    png.write_bytes(png_bytes((64, 64), text={PNG_LAYOUT_KEY: json.dumps(GOOD),
                                              PNG_SETTINGS_KEY: json.dumps({"model": "/etc/evil", "steps": 1})}))
    import mdwidgets.pipelines.loading

    loaded = []

    def record(model, **_):
        loaded.append(model)
        raise mdwidgets.pipelines.loading.ModelError("stop here")

    monkeypatch.setattr(mdwidgets.pipelines.loading, "load_pipeline", record)
    assert main(["render", str(png), "-o", str(tmp_path / "a.png")]) == 2
    assert loaded == ["builtin:shapes"]
    assert "was made with '/etc/evil'; rendering with builtin:shapes" in capsys.readouterr().err
    assert main(["render", str(png), "-o", str(tmp_path / "a.png"), "--model-from-png"]) == 2
    assert loaded[-1] == "/etc/evil"
