from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def tiny_pipe():
    """The tiny random SD pipeline on the device and dtype MDWIDGETS_TEST_DEVICE / _DTYPE choose
    (tests/devices.py; CPU float32 by default)."""
    from mdwidgets.models import tiny_random_pipeline
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
