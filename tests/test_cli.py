import json
import subprocess
import sys

import pytest
from PIL import Image

from mdwidgets import DEFAULT_MODEL, Layout, read_png_metadata
from mdwidgets.apps.cli import EXAMPLES, main


def test_render_embeds_layout_and_settings(tmp_path, root, capsys):
    out = tmp_path / "sub" / "shapes.png"
    code = main(["render", str(EXAMPLES / "shapes.json"), "-o", str(out), "--steps", "3",
                 "--seed", "4", "--scheduler", "euler", "--bootstrap-steps", "1", "--guidance", "6"])
    assert code == 0
    assert f"wrote {out}" in capsys.readouterr().out
    layout, settings = read_png_metadata(out)
    assert layout == Layout.load(EXAMPLES / "shapes.json")
    assert settings["seed"] == 4 and settings["steps"] == 3 and settings["scheduler"] == "euler"
    assert settings["bootstrap_steps"] == 1 and settings["guidance_scale"] == 6
    assert settings["model"] == DEFAULT_MODEL == "builtin:shapes"
    assert Image.open(out).size == (128, 128)

    # `layout` prints the embedded layout back; re-rendering the PNG reproduces it exactly.
    assert main(["layout", str(out)]) == 0
    assert Layout.from_json(capsys.readouterr().out) == layout
    again = tmp_path / "again.png"
    assert main(["render", str(out), "-o", str(again)]) == 0
    assert Image.open(again).tobytes() == Image.open(out).tobytes()


def test_render_a_panorama_with_windows_and_rerender_it(tmp_path, root, capsys):
    out = tmp_path / "panorama.png"
    code = main(["render", str(EXAMPLES / "panorama.json"), "-o", str(out), "--steps", "2", "--seed", "1",
                 "--window", "native", "--stride", "16", "--circular"])
    assert code == 0
    assert "windows 16 cells stride 16 circular" in capsys.readouterr().out
    _, settings = read_png_metadata(out)
    assert (settings["window"], settings["stride"], settings["circular"]) == (16, 16, True)
    assert Image.open(out).size == (512, 128)
    # Re-rendering the PNG reuses its windows; flags still override them.
    again, plain = tmp_path / "again.png", tmp_path / "plain.png"
    assert main(["render", str(out), "-o", str(again)]) == 0
    assert Image.open(again).tobytes() == Image.open(out).tobytes()
    assert main(["render", str(out), "-o", str(plain), "--window", "none", "--no-circular"]) == 0
    assert read_png_metadata(plain)[1]["window"] is None
    with pytest.raises(SystemExit):
        main(["render", str(out), "-o", str(plain), "--window", "wide"])
    assert "'wide': use 'native', 'none' or a number of latent cells" in capsys.readouterr().err


def test_bad_inputs_exit_2_with_a_message(tmp_path, root, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"mdwidgets_layout": 1, "width": 100, "height": 64, "background": "x"}))
    assert main(["render", str(bad), "-o", str(tmp_path / "x.png")]) == 2
    assert "width=100: must be a multiple of 8; use 96 or 104" in capsys.readouterr().err
    assert main(["render", str(tmp_path / "missing.json"), "-o", str(tmp_path / "x.png")]) == 2
    assert "cannot read" in capsys.readouterr().err
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    assert main(["layout", str(plain)]) == 2
    assert "carries no mdwidgets layout" in capsys.readouterr().err
    assert main(["render", str(EXAMPLES / "shapes.json"), "-o", "x.png", "--model", "builtin:nope"]) == 2
    assert "not a built-in model" in capsys.readouterr().err


def test_output_is_checked_before_rendering_and_never_replaced_unless_asked(tmp_path, root, capsys, monkeypatch):
    out = tmp_path / "shapes.png"
    assert main(["render", str(EXAMPLES / "shapes.json"), "-o", str(out), "--steps", "2", "--seed", "1"]) == 0
    before = out.read_bytes()
    import mdwidgets.pipelines.loading

    monkeypatch.setattr(mdwidgets.pipelines.loading, "load_pipeline",
                        lambda *a, **k: pytest.fail("rendered before checking"))
    assert main(["render", str(out), "-o", str(out)]) == 2  # the input PNG itself
    assert "exists; pass --overwrite" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["render", str(out), "-o", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["render", str(out), "-o", str(blocker / "sub" / "x.png")]) == 2
    assert "cannot create the output folder" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["render", str(out), "-o", str(out), "--overwrite", "--seed", "2"]) == 0
    assert read_png_metadata(out)[1]["seed"] == 2 and out.read_bytes() != before


