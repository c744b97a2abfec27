"""Settings: one home for every rendering setting, its default and its round trip through files."""

import dataclasses
import inspect
import json
import re

import pytest
import torch
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image

from mdwidgets import (
    InputError,
    Layout,
    Region,
    Run,
    Settings,
    SettingsError,
    compose,
    compose_many,
    read_png_metadata,
    save_png,
)
from mdwidgets.apps.cli import main
from mdwidgets.apps.sweep import _ID_PREFIX, allowed_keys
from mdwidgets.files import load_layout_bytes, load_layout_file
from mdwidgets.settings import RULES, RUN_KEYS
from tests.devices import tolerance

LAYOUT = Layout(64, 32, "a blue background", [Region("a red circle", box=(8, 0, 40, 32))])
# Every field away from its default; 8x4 latent cells in windows of 4 moved by 2, wrapped: several views.
CHANGED = Settings(steps=3, guidance_scale=6.5, bootstrap_steps=1, scheduler="ddim", seed=3, eta=0.5, window=4,
                   stride=2, circular=True, max_batch=5, method="hybrid")


def test_every_field_of_the_example_differs_from_its_default():
    assert all(getattr(CHANGED, name) != getattr(Settings(), name) for name in Settings.names())


def test_every_setting_survives_compose_a_png_and_a_cli_rerender(tiny_pipe, tmp_path):
    result = compose(tiny_pipe, LAYOUT, settings=CHANGED)
    assert set(result.settings) == {*Settings.names(), *RUN_KEYS}
    assert Settings.from_dict(result.settings) == CHANGED
    assert (result.settings["model"], result.settings["device"], result.settings["dtype"]) == (
        "builtin:tiny-random", "cpu", "float32")

    png = save_png(result.image, tmp_path / "first.png", LAYOUT, result.settings)
    layout, stored = read_png_metadata(png)
    assert layout == LAYOUT and stored == result.settings
    assert Settings.from_dict(stored, png) == CHANGED

    again = tmp_path / "again.png"
    assert main(["render", str(png), "-o", str(again)]) == 0
    assert read_png_metadata(again)[1] == stored
    assert Image.open(again).tobytes() == Image.open(png).tobytes()


def test_the_keywords_and_settings_render_the_same(tiny_pipe):
    by_settings = compose(tiny_pipe, LAYOUT, settings=CHANGED, output_type="latent")
    keywords = dict(zip(Settings.keywords(), dataclasses.astuple(CHANGED)))
    assert keywords["num_inference_steps"] == CHANGED.steps
    by_keywords = compose(tiny_pipe, LAYOUT, **keywords, output_type="latent")
    assert torch.equal(by_settings.latents, by_keywords.latents) and by_settings.settings == by_keywords.settings
    runs = [Run(LAYOUT, CHANGED.replace(max_batch=None), output_type="latent"),
            Run(LAYOUT, Settings.from_keywords(**{**keywords, "max_batch": None}), output_type="latent")]
    for one in compose_many(tiny_pipe, runs, max_batch=5):
        assert torch.allclose(one.latents, by_settings.latents, atol=tolerance(tiny_pipe))
        assert one.settings == by_settings.settings


def test_compose_takes_its_defaults_from_settings():
    parameters = inspect.signature(compose).parameters
    defaults = dict(zip(Settings.keywords(), dataclasses.astuple(Settings())))
    assert {k: parameters[k].default for k in Settings.keywords()} == defaults
    assert parameters["num_inference_steps"].default is Settings().steps is None  # the model family's
    assert Settings().resolved("builtin:shapes").steps == 25 and Settings().resolved("sd-turbo").steps == 4


def test_settings_and_a_keyword_it_covers_are_a_type_error(tiny_pipe):
    with pytest.raises(TypeError, match="compose\\(\\) got settings= and num_inference_steps="):
        compose(tiny_pipe, LAYOUT, settings=Settings(steps=3), num_inference_steps=25)  # even the default value
    with pytest.raises(TypeError, match="settings must be a mdwidgets.Settings, not dict"):
        compose(tiny_pipe, LAYOUT, settings={"steps": 3})
    with pytest.raises(TypeError, match="run 0: settings must be a mdwidgets.Settings, not dict"):
        compose_many(tiny_pipe, [Run(LAYOUT, {"steps": 3})])


def test_old_keys_run_metadata_unknown_keys_and_nones_read_as_settings():
    assert Settings.from_dict({"num_inference_steps": 7, "model": "x", "device": "cpu"}) == Settings(steps=7)
    assert Settings.from_dict({"steps": 7, "num_inference_steps": 7}) == Settings(steps=7)
    assert Settings.from_dict({"a_setting_from_the_future": [1], "dtype": "float16"}) == Settings()
    # None is "the default": e.g. stride in the result of a run with one view
    assert Settings.from_dict(dict.fromkeys(Settings.names())) == Settings()


