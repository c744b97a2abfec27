from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def tiny_pipe():
    """The tiny random SD pipeline on the device and dtype MDWIDGETS_TEST_DEVICE / _DTYPE choose
    (tests/devices.py; CPU float32 by default)."""
    from mdwidgets.pipelines.tiny import tiny_random_pipeline
    from tests.devices import on_test_device

    return on_test_device(tiny_random_pipeline())


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def autosave_dir(tmp_path, monkeypatch):
    """Studios in tests autosave into a temporary folder, never the user's home."""
    folder = tmp_path / "autosave"
    monkeypatch.setenv("MDWIDGETS_AUTOSAVE_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def live_mode_never_degrades(monkeypatch):
    """Live mode's switch to drafts on slow renders reads the clock: a loaded test machine must not
    trip it (the tests of that switch set the limit themselves)."""
    monkeypatch.setattr("mdwidgets.studio.rendering.LIVE_MAX_SECONDS", 1e9)


def as_runs(runs: list[dict]) -> list:
    """compose() keyword dicts (with a ``layout``) as :class:`mdwidgets.Run` objects for ``compose_many``."""
    import dataclasses

    from mdwidgets import Run, Settings

    fields = {f.name for f in dataclasses.fields(Run)}
    made = []
    for run in runs:
        settings = {k: v for k, v in run.items() if k not in fields}
        made.append(Run(**{k: v for k, v in run.items() if k in fields}, settings=Settings.from_keywords(**settings)))
    return made


# -- driving the Studio as a browser would -----------------------------------------------------------
def send(target, event: str, x: float = 0, y: float = 0, **extra) -> None:
    """One canvas event through ipycanvas' own message path, as the browser sends it (one fake canvas
    client for every test). ``target``: a Studio or a BoxCanvas."""
    canvas = target.canvas if hasattr(target, "canvas") else target.boxes.canvas
    content = {"event": event, "x": x, "y": y, **extra}
    canvas._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def drag(target, start, end, steps: int = 3) -> None:
    """Mouse down at ``start``, ``steps`` moves to ``end``, mouse up there."""
    send(target, "mouse_down", *start)
    for k in range(1, steps + 1):
        send(target, "mouse_move", start[0] + (end[0] - start[0]) * k / steps,
             start[1] + (end[1] - start[1]) * k / steps)
    send(target, "mouse_up", *end)


def click(target, x: float, y: float) -> None:
    send(target, "mouse_down", x, y)
    send(target, "mouse_up", x, y)


def make_studio(pipe, folder, steps: int = 3, bootstrap: int = 1, **kwargs):
    """A Studio on ``pipe`` exporting to ``folder``, live mode off, with few steps."""
    from mdwidgets.studio import Studio

    studio = Studio(pipe, output_dir=folder, **{"live": False, **kwargs})
    studio.controls.steps.value = steps
    studio.controls.bootstrap.value = bootstrap
    return studio


@pytest.fixture
def studio(tiny_pipe, tmp_path):
    return make_studio(tiny_pipe, tmp_path)
