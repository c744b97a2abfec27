"""Issue #36: one test per root cause, each reproducing its hostile try (built in benchmarks/redteam_causes.py)
and asserting the clear error or the kept file. (Causes I-L are the Studio's, tested with the Studio.)"""

import csv
import io
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks import redteam_causes as tries
from benchmarks.redteam import png_bytes
from mdwidgets import InputError, Layout, ModelError, Settings, compose, compose_many, load_pipeline
from mdwidgets.apps.cli import main
from mdwidgets.apps.sweep import MARKER, load_spec, run_sweep, write_results
from mdwidgets.files import PNG_LAYOUT_KEY, PNG_SETTINGS_KEY, load_layout_file, read_png_metadata, save_png
from mdwidgets.render.preview import overlay_regions
from mdwidgets.sampling.img2img import keep_all_but
from mdwidgets.settings import MAX_STEPS

GOOD = tries.GOOD


def render(pipe, **kwargs):
    return compose(pipe, tries.layout(), **{"num_inference_steps": 1, "output_type": "latent", **kwargs})


def png_with_settings(settings) -> io.BytesIO:
    return io.BytesIO(png_bytes(text={PNG_LAYOUT_KEY: json.dumps(GOOD), PNG_SETTINGS_KEY: json.dumps(settings)}))


def test_A_eta_is_checked_once_for_every_surface(tiny_pipe):
    for eta in tries.HOSTILE_ETAS.values():
        with pytest.raises(ValueError, match=r"eta=.* must be a number from 0 to 1 \(DDIM's eta"):
            render(tiny_pipe, eta=eta, scheduler="ddim")
        with pytest.raises(InputError, match=r"setting eta=.* must be a number from 0 to 1"):
            read_png_metadata(png_with_settings({"eta": eta}))  # the CLI's and the Studio's import
    with pytest.raises(ValueError, match=r"eta 1e\+308 must be a number from 0 to 1"):  # before cell 1, not at cell 2
        load_spec({"layouts": [GOOD], "eta": [0, 1e308]})
    assert Settings.from_dict({"eta": 1}).eta == 1
    assert render(tiny_pipe, eta=1.0, scheduler="ddim", seed=0).latents.isfinite().all()


def test_A_prime_non_finite_tensors_are_refused_on_entry(tiny_pipe):
    nan = torch.full((1, 4, 8, 8), float("nan"))
    inf = torch.full((1, 4, 8, 8), float("inf"))
    with pytest.raises(ValueError, match="latents hold NaN or inf values"):
        render(tiny_pipe, latents=nan)
    with pytest.raises(ValueError, match="init_image latents hold NaN or inf"):
        render(tiny_pipe, init_image=inf, strength=0.5, num_inference_steps=2)
    with pytest.raises(ValueError, match="keep_image latents hold NaN or inf"):
        render(tiny_pipe, keep=np.ones((64, 64)), keep_image=nan)


def test_B_steps_have_an_upper_bound_that_depends_on_the_scheduler(tiny_pipe, tmp_path, capsys):
    bound = f"steps=1000000000 must be a whole number from 1 to {MAX_STEPS}"
    with pytest.raises(ValueError, match=bound):
        render(tiny_pipe, num_inference_steps=10**9, scheduler="euler")  # no 7.45 GiB table first
    with pytest.raises(ValueError, match="lcm runs at most 50 steps"):
        render(tiny_pipe, num_inference_steps=51, scheduler="lcm")
    with pytest.raises(InputError, match="setting steps=1000000000 must be a whole number from 1 to 1000"):
        read_png_metadata(png_with_settings({"steps": 10**9}))  # a shared PNG
    with pytest.raises(ValueError, match="steps 1000000000 must be a whole number from 1 to 1000"):
        load_spec({"layouts": [GOOD], "steps": [4, 10**9]})
    with pytest.raises(ValueError, match="scheduler lcm runs at most 50 steps, not 51"):
        load_spec({"layouts": [GOOD], "steps": 51, "scheduler": "lcm"})
    (tmp_path / "l.json").write_text(json.dumps(GOOD))
    assert main(["render", str(tmp_path / "l.json"), "-o", str(tmp_path / "o.png"), "--steps", "1000000000"]) == 2
    assert "steps=1000000000 must be a whole number from 1 to 1000" in capsys.readouterr().err