@pytest.mark.parametrize(("data", "message"), [
    ({"steps": 0}, "setting steps=0 must be a whole number from 1 to 1000"),
    ({"num_inference_steps": 2.5}, "setting num_inference_steps=2.5 must be a whole number from 1 to 1000"),
    ({"guidance_scale": float("nan")}, "setting guidance_scale=nan must be a finite number >= 0"),
    ({"eta": -1}, "setting eta=-1 must be a number from 0 to 1 (DDIM's eta: 0 deterministic, 1 as much fresh "
                  "noise as DDPM)"),
    ({"seed": "12"}, "setting seed='12' must be a whole number >= 0"),
    ({"window": "wide"}, "setting window='wide' must be a whole number >= 1 or 'native'"),
    ({"circular": 1}, "setting circular=1 must be true or false"),
    ({"scheduler": 3}, f"setting scheduler=3 must be {RULES['scheduler'][0]}"),
    ({"steps": 4, "num_inference_steps": 5}, "steps=4 and num_inference_steps=5 disagree"),
    ([1, 2], "settings must be a JSON object, not list"),
])
def test_bad_values_are_settings_errors_naming_the_file_and_field(data, message):
    with pytest.raises(SettingsError) as info:
        Settings.from_dict(data, "old.png")
    assert str(info.value) == f"old.png: {message}"


VALUES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.lists(st.integers())


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*Settings.names(), "num_inference_steps", "model", "other"]), VALUES,
                       max_size=5))
def test_any_dict_reads_as_settings_or_a_settings_error(data):
    try:
        read = Settings.from_dict(data)
    except SettingsError:
        return
    assert Settings.from_dict(read.to_dict()) == read  # what it read is valid and round-trips


def test_resolved_fills_only_the_models_defaults():
    assert Settings().resolved("builtin:shapes") == Settings(steps=25, guidance_scale=5.0, bootstrap_steps=8)  # 32%
    assert Settings(steps=10).resolved("some/model") == Settings(steps=10, guidance_scale=7.5, bootstrap_steps=2)
    given = Settings(steps=25, guidance_scale=1.0, bootstrap_steps=0)
    assert given.resolved("builtin:shapes") == given


def test_a_run_with_one_view_records_no_stride_and_reads_back_the_default(tiny_pipe):
    # one view of the whole canvas (8x4 cells): a stride larger than the canvas does not matter
    result = compose(tiny_pipe, LAYOUT, settings=Settings(steps=2, seed=0, stride=16), output_type="latent")
    assert result.settings["window"] is None and result.settings["stride"] is None
    assert result.settings["eta"] == 0.0 and result.settings["guidance_scale"] == 7.5
    assert Settings.from_dict(result.settings) == Settings(steps=2, seed=0, guidance_scale=7.5, bootstrap_steps=0,
                                                           scheduler=result.settings["scheduler"])


def test_sweeps_know_every_setting():
    assert set(_ID_PREFIX) == set(Settings.names()) and set(Settings.names()) <= set(allowed_keys())


def test_layout_files_name_the_file_in_every_error(tmp_path):
    with pytest.raises(InputError, match=f"cannot read {tmp_path / 'none.json'}"):
        load_layout_file(tmp_path / "none.json")
    with pytest.raises(InputError, match="cannot read"):
        load_layout_file(tmp_path)  # a folder
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"mdwidgets_layout": 1, "width": 100, "height": 64, "background": "x"}))
    with pytest.raises(InputError, match=f"^{bad}: width=100: must be a multiple of 8"):
        load_layout_file(bad)
    with pytest.raises(InputError, match="^upload.png: cannot read as a PNG image"):
        load_layout_bytes("upload.png", b"not a png")
    with pytest.raises(InputError, match="^upload.json: layout JSON is malformed"):
        load_layout_bytes("upload.json", b"{oops")


def test_layout_files_read_json_and_pngs_alike(tmp_path):
    good = tmp_path / "good.json"
    LAYOUT.save(good)
    assert load_layout_file(good) == (LAYOUT, {})
    png = save_png(Image.new("RGB", (64, 32)), tmp_path / "x.png", LAYOUT, CHANGED)  # a Settings is fine too
    assert load_layout_file(png) == (LAYOUT, CHANGED.to_dict())
    assert load_layout_bytes("X.PNG", png.read_bytes()) == (LAYOUT, CHANGED.to_dict())


def test_compare_takes_any_setting_by_its_compose_keyword(tiny_pipe):
    from mdwidgets.render.figures import compare

    result = compare(tiny_pipe, LAYOUT, "num_inference_steps", [1, 2], score=lambda image, layout: None, cell_size=32)
    assert [r.settings["steps"] for r in result.results] == [1, 2]  # steps no longer defaulted in as a fixed keyword
    with pytest.raises(ValueError, match="cannot compare 'latents': choose a compose\\(\\) keyword"):
        compare(tiny_pipe, LAYOUT, "latents", [None])


@pytest.mark.parametrize(("fields", "message"), [
    ({"steps": 0}, "steps=0 must be a whole number from 1 to 1000"),
    ({"eta": None}, "eta=None must be a number from 0 to 1"),
    ({"method": None}, "method=None must be one of 'fusion', 'attention', 'hybrid'"),
    ({"seed": -1}, "seed=-1 must be a whole number >= 0"),
    ({"steps": 4, "bootstrap_steps": 5}, "bootstrap_steps=5 must be between 0 and steps=4"),
])
def test_a_settings_checks_itself_when_made(fields, message):
    """Issue #34: one home of every rule. A bad value is refused where the Settings is made, by the
    same rule a file is read with; compose's keywords are named as the caller wrote them."""
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings(**fields)
    with pytest.raises(SettingsError, match=re.escape("num_inference_steps=0 must be a whole number")):
        Settings.from_keywords(num_inference_steps=0)
    assert Settings.from_keywords(num_inference_steps=7) == Settings(steps=7)
