"""Several compositions sampled together (compose_many / compare(batch=True)) equal one at a time."""

import pytest
import torch

from mdwidgets import Layout, Region, Run, Settings, compose, compose_many
from mdwidgets.render.figures import compare
from mdwidgets.sampling.lockstep import UNetRows, evaluate
from tests.conftest import as_runs
from tests.devices import tolerance

LAYOUT = Layout(64, 64, "a blue background",
                [Region("a red circle", box=(0, 0, 32, 32)), Region("a yellow square", box=(24, 24, 64, 56))])
WIDE = Layout(96, 64, "a blue background", [Region("a green triangle", box=(40, 8, 88, 56))])


@pytest.fixture
def unet_calls(tiny_pipe, monkeypatch):
    """Batch size and timestep count of every UNet call."""
    calls = []
    forward = tiny_pipe.unet.forward

    def spy(sample, timestep, *args, **kwargs):
        calls.append((len(sample), tuple(sample.shape[-2:]), torch.as_tensor(timestep).numel()))
        return forward(sample, timestep, *args, **kwargs)

    monkeypatch.setattr(tiny_pipe.unet, "forward", spy)
    return calls


def recorded(run):
    """The run with a callback that keeps every event's region x0."""
    events = []
    return {**run, "callback": lambda e: events.append(e.region_x0.clone()), "region_x0": True}, events


def test_runs_in_lockstep_are_bit_identical_to_compose_with_one_row_per_call(tiny_pipe):
    # Different bootstrap phases, schedulers (so different timesteps per row), step counts and
    # canvases: with one row per UNet call nothing depends on the batching, so results are equal.
    runs = [
        dict(layout=LAYOUT, bootstrap_steps=0, scheduler="ddim", num_inference_steps=4),
        dict(layout=LAYOUT, bootstrap_steps=2, scheduler="dpm++", num_inference_steps=4),
        dict(layout=LAYOUT, bootstrap_steps=1, scheduler="heun", num_inference_steps=3),
        dict(layout=WIDE, bootstrap_steps=1, scheduler="euler", num_inference_steps=5),
    ]
    alone, together = [], []
    for run in runs:
        run, events = recorded(dict(run, seed=7))
        alone.append((compose(tiny_pipe, **run, max_batch=1), events))
    recorded_runs = [recorded(dict(run, seed=7)) for run in runs]
    results = compose_many(tiny_pipe, as_runs([run for run, _ in recorded_runs]), max_batch=1)
    together = list(zip(results, [events for _, events in recorded_runs]))
    for (one, one_events), (many, many_events) in zip(alone, together):
        assert torch.equal(one.latents, many.latents)
        assert one.settings == many.settings
        assert many.timings["runs"] == 4 and one.timings["runs"] == 1
        assert len(one_events) == len(many_events) > 0
        assert all(torch.equal(a, b) for a, b in zip(one_events, many_events))
        assert many.image.size == (many.layout.width, many.layout.height)


def test_rows_of_all_runs_share_one_call_per_step(tiny_pipe, unet_calls):
    runs = [dict(layout=LAYOUT, bootstrap_steps=b, num_inference_steps=4, seed=1, output_type="latent")
            for b in (0, 2)]
    alone = [compose(tiny_pipe, **run).latents for run in runs]
    single_calls = list(unet_calls)
    unet_calls.clear()
    together = [r.latents for r in compose_many(tiny_pipe, as_runs(runs))]
    # Alone: bootstrap 0 has 3 prompts + 1 shared unconditional row; bootstrap 2 has 3 + 3 while
    # bootstrapping (each foreground sees its own input), then 4.
    assert [c[0] for c in single_calls] == [4, 4, 4, 4] + [6, 6, 4, 4]
    assert [c[0] for c in unet_calls] == [10, 10, 8, 8]
    assert all(c[2] == 1 for c in unet_calls)  # same scheduler and steps: one shared timestep
    for a, b in zip(alone, together):
        assert ((a - b).abs().max() / a.abs().max()).item() <= tolerance(tiny_pipe)  # batch-size rounding only


def test_different_timesteps_and_canvas_sizes(tiny_pipe, unet_calls):
    runs = [dict(layout=LAYOUT, scheduler="ddim", num_inference_steps=3),
            dict(layout=LAYOUT, scheduler="ddim", num_inference_steps=2),
            dict(layout=WIDE, num_inference_steps=2)]
    runs = [dict(run, bootstrap_steps=0, seed=2, output_type="latent") for run in runs]
    compose_many(tiny_pipe, as_runs(runs))
    # Step 1: the two 64x64 runs share a call with a timestep per row; the 96x64 run has its own.
    assert unet_calls[:2] == [(8, (8, 8), 8), (3, (8, 12), 1)]
    assert unet_calls[2:] == [(8, (8, 8), 8), (3, (8, 12), 1), (4, (8, 8), 1)]