def test_a_write_that_fails_midway_leaves_the_old_file_whole(tmp_path):
    from mdwidgets.files import write_atomic

    target = tmp_path / "keep.png"
    target.write_bytes(b"old picture")

    def half_then_crash(tmp):
        tmp.write_bytes(b"half a")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, half_then_crash)
    assert target.read_bytes() == b"old picture" and [p.name for p in tmp_path.iterdir()] == ["keep.png"]


def test_module_entry_point_runs(tmp_path, root):
    proc = subprocess.run([sys.executable, "-m", "mdwidgets", "layout", str(tmp_path / "none.png")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "error:" in proc.stderr


@pytest.mark.parametrize("name", ["living_room.json", "shapes.json", "panorama.json"])
def test_examples_are_valid(root, name):
    layout = Layout.load(EXAMPLES / name)
    assert layout.regions


def test_examples_are_listed_and_copied_out_with_the_layouts_a_sweep_names(tmp_path, capsys):
    assert main(["example"]) == 0
    assert capsys.readouterr().out.split() == ["living_room", "panorama", "shapes", "sweep"]
    assert main(["example", "sweep", "-o", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shapes.json", "sweep.json"]
    assert (tmp_path / "shapes.json").read_bytes() == (EXAMPLES / "shapes.json").read_bytes()
    capsys.readouterr()
    assert main(["example", "shapes", "-o", str(tmp_path)]) == 2
    assert "shapes.json exists; pass --overwrite" in capsys.readouterr().err
    assert main(["example", "dragons", "-o", str(tmp_path)]) == 2
    assert "no example 'dragons'; the examples are living_room, panorama, shapes, sweep" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("mdwidgets 0.1.0")


def test_the_cli_leaves_warning_filters_and_format_as_it_found_them(tmp_path):
    import warnings

    from mdwidgets.apps.cli import main

    filters, format_warning = list(warnings.filters), warnings.formatwarning
    assert main(["example", "-o", str(tmp_path)]) == 0
    assert warnings.filters == filters and warnings.formatwarning is format_warning


def test_redo_regions_of_an_earlier_render_and_start_from_an_image(tmp_path):
    import numpy as np
    from PIL import Image

    from mdwidgets import Layout, Region
    from mdwidgets.apps.cli import main

    layout = Layout(64, 64, "a blue background", [Region("a red circle", box=(8, 8, 32, 32)),
                                                   Region("a yellow square", box=(40, 40, 64, 64))])
    spec = tmp_path / "layout.json"
    layout.save(spec)
    first, again, started = tmp_path / "first.png", tmp_path / "again.png", tmp_path / "started.png"
    common = ["--model", "builtin:tiny-random", "--steps", "3"]
    assert main(["render", str(spec), "-o", str(first), "--seed", "1", *common]) == 0
    assert main(["render", str(spec), "-o", str(again), "--seed", "2", "--keep-from", str(first), "--redo", "2",
                 *common]) == 0
    before, after = (np.asarray(Image.open(p).convert("RGB"), np.int16) for p in (first, again))
    outside = np.ones((64, 64), bool)
    outside[40:64, 40:64] = False
    assert np.array_equal(before[outside], after[outside]) and not np.array_equal(before, after)
    assert main(["render", str(spec), "-o", str(started), "--init-image", str(first), "--strength", "0.5",
                 *common]) == 0
    assert main(["render", str(spec), "-o", str(tmp_path / "x.png"), "--redo", "3", "--keep-from", str(first),
                 *common]) == 2  # no region 3
    assert main(["render", str(spec), "-o", str(tmp_path / "y.png"), "--redo", "1", *common]) == 2


def test_progress_bars_count_steps_on_stderr_only_when_asked(tmp_path, capsys):
    layout = str(EXAMPLES / "shapes.json")
    assert main(["render", layout, "-o", str(tmp_path / "a.png"), "--steps", "3", "--seed", "0", "--progress"]) == 0
    shown = capsys.readouterr()
    assert "3/3" in shown.err and "step" in shown.err and "3/3" not in shown.out
    assert main(["render", layout, "-o", str(tmp_path / "b.png"), "--steps", "3", "--seed", "0"]) == 0
    assert capsys.readouterr().err == ""  # stderr is no terminal here: no bar, not even the libraries' loading bars
    from diffusers.utils import logging as diffusers_logging

    assert diffusers_logging.is_progress_bar_enabled()  # their switch is put back
    assert Image.open(tmp_path / "a.png").tobytes() == Image.open(tmp_path / "b.png").tobytes()


def test_version_from_the_module_and_the_script():
    module = subprocess.run([sys.executable, "-m", "mdwidgets", "--version"], capture_output=True, text=True)
    assert module.returncode == 0 and module.stdout.strip() == "mdwidgets 0.1.0"
