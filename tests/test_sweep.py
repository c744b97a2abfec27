import csv
import functools
import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from mdwidgets import Layout, LayoutError, Settings, read_png_metadata
from mdwidgets.apps import sweep
from mdwidgets.apps.cli import main
from mdwidgets.apps.sweep import MARKER, allowed_keys, load_spec, run_sweep

SMALL = {"mdwidgets_layout": 1, "width": 64, "height": 64, "background": "a blue background",
         "regions": [{"prompt": "a red circle", "box": [8, 8, 40, 40]}]}


def write_spec(folder, **changes):
    (folder / "small.json").write_text(json.dumps(SMALL))
    spec = {"model": "builtin:tiny-random", "layouts": ["small.json"], "seeds": [0, 1], "bootstrap_steps": [0, 1],
            "steps": 2, "output": "out", **changes}
    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def pixels(path):
    with Image.open(path) as image:
        return image.size, image.tobytes()


def read_rows(folder):
    with open(folder / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def counting_renders(monkeypatch, fail_at=None):
    """Replace the sweep's compose_many with one that records each call's runs (and raises at call ``fail_at``)."""
    calls = []

    @functools.wraps(sweep.compose_many)
    def wrapper(pipe, runs, **kwargs):
        calls.append(runs)
        if len(calls) == fail_at:
            raise RuntimeError("interrupted")
        return real(pipe, runs, **kwargs)

    real = sweep.compose_many
    monkeypatch.setattr(sweep, "compose_many", wrapper)
    return calls


def test_grid_cells_pngs_and_results(tmp_path, tiny_pipe, capsys):
    inline = {**SMALL, "name": "wide", "width": 96}
    spec = load_spec(write_spec(tmp_path, layouts=["small.json", inline]))
    cells = spec.cells()
    assert [c.id.rsplit("-", 1)[0] for c in cells] == [
        f"{name}-s{s}-n2-b{b}" for name in ("small", "wide") for s in (0, 1) for b in (0, 1)
    ]
    assert len({c.id for c in cells}) == 8 and spec.output == tmp_path / "out"

    report = run_sweep(spec, pipe=tiny_pipe)
    assert (report.total, report.rendered, report.skipped) == (8, 8, 0)
    assert "sweep: 8 cells, 8 rendered, 0 already done, 0 missing" in capsys.readouterr().out
    for cell in cells:
        layout, settings = read_png_metadata(spec.output / f"{cell.id}.png")
        assert layout == cell.layout and pixels(spec.output / f"{cell.id}.png")[0] == (layout.width, 64)
        assert settings["seed"] == cell.settings["seed"] and settings["steps"] == 2
        assert settings["bootstrap_steps"] == cell.settings["bootstrap_steps"]
        assert settings["model"] == "builtin:tiny-random"
    rows = read_rows(spec.output)
    assert [r["cell"] for r in rows] == sorted(c.id for c in cells)
    for row in rows:
        assert row["layout"] in ("small", "wide") and row["process"] == "0"
        assert float(row["time_total"]) >= float(row["time_sample"]) > 0
        assert 0 <= float(row["shapes_in_box"]) <= 1 and row["shapes_iou"] and row["shapes_background"]
        assert json.loads((spec.output / f"{row['cell']}.json").read_text())["seed"] == int(row["seed"])
    assert [p.name for p in spec.output.iterdir() if p.name.startswith(".")] == [MARKER]  # no temporary files left

    # `render <id>.png` re-renders the cell exactly.
    png = spec.output / f"{cells[1].id}.png"
    assert main(["render", str(png), "-o", str(tmp_path / "again.png")]) == 0
    assert pixels(tmp_path / "again.png") == pixels(png)


def test_ids_do_not_depend_on_key_order_or_other_values(tmp_path):
    first = {c.id for c in load_spec(write_spec(tmp_path)).cells()}
    reordered = {"steps": 2, "bootstrap_steps": [1, 0], "seeds": [2, 1, 0], "output": "out",
                 "layouts": [str(tmp_path / "small.json")], "model": "builtin:tiny-random"}
    assert first < {c.id for c in load_spec(reordered).cells()}
    assert not first & {c.id for c in load_spec({**reordered, "steps": 3}).cells()}  # a new fixed value: new cells
    edited = {**SMALL, "background": "a green background"}
    assert not first & {c.id for c in load_spec({**reordered, "layouts": [{"name": "small", **edited}]}).cells()}


def test_resume_renders_only_missing_cells(tmp_path, tiny_pipe, monkeypatch):
    spec = load_spec(write_spec(tmp_path))
    run_sweep(spec, pipe=tiny_pipe)
    cells = spec.cells()
    (spec.output / f"{cells[1].id}.png").unlink()
    (spec.output / f"{cells[3].id}.json").unlink()
    kept = [p for p in spec.output.iterdir() if p.stem in (cells[0].id, cells[2].id)]
    mtimes = {p.name: p.stat().st_mtime_ns for p in kept}
    assert len(mtimes) == 4

    calls = counting_renders(monkeypatch)
    report = run_sweep(spec, pipe=tiny_pipe)
    assert [[(r.settings.seed, r.settings.bootstrap_steps) for r in runs] for runs in calls] == [[(0, 1)], [(1, 1)]]
    assert (report.rendered, report.skipped) == (2, 2)
    for name, mtime in mtimes.items():
        assert (spec.output / name).stat().st_mtime_ns == mtime, f"{name} was rewritten"
    assert len(read_rows(spec.output)) == 4

    calls.clear()
    assert run_sweep(spec, pipe=tiny_pipe).rendered == 0 and calls == []


def test_interrupted_sweep_keeps_finished_cells_and_completes(tmp_path, tiny_pipe, monkeypatch):
    spec = load_spec(write_spec(tmp_path))
    cells = spec.cells()
    counting_renders(monkeypatch, fail_at=2)
    with pytest.raises(RuntimeError, match="interrupted"):
        run_sweep(spec, pipe=tiny_pipe)
    assert sorted(p.name for p in spec.output.iterdir()) == [MARKER, f"{cells[0].id}.json", f"{cells[0].id}.png"]

    # Killed while writing a PNG: neither a half-written PNG nor a temporary file is left behind.
    def broken_save(image, path, *args, **kwargs):  # PIL runs out of disk midway through the PNG
        Path(path).write_bytes(b"\x89PNG half")
        raise OSError("disk full")

    real_compose_many, real_save = sweep.compose_many.__wrapped__, Image.Image.save
    monkeypatch.setattr(sweep, "compose_many", real_compose_many)
    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        run_sweep(spec, pipe=tiny_pipe)
    assert sorted(p.name for p in spec.output.iterdir()) == [MARKER, f"{cells[0].id}.json", f"{cells[0].id}.png"]

    monkeypatch.setattr(Image.Image, "save", real_save)
    report = run_sweep(spec, pipe=tiny_pipe)
    assert (report.rendered, report.skipped) == (3, 1)
    assert [r["cell"] for r in read_rows(spec.output)] == sorted(c.id for c in cells)


def test_a_narrower_spec_keeps_the_other_rows_and_names_cannot_run_as_formulas(tmp_path, tiny_pipe):
    (tmp_path / "small.json").write_text(json.dumps(SMALL))
    wide = {"model": "builtin:tiny-random", "steps": 1, "output": "out", "seeds": [0, 1],
            "layouts": [{"name": "=HYPERLINK(\"http://x\")", **SMALL}]}
    run_sweep(load_spec({**wide, "output": str(tmp_path / "out")}), pipe=tiny_pipe)
    assert len(read_rows(tmp_path / "out")) == 2
    report = run_sweep(load_spec({**wide, "seeds": [1], "output": str(tmp_path / "out")}), pipe=tiny_pipe)
    rows = read_rows(tmp_path / "out")
    assert len(rows) == 2 and report.rendered == 0  # the seed-0 row is still there
    assert {row["layout"] for row in rows} == {"'=HYPERLINK(\"http://x\")"}
    assert all(row["cell"].startswith("_HYPERLINK_http_x_") for row in rows)


def test_cli_output_flag_dry_run_and_clip(tmp_path, monkeypatch, capsys):
    class FakeClip:
        def __call__(self, image, layout):
            return {"clip": 31.5, "clip_min": 30.0}

    loaded = []
    monkeypatch.setattr("mdwidgets.render.scoring.ClipScorer.from_pretrained",
                        lambda name: loaded.append(name) or FakeClip())
    spec = write_spec(tmp_path, seeds=[3], bootstrap_steps=[0, 1])
    other = tmp_path / "elsewhere"
    assert main(["sweep", str(spec), "--dry-run", "-o", str(other)]) == 0
    out = capsys.readouterr().out
    assert f"2 cells in {other}: 0 done, 2 to render" in out and out.count("  todo  small-s3-n2-") == 2
    assert not other.exists()

    assert main(["sweep", str(spec), "-o", str(other), "--clip", "some/clip"]) == 0
    assert "sweep: 2 cells, 2 rendered" in capsys.readouterr().out and loaded == ["some/clip"]
    assert [r["clip"] for r in read_rows(other)] == ["31.5", "31.5"] and not (tmp_path / "out").exists()
    assert main(["sweep", str(spec), "--dry-run", "-o", str(other)]) == 0
    assert "2 done, 0 to render" in capsys.readouterr().out


def test_batched_sweep_equals_one_cell_at_a_time(tmp_path, tiny_pipe, monkeypatch, capsys):
    """--batch 3 over cells with 2 and 3 steps: groups of 3 and 1 share UNet calls and give the same files."""
    spec_path = write_spec(tmp_path, seeds=[0, 1], steps=[2, 3], bootstrap_steps=[1])
    alone = load_spec(spec_path, output=tmp_path / "alone")
    run_sweep(alone, pipe=tiny_pipe)
    calls = counting_renders(monkeypatch)
    together = load_spec(spec_path, output=tmp_path / "together")
    report = run_sweep(together, pipe=tiny_pipe, batch=3)
    assert (report.rendered, [len(runs) for runs in calls]) == (4, [3, 1])  # a group of 3 cells, then one alone
    assert "3/4 " in capsys.readouterr().out
    cells = alone.cells()
    for cell in cells:
        (size, first), (_, second) = pixels(alone.output / f"{cell.id}.png"), pixels(together.output / f"{cell.id}.png")
        assert size == (64, 64)
        assert max(abs(a - b) for a, b in zip(first, second)) <= 1  # float rounding of a bigger batch, 8-bit
        assert read_png_metadata(together.output / f"{cell.id}.png") == read_png_metadata(
            alone.output / f"{cell.id}.png")
    rows = {r["cell"]: r for r in read_rows(together.output)}
    assert sorted(int(rows[c.id]["batch"]) for c in cells) == [1, 3, 3, 3]
    assert {r["batch"] for r in read_rows(alone.output)} == {"1"}


def test_batched_sweep_never_mixes_max_batch_and_rejects_bad_sizes(tmp_path, tiny_pipe, monkeypatch, capsys):
    spec = load_spec(write_spec(tmp_path, seeds=[0, 1], bootstrap_steps=[1], max_batch=[1, 2]))
    seen = []
    real = sweep.compose_many
    monkeypatch.setattr(sweep, "compose_many",
                        lambda pipe, runs, **kw: seen.append((len(runs), kw["max_batch"])) or real(pipe, runs, **kw))
    assert run_sweep(spec, pipe=tiny_pipe, batch=4).rendered == 4
    assert sorted(seen) == [(2, 1), (2, 2)]
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match=f"batch={bad!r} must be a whole number of cells, 1 or more"):
            run_sweep(spec, pipe=tiny_pipe, batch=bad)
    capsys.readouterr()
    assert main(["sweep", str(tmp_path / "spec.json"), "--batch", "0"]) == 2
    assert "error: batch=0 must be a whole number of cells, 1 or more" in capsys.readouterr().err