def test_memory_cap_splits_batches_but_never_below_one_run(tiny_pipe, unet_calls, monkeypatch):
    monkeypatch.setattr("mdwidgets.sampling.sampler.rows_that_fit", lambda pipe, pixels: 5)
    runs = [dict(layout=LAYOUT, bootstrap_steps=0, num_inference_steps=1, seed=0, output_type="latent")] * 3
    compose_many(tiny_pipe, as_runs(runs))
    assert [c[0] for c in unet_calls] == [5, 5, 2]  # 12 rows, at most 5 per call
    unet_calls.clear()
    monkeypatch.setattr("mdwidgets.sampling.sampler.rows_that_fit", lambda pipe, pixels: 1)
    compose_many(tiny_pipe, as_runs(runs))
    assert [c[0] for c in unet_calls] == [4, 4, 4]  # a run's own 4 rows always go together
    unet_calls.clear()
    compose_many(tiny_pipe, as_runs(runs), max_batch=3)
    assert [c[0] for c in unet_calls] == [3, 3, 3, 3]


def test_cancelling_one_run_lets_the_others_finish(tiny_pipe):
    def stop_at_1(event):
        if event.step == 1:
            event.cancel()

    first, second = compose_many(tiny_pipe, as_runs([
        dict(layout=LAYOUT, num_inference_steps=4, seed=0, callback=stop_at_1),
        dict(layout=LAYOUT, num_inference_steps=4, seed=0),
    ]))
    assert first.cancelled and first.steps_done == 2
    assert not second.cancelled and second.steps_done == 4


def test_bad_runs_say_which_run(tiny_pipe):
    with pytest.raises(TypeError, match=r"run 1 must be a mdwidgets.Run\(layout, settings, callback\), not dict"):
        compose_many(tiny_pipe, [Run(LAYOUT), dict(layout=LAYOUT)])
    with pytest.raises(TypeError, match=r"runs must be a list of mdwidgets.Run"):
        compose_many(tiny_pipe, Run(LAYOUT))
    with pytest.raises(ValueError, match="its settings have max_batch=2; pass max_batch to compose_many"):
        compose_many(tiny_pipe, [Run(LAYOUT, Settings(max_batch=2))])
    with pytest.raises(ValueError, match="bootstrap_steps=30 must be between 0 and steps=25") as error:
        compose_many(tiny_pipe, [Run(LAYOUT, Settings(steps=2)), Run(LAYOUT, Settings(bootstrap_steps=30))])
    assert "(in run 1 of 2)" in error.value.__notes__
    assert not torch.is_inference_mode_enabled()  # the failed runs left no global state behind
    assert compose_many(tiny_pipe, []) == []


def test_callback_error_stops_all_runs_and_propagates(tiny_pipe):
    def boom(event):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        compose_many(tiny_pipe, [Run(LAYOUT, Settings(steps=3)), Run(LAYOUT, callback=boom)])
    assert not torch.is_inference_mode_enabled()


def test_out_of_memory_of_a_shared_call_names_its_rows():
    def unet(sample, t, encoder_hidden_states, return_dict):
        out_of_memory = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)  # the latter before torch 2.5
        raise out_of_memory("CUDA out of memory. Tried to allocate 9.00 GiB")

    rows = UNetRows(torch.zeros(6, 4, 8, 8), torch.tensor(10), torch.zeros(6, 77, 32))
    with pytest.raises(MemoryError, match=r"12 UNet rows .*\(4, 8, 8\) \(5 per call\)\. Try max_batch=1"):
        evaluate(unet, [rows, rows], 5)


def test_compare_batched_equals_one_after_another(tiny_pipe, unet_calls):
    kwargs = dict(num_inference_steps=5, seed=4, cell_size=48, score=lambda image, layout: None)
    batched = compare(tiny_pipe, LAYOUT, **kwargs)
    calls = len(unet_calls)
    unet_calls.clear()
    sequential = compare(tiny_pipe, LAYOUT, batch=False, **kwargs)
    assert calls == 5 and len(unet_calls) == 3 * 5  # 3 cells: 1 call per step instead of 3
    assert batched.batched and not sequential.batched
    assert batched.values == sequential.values == [0, 1, 2]
    for a, b in zip(batched.results, sequential.results):
        assert ((a.latents - b.latents).abs().max() / b.latents.abs().max()).item() <= tolerance(tiny_pipe)
    assert batched.image.size == sequential.image.size


@pytest.mark.parametrize("name", ["dpm++", "pndm", "euler-a"])
def test_one_scheduler_instance_shared_by_runs_behaves_like_its_name(tiny_pipe, name):
    """A diffusers habit: build a scheduler once, pass it everywhere. Each run gets its own copy."""
    from mdwidgets.sampling.schedulers import make_scheduler

    instance = make_scheduler(name, tiny_pipe.scheduler)
    runs = [dict(layout=LAYOUT, num_inference_steps=6, seed=seed, output_type="latent") for seed in (0, 1)]
    by_name = as_runs([{**run, "scheduler": name} for run in runs])
    shared = as_runs([{**run, "scheduler": instance} for run in runs])
    by_name, shared = ([r.latents for r in compose_many(tiny_pipe, them, max_batch=1)] for them in (by_name, shared))
    assert all(torch.equal(a, b) for a, b in zip(by_name, shared))
    twice = [compose(tiny_pipe, **runs[0], scheduler=instance, max_batch=1).latents for _ in range(2)]
    assert torch.equal(twice[0], twice[1]) and torch.equal(twice[0], by_name[0])
    assert instance.timesteps is None or len(instance.timesteps) != 6  # the caller's instance never stepped