def test_C_the_cli_turns_every_expected_failure_into_one_line_and_keeps_a_finished_render(tmp_path):
    found = tries.cli_tries(tmp_path)
    outcomes = {name: (outcome, detail) for cause, _, name, outcome, detail in found if cause == "C"}
    assert len(outcomes) == 8  # the seven tries, the read-only output twice (a file, a folder)
    assert all(outcome == "clean" for outcome, _ in outcomes.values()), outcomes
    assert "the finished render is kept in" in outcomes["save fails after the render"][1]
    assert "No space left on device" in outcomes["save fails after the render"][1]


def test_C_a_file_that_appeared_during_the_render_is_not_replaced(tmp_path, monkeypatch, capsys):
    import mdwidgets.apps.cli

    (tmp_path / "l.json").write_text(json.dumps(GOOD))
    out = tmp_path / "out.png"
    real = mdwidgets.apps.cli._checked_output

    def appears_meanwhile(output, overwrite):
        checked = real(output, overwrite)
        out.write_bytes(b"someone else's")
        return checked

    monkeypatch.setattr(mdwidgets.apps.cli, "_checked_output", appears_meanwhile)
    assert main(["render", str(tmp_path / "l.json"), "-o", str(out), "--model", "builtin:tiny-random",
                 "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert out.read_bytes() == b"someone else's" and "(File exists); the finished render is kept in" in err
    kept = err.split("kept in ")[1].split()[0]
    assert read_png_metadata(kept)[0] == Layout.from_dict(GOOD)
    os.unlink(kept)


def test_D_device_names_are_checked_against_what_torch_has(monkeypatch):
    with pytest.raises(ValueError, match="device='gpu' is not a device mdwidgets runs on; this machine has cpu"):
        load_pipeline("builtin:tiny-random", device="gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device='cuda:1' is not available here \(torch .*\); this machine has cpu"):
        load_pipeline("builtin:tiny-random", device="cuda:1")


def test_E_model_configs_are_read_through_one_checked_reader(tmp_path):
    assert [t[3] for t in tries.config_tries(tmp_path)] == ["clean"] * 3
    cases = [("unet/config.json", {"out_channels": [4]}, r"unet/config.json: out_channels=\[4\] must be a whole "
              "number from 1 to 64"),
             ("model_index.json", {"_class_name": ["x"]}, r"model_index.json: _class_name=\['x'\] must be a class"),
             ("scheduler/scheduler_config.json", {"num_train_timesteps": 1e9},
              "num_train_timesteps=1000000000.0 must be a whole number from 1 to 10000")]
    for k, (file, change, message) in enumerate(cases):
        folder = tries.model_folder(tmp_path / f"m{k}")
        (folder / file).write_text(json.dumps({**json.loads((folder / file).read_text()), **change}))
        with pytest.raises(ModelError, match=message):
            load_pipeline(str(folder), device="cpu")


def test_F_loras_obey_allow_pickle(tmp_path):
    outcomes = tries.lora_tries(tmp_path)
    assert [t[3] for t in outcomes] == ["clean", "clean"], outcomes  # and the pickles never ran
    assert "lora.bin is a pickle file" in outcomes[0][4]
    assert not (tmp_path / "unpickled.txt").exists()


def test_G_16_bit_masks_are_scaled_by_their_bit_depth():
    for value in (1, 16384, 32768, 65535):  # convert("L") read every one of them as 1.0
        mask = Layout.from_json(tries.sixteen_bit_mask(value)).regions[0].mask
        assert abs(float(mask.mean()) - value / 65535) < 1e-6


def test_H_save_png_refuses_what_read_png_metadata_would_refuse(tmp_path, monkeypatch):
    """A small stand-in for 16 soft 2048² masks (85 MiB of text; benchmarks/redteam runs the real one): the
    reader's limit lowered to what one soft 256² mask takes."""
    from PIL import PngImagePlugin

    big = tries.soft_mask_layout(masks=2, side=256)
    monkeypatch.setattr(PngImagePlugin, "MAX_TEXT_MEMORY", 100_000)
    assert tries.saved_png_reads_back(tmp_path, big) is None
    with pytest.raises(InputError, match=r"MiB as PNG text but a PNG's text is read back only up to 0.095"):
        save_png(Image.new("RGB", (8, 8)), tmp_path / "x.png", big)
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "big.png").exists()
    small = tries.soft_mask_layout(masks=1, side=64)
    read = read_png_metadata(save_png(Image.new("RGB", (8, 8)), tmp_path / "y.png", small))[0]
    assert np.abs(read.regions[0].mask - small.regions[0].mask).max() <= 0.5 / 255  # masks are 8-bit in PNGs


def test_M_exports_to_one_name_at_once_are_all_kept(tmp_path):
    from mdwidgets.files import write_atomic, write_new

    assert tries.concurrent_exports(tmp_path, writers=4) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export-1.png", "export-2.png", "export-3.png", "export.png"]
    with pytest.raises(FileExistsError):
        write_atomic(tmp_path / "export.png", lambda tmp: tmp.write_text("x"), exclusive=True)

    def fails(tmp):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_new(tmp_path / "new.png", fails)
    assert not (tmp_path / "new.png").exists()  # the claimed name is let go


def test_N_the_sweep_folder_is_the_sweeps_own(tmp_path, tiny_pipe, capsys):
    outcomes = tries.sweep_folder_tries(tmp_path)
    assert [t[3] for t in outcomes] == ["clean"] * 3, outcomes
    assert (tmp_path / "mine" / "results.csv").read_text() == "my,own\n1,2\n"
    with open(tmp_path / "header" / "results.csv", newline="") as fh:
        assert next(csv.reader(fh)) == ["cell", "'=cmd|\" /C calc\"!A0"]  # shown as text, not run
    assert main(["sweep", str(tmp_path / "esc.json")]) == 2
    shown = "layout file " + str(tmp_path / "\\x1b[2J\\x1b]0;pwned\\x07.json")  # escaped, not sent
    assert shown in capsys.readouterr().err
    outcome, detail = tries.corrupt_sidecar_try(tmp_path, tiny_pipe)
    assert outcome == "clean" and "1 rendered, 0 already done, 0 missing" in detail


def test_N_sweep_folders_from_before_the_marker_are_claimed(tmp_path, tiny_pipe):
    spec = load_spec({"model": "builtin:tiny-random", "layouts": [GOOD], "steps": 1, "output": str(tmp_path / "o")})
    run_sweep(spec, pipe=tiny_pipe, log=lambda line: None)
    (spec.output / MARKER).unlink()  # as an older sweep left it: its own results.csv, no marker
    report = run_sweep(spec, pipe=tiny_pipe, log=lambda line: None)
    assert report.skipped == 1 and (spec.output / MARKER).is_file()
    assert write_results(spec.output)[1] == 1


def test_O_the_prompt_cache_holds_what_it_checked(tiny_pipe):
    assert tries.prompt_cache_race(tiny_pipe) is None


def test_P_readers_refuse_non_regular_files_and_bound_their_reads(tmp_path, monkeypatch):
    outcomes = tries.reader_tries(tmp_path)
    assert [t[3] for t in outcomes] == ["clean"] * 4, outcomes
    assert "not a regular file" in outcomes[0][4]
    with pytest.raises(InputError, match="cannot read .*pipe.png: not a regular file"):
        read_png_metadata(tmp_path / "pipe.png")
    import mdwidgets.layout

    monkeypatch.setattr(mdwidgets.layout, "MAX_FILE_BYTES", 10)
    (tmp_path / "l.json").write_text(json.dumps(GOOD))
    with pytest.raises(OSError, match="larger than"):
        Layout.load(tmp_path / "l.json")
    with pytest.raises(InputError, match="cannot read .*l.json: larger than"):
        load_layout_file(tmp_path / "l.json")


def test_Q_public_helpers_check_their_arguments(tiny_pipe):
    layout = tries.layout()
    with pytest.raises(ValueError, match=r"keep_all_but: region index 5 is not one of this layout's 1 regions"):
        keep_all_but(layout, [5])
    with pytest.raises(ValueError, match="keep_all_but: scale=0 must be a whole number >= 1"):
        keep_all_but(layout, [0], scale=0)
    with pytest.raises(TypeError, match="run 0 must be a mdwidgets.Run\\(layout, settings, callback\\), not str"):
        compose_many(tiny_pipe, ["x"])
    with pytest.raises(TypeError, match="runs must be a list of mdwidgets.Run"):
        compose_many(tiny_pipe, {"layout": layout})
    with pytest.raises(TypeError, match="callback must be a function taking a StepEvent"):
        render(tiny_pipe, callback=5)
    with pytest.raises(ValueError, match=r"keep must be a \(64, 64\) pixel mask of numbers in \[0, 1\]"):
        render(tiny_pipe, keep=[["a"] * 64] * 64, keep_image=torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match="overlay_regions: colours must give one .r, g, b. per region: 1 regions, 0"):
        overlay_regions(Image.new("RGB", (64, 64)), layout, colours=[])
    assert np.array_equal(keep_all_but(layout, [-1]), keep_all_but(layout, [0]))


def test_the_benchmarks_compose_tries_end_clean(tiny_pipe):
    found = tries.compose_tries(tiny_pipe)
    assert {t[0] for t in found} == {"A", "A'", "B", "Q"}
    assert [t for t in found if t[3] != "clean"] == []