def test_bad_specs_name_the_problem(tmp_path, capsys):
    path = write_spec(tmp_path)
    base = json.loads(path.read_text())

    def error(**changes):
        path.write_text(json.dumps({**base, **changes}))
        with pytest.raises(ValueError) as info:
            load_spec(path)
        return str(info.value)

    message = error(sedes=[0])
    assert message == f"{path}: unknown key 'sedes'; allowed keys: {', '.join(allowed_keys())}"
    assert {"seeds", "steps", "guidance_scale", "layouts", "model", "output"} <= set(allowed_keys())
    assert set(Settings.names()) <= set(allowed_keys())  # every setting, from the one place that has them
    assert error(seeds=[]) == f"{path}: axis 'seeds' is empty; give at least one value or remove the key"
    assert error(layouts=[]) == f"{path}: axis 'layouts' is empty; give at least one layout"
    assert error(seed=1) == f"{path}: give 'seed' or 'seeds', not both"
    assert error(seeds=[0, -1]) == f"{path}: seed -1 must be a whole number >= 0"
    # every value is checked before the first cell renders, not when its cell comes up
    assert error(guidance_scale=[7.5, "high"]) == f"{path}: guidance_scale 'high' must be a finite number >= 0"
    assert error(steps=[4, 0]) == f"{path}: steps 0 must be a whole number from 1 to 1000"
    assert error(circular="no") == f"{path}: circular 'no' must be true or false"
    assert error(steps=[2], bootstrap_steps=[1, 3]) == f"{path}: bootstrap_steps 3 is more than steps 2"
    assert error(steps=[2, 8], scheduler="pndm") == f"{path}: scheduler pndm needs at least 4 steps, not 2"
    assert error(scheduler="fast").startswith(f"{path}: scheduler 'fast' is not known; use one of ddim, ")
    assert error(model=["a", "b"]) == f"{path}: 'model'=['a', 'b'] must be one model name (run one sweep per model)"
    missing = error(layouts=["small.json", "nope.json"])
    assert missing == (f"{path}: layouts[1]: layout file {tmp_path / 'nope.json'} not found "
                       "(layout paths are relative to the spec's folder)")
    (tmp_path / "bad.json").write_text(json.dumps({**SMALL, "width": 100}))
    with pytest.raises(LayoutError, match=r"layouts\[0\]: .*bad.json: width=100: must be a multiple of 8"):
        load_spec({**base, "layouts": [str(tmp_path / "bad.json")]})
    base.pop("layouts")
    assert error() == (f"{path}: 'layouts' is missing: list layout JSON files (relative to the spec), "
                       "mdwidgets PNGs or layout objects")

    path.write_text('{"layouts": ["small.json"],}')
    assert main(["sweep", str(path)]) == 2
    assert f"error: {path}: not valid JSON (" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "none.json")]) == 2
    assert "error: cannot read sweep spec" in capsys.readouterr().err


