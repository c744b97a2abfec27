import json
import subprocess
import sys

import pytest
from PIL import Image

from mdwidgets import DEFAULT_MODEL, Layout, read_png_metadata
from mdwidgets.cli import main


def test_render_embeds_layout_and_settings(tmp_path, root, capsys):
    out = tmp_path / "sub" / "shapes.png"
    code = main(["render", str(root / "examples" / "shapes.json"), "-o", str(out), "--steps", "3",
                 "--seed", "4", "--scheduler", "euler", "--bootstrap-steps", "1", "--guidance", "6"])
    assert code == 0
    assert f"wrote {out}" in capsys.readouterr().out
    layout, settings = read_png_metadata(out)
    assert layout == Layout.load(root / "examples" / "shapes.json")
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
    code = main(["render", str(root / "examples" / "panorama.json"), "-o", str(out), "--steps", "2", "--seed", "1",
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
    assert main(["render", str(root / "examples" / "shapes.json"), "-o", "x.png", "--model", "builtin:nope"]) == 2
    assert "not a built-in model" in capsys.readouterr().err


def test_module_entry_point_runs(tmp_path, root):
    proc = subprocess.run([sys.executable, "-m", "mdwidgets", "layout", str(tmp_path / "none.png")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "error:" in proc.stderr


@pytest.mark.parametrize("name", ["living_room.json", "shapes.json", "panorama.json"])
def test_examples_are_valid(root, name):
    layout = Layout.load(root / "examples" / name)
    assert layout.regions
