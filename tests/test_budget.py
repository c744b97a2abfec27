import pytest
import torch

from mdwidgets import Layout, Region, compose
from mdwidgets.sampling import budget
from mdwidgets.sampling.budget import estimate_bytes
from mdwidgets.sampling.masks import fusion_weights
from mdwidgets.sampling.paths import Paths
from mdwidgets.sampling.windows import window_grid


def layout(n=3, size=512, **region):
    return Layout(size, size, "bg", [Region(f"r{i}", box=(0, 0, 64, 64), **region) for i in range(n)])


def rows(lay, guidance, shared):
    grid = (lay.height // 8, lay.width // 8)
    paths = Paths(lay, guidance, fusion_weights(lay), window_grid(*grid, max(grid), 8), grid[1])
    return paths.rows(shared)


def test_rows_per_step_counts_shared_and_bootstrap_rows():
    assert rows(layout(3), 7.5, shared=True) == 4 + 1
    assert rows(layout(3), 7.5, shared=False) == 4 + 4
    assert rows(layout(3, negative_prompt="x"), 7.5, shared=True) == 4 + 2
    assert rows(layout(3), 1.0, shared=True) == 4


def test_estimate_grows_with_rows_canvas_and_shrinks_with_max_batch(tiny_pipe):
    cpu = torch.device("cpu")
    small = estimate_bytes(tiny_pipe, layout(size=256), rows=5, max_batch=None, device=cpu)
    big = estimate_bytes(tiny_pipe, layout(size=512), rows=5, max_batch=None, device=cpu)
    batched = estimate_bytes(tiny_pipe, layout(size=512), rows=5, max_batch=1, device=cpu)
    assert big["unet"] == 4 * small["unet"] and batched["unet"] * 5 == big["unet"]
    assert big["vae"] == 4 * small["vae"]
    mps = estimate_bytes(tiny_pipe, layout(size=512), rows=5, max_batch=None, device=torch.device("mps"))
    assert mps["unet"] > big["unet"]  # attention scores are materialised there


def test_refuses_with_numbers_and_a_max_batch_that_fits(tiny_pipe, monkeypatch):
    one_row = estimate_bytes(tiny_pipe, layout(size=512), rows=1, max_batch=1, device=torch.device("cpu"))["unet"]
    monkeypatch.setattr(budget, "available_bytes", lambda device: 2 * one_row + 1)
    with pytest.raises(MemoryError, match=r"needs about .* GB but cpu has .* GB free; max_batch=2 fits"):
        compose(tiny_pipe, layout(size=512), num_inference_steps=1)
    result = compose(tiny_pipe, layout(size=512), num_inference_steps=1, max_batch=2, output_type="latent")
    assert result.latents.shape == (1, 4, 64, 64)
    monkeypatch.setattr(budget, "available_bytes", lambda device: 10)
    with pytest.raises(MemoryError, match="even max_batch=1 does not fit"):
        compose(tiny_pipe, layout(size=512), num_inference_steps=1)
    compose(tiny_pipe, layout(size=64), num_inference_steps=1, check_memory=False, output_type="latent")


def test_large_canvases_decode_in_tiles(tiny_pipe, monkeypatch):
    calls = []
    original = tiny_pipe.vae.tiled_decode
    monkeypatch.setattr(tiny_pipe.vae, "tiled_decode", lambda *a, **k: calls.append(1) or original(*a, **k))
    result = compose(tiny_pipe, Layout(1088, 64, "bg"), num_inference_steps=1, seed=0)
    assert calls and result.image.size == (1088, 64)


def test_free_memory_on_the_cpu_comes_from_psutil_on_every_os(monkeypatch):
    import psutil

    free = budget.available_bytes(torch.device("cpu"))
    assert isinstance(free, int) and 0 < free <= psutil.virtual_memory().total
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("Memory", (), {"available": 12345})())
    assert budget.available_bytes(torch.device("cpu")) == 12345  # not /proc/meminfo (Linux only)