def test_example_spec(root):
    spec = load_spec(root / "mdwidgets" / "examples" / "sweep.json")
    assert spec.model == "builtin:shapes" and len(spec.cells()) == 8
    assert all(layout == Layout.load(root / "mdwidgets" / "examples" / "shapes.json") for _, _, layout in spec.layouts)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(importlib.util.find_spec("accelerate") is None,
                    reason="accelerate is not installed (pip install 'mdwidgets[sweep]')")
@pytest.mark.skipif(not hasattr(__import__("torch").cpu, "set_device"),
                    reason="accelerate's CPU processes call torch.cpu.set_device, which this torch lacks "
                           "(GPU processes use torch.cuda.set_device and are not affected)")
def test_accelerate_launch_two_processes_split_the_cells(tmp_path):
    spec = write_spec(tmp_path, seeds=[0, 1, 2])
    # On a machine without GPUs `--multi_gpu` starts CPU processes (gloo); `--cpu` alone would start one.
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()), "-m", "mdwidgets", "sweep", str(spec)]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sweep: 6 cells, 6 rendered, 0 already done, 0 missing" in proc.stdout

    ids = sorted(c.id for c in load_spec(spec).cells())
    by_process = {}
    for cell in ids:
        by_process.setdefault(json.loads((tmp_path / "out" / f"{cell}.json").read_text())["process"], []).append(cell)
    assert sorted(by_process) == [0, 1] and sorted(by_process[0] + by_process[1]) == ids
    assert len(by_process[0]) == len(by_process[1]) == 3
    assert [r["cell"] for r in read_rows(tmp_path / "out")] == ids


def test_single_process_without_accelerate(monkeypatch):
    monkeypatch.setitem(sys.modules, "accelerate", None)  # `import accelerate` now fails
    procs = sweep.current_processes()
    assert (procs.index, procs.count, procs.device) == (0, 1, None) and procs.wait() is None


def test_progress_counts_cells_and_steps_and_keeps_the_log_lines(tmp_path, tiny_pipe, capsys):
    spec = load_spec(write_spec(tmp_path, seeds=[0, 1, 2], steps=[2], bootstrap_steps=[1]), output=tmp_path / "out")
    run_sweep(spec, pipe=tiny_pipe, progress=True)
    shown = capsys.readouterr()
    # the cell bar's last state (steps go by too fast to be drawn on every machine: only their unit is certain)
    assert "3/3" in shown.err and "cell/s" in shown.err and "step" in shown.err
    assert "3/3 " in shown.out + shown.err and "sweep: 3 cells, 3 rendered" in shown.out
