"""Issue #37: region methods — fusion (MultiDiffusion), regional attention and the hybrid of the two."""

import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor

from mdwidgets import Layout, Region, Settings, SettingsError, compose, compose_many
from mdwidgets.pipelines.tiny import tiny_random_pipeline, tiny_random_sdxl_pipeline
from mdwidgets.sampling.regional_attention import RegionalAttnProcessor, layer_shape, region_bias
from tests.conftest import as_runs
from tests.devices import on_test_device, tolerance

METHODS = ("fusion", "attention", "hybrid")
PLAIN = Layout(64, 64, "a blue background")
HALVES = Layout(64, 64, "a blue background", [Region("a red circle", box=(0, 0, 32, 64))])
TWO = Layout(64, 64, "a blue background", [
    Region("a red circle", box=(0, 0, 32, 64), negative_prompt="blurry"),
    Region("a green square", box=(32, 16, 64, 48), guidance_scale=3.0, feather=8)])
# The background's own prompt over the whole canvas: regional attention reads that prompt's tokens everywhere
FULL = Layout(64, 64, "a blue background", [Region("a blue background", box=(0, 0, 64, 64))])
RUN = dict(seed=1, num_inference_steps=4, bootstrap_steps=2, output_type="latent")


def max_error(ours, reference):
    return ((ours - reference).abs().max() / reference.abs().max().clamp(min=1)).item()


@pytest.fixture(scope="module")
def sdxl_pipe():
    return on_test_device(tiny_random_sdxl_pipeline())


def own_processors(pipe):
    return dict(pipe.unet.attn_processors)


def assert_restored(pipe, before):
    after = pipe.unet.attn_processors
    assert after.keys() == before.keys()
    assert all(after[name] is processor for name, processor in before.items())
    assert not any(isinstance(p, RegionalAttnProcessor) for p in after.values())


@pytest.mark.parametrize("method", METHODS)
def test_without_regions_every_method_is_the_plain_pipeline(tiny_pipe, method):
    plain = compose(tiny_pipe, PLAIN, **RUN)
    ours = compose(tiny_pipe, PLAIN, method=method, **RUN)
    assert torch.equal(ours.latents, plain.latents)
    assert ours.timings["rows"] == [2, 2, 2, 2] and ours.settings["method"] == method


@pytest.mark.parametrize("pipe_name", ["tiny_pipe", "sdxl_pipe"])
def test_a_full_canvas_region_with_the_backgrounds_prompt_leaves_attention_the_plain_pipeline(pipe_name, request):
    pipe = request.getfixturevalue(pipe_name)
    plain = compose(pipe, PLAIN, **RUN)
    ours = compose(pipe, FULL, method="attention", **RUN)
    assert ours.timings["rows"] == [2, 2, 2, 2]  # the regional rows ran (2 prompts' tokens, masked) ...
    assert max_error(ours.latents, plain.latents) <= tolerance(pipe)  # ... and read as one copy of the prompt


@pytest.mark.parametrize("pipe_name", ["tiny_pipe", "sdxl_pipe"])
def test_regions_change_the_attention_render_and_cost_two_rows_whatever_their_number(pipe_name, request):
    pipe = request.getfixturevalue(pipe_name)
    plain = compose(pipe, PLAIN, **RUN).latents
    one, two = (compose(pipe, layout, method="attention", **RUN) for layout in (HALVES, TWO))
    assert one.timings["rows"] == two.timings["rows"] == [2, 2, 2, 2]
    assert max_error(one.latents, plain) > tolerance(pipe)  # more than two equal runs may differ by
    assert max_error(two.latents, one.latents) > tolerance(pipe)
    unguided = compose(pipe, TWO, method="attention", **{**RUN, "guidance_scale": 1.0}).timings["rows"]
    # only the region's own guidance (3) asks for the unconditional row: both rows still run
    assert unguided == [2, 2, 2, 2]
    assert compose(pipe, HALVES, method="attention", **{**RUN, "guidance_scale": 1.0}).timings["rows"] == [1] * 4


def test_hybrid_is_fusion_while_bootstrapping_and_attention_after(tiny_pipe):
    fusion, attention, hybrid = (compose(tiny_pipe, TWO, method=m, **RUN) for m in METHODS)
    assert fusion.timings["rows"] == [6, 6, 5, 5]  # N + 1 + negatives, then N + 1 + 2 negatives shared
    assert hybrid.timings["rows"] == [6, 6, 2, 2]
    assert not torch.equal(hybrid.latents, fusion.latents) and not torch.equal(hybrid.latents, attention.latents)
    no_bootstrap = compose(tiny_pipe, TWO, method="hybrid", **{**RUN, "bootstrap_steps": 0})
    assert torch.equal(no_bootstrap.latents, attention.latents)  # attention never bootstraps


def test_method_fusion_is_the_default_bit_for_bit(tiny_pipe):
    for extra in ({}, {"window": 4, "stride": 2}):
        default = compose(tiny_pipe, TWO, **RUN, **extra)
        assert torch.equal(compose(tiny_pipe, TWO, method="fusion", **RUN, **extra).latents, default.latents)
        assert default.settings["method"] == "fusion"


def test_windows_get_their_own_masks_two_rows_each(tiny_pipe):
    result = compose(tiny_pipe, TWO, method="attention", window=4, stride=2, **RUN)  # 8x8 latent: 3x3 windows
    assert result.timings["rows"] == [18] * 4
    whole = compose(tiny_pipe, FULL, method="attention", window=4, stride=2, **RUN)
    plain = compose(tiny_pipe, PLAIN, window=4, stride=2, **RUN)
    assert max_error(whole.latents, plain.latents) <= tolerance(tiny_pipe)


class Probe(AttnProcessor):
    """diffusers' plain processor that also keeps the attention probabilities of masked cross-attention."""

    def __init__(self, seen):
        self.seen = seen

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kwargs):
        if encoder_hidden_states is not None and attention_mask is not None:
            query = attn.head_to_batch_dim(attn.to_q(hidden_states))
            key = attn.head_to_batch_dim(attn.to_k(encoder_hidden_states))
            mask = attn.prepare_attention_mask(attention_mask, encoder_hidden_states.shape[1], hidden_states.shape[0])
            self.seen.append(attn.get_attention_scores(query, key, mask))
        return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, **kwargs)


def test_a_probe_sees_zero_attention_from_outside_a_region_to_its_tokens():
    pipe, seen = tiny_random_pipeline(), []
    pipe.unet.set_attn_processor(Probe(seen))
    compose(pipe, HALVES, method="attention", **RUN)
    assert len(seen) >= 4 * 2  # every step, at two resolutions at least
    tokens = pipe.tokenizer.model_max_length
    for probs in seen:  # (rows × heads, positions, 2 × tokens): [background tokens, region tokens]
        side = int(probs.shape[1] ** 0.5)
        left = (torch.arange(probs.shape[1]) % side) < side // 2  # the region: the canvas' left half
        background, region = probs[..., :tokens], probs[..., tokens:]
        assert probs.shape[-1] == 2 * tokens
        assert torch.all(region[:, ~left] == 0) and torch.all(background[:, left] == 0)
        assert torch.allclose(region[:, left].sum(-1), torch.ones(1)) and torch.allclose(
            background[:, ~left].sum(-1), torch.ones(1))


def test_the_bias_is_the_log_weight_at_each_layers_resolution():
    weights = torch.tensor([[1.0, 0.5], [0.0, 0.5]])[None, :, :, None].expand(1, 2, 2, 2)  # (rows, P, h, w)
    assert layer_shape((9, 5), 15) == (5, 3) and layer_shape((4, 4), 16) == (4, 4)
    with pytest.raises(ValueError, match="matches no level"):
        layer_shape((8, 8), 10)
    bias = region_bias(weights, 4, tokens=3)
    assert bias.shape == (1, 4, 6)
    assert torch.equal(bias[0, 0], torch.tensor([0.0] * 3 + [float("-inf")] * 3))
    assert torch.allclose(bias[0, 3], torch.tensor(0.5).log().expand(6))
    assert torch.allclose(region_bias(weights, 1, tokens=1), torch.tensor([[[0.75, 0.25]]]).log())


def test_the_unets_own_processors_come_back_after_a_run_a_cancel_and_an_error():
    pipe = tiny_random_pipeline()
    before = own_processors(pipe)
    compose(pipe, TWO, method="attention", **RUN)
    assert_restored(pipe, before)
    cancelled = compose(pipe, TWO, method="hybrid", callback=lambda event: event.cancel(), **RUN)
    assert cancelled.cancelled and cancelled.steps_done == 1
    assert_restored(pipe, before)

    def fail(event):
        assert any(isinstance(p, RegionalAttnProcessor) for p in pipe.unet.attn_processors.values())
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        compose(pipe, TWO, method="attention", callback=fail, **RUN)
    assert_restored(pipe, before)


class Exploding(AttnProcessor):
    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kwargs):
        if attention_mask is not None:
            raise RuntimeError("inside the UNet")
        return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, **kwargs)


def test_the_processors_come_back_after_an_error_inside_the_unet():
    pipe = tiny_random_pipeline()
    pipe.unet.set_attn_processor(Exploding())
    before = own_processors(pipe)
    compose(pipe, TWO, **RUN)  # fusion never masks: the processor is called as before
    with pytest.raises(RuntimeError, match="inside the UNet"):
        compose_many(pipe, as_runs([{"layout": TWO, "method": m, **RUN} for m in ("fusion", "attention")]))
    assert_restored(pipe, before)


def test_compose_many_mixes_methods_as_each_alone(tiny_pipe):
    before = own_processors(tiny_pipe)
    runs = [{"layout": TWO, "method": m, **RUN} for m in METHODS] + [
        {"layout": TWO, "method": "attention", **{**RUN, "seed": 5}}]
    together = compose_many(tiny_pipe, as_runs(runs), max_batch=1)
    alone = [compose(tiny_pipe, **run, max_batch=1) for run in runs]
    assert all(torch.equal(a.latents, b.latents) for a, b in zip(together, alone))
    batched = compose_many(tiny_pipe, as_runs(runs))  # the two attention runs share calls, with their own masks
    assert all(max_error(a.latents, b.latents) <= tolerance(tiny_pipe) for a, b in zip(batched, alone))
    assert_restored(tiny_pipe, before)


def test_region_x0_under_attention_is_the_fused_prediction_for_every_prompt(tiny_pipe):
    events = []
    compose(tiny_pipe, TWO, method="attention", callback=events.append, region_x0=True, **RUN)
    assert events[-1].region_x0.shape == (3, 4, 8, 8)
    assert torch.equal(events[-1].region_x0[2], events[-1].x0[0])


def test_a_bad_method_is_refused_with_the_choices(tiny_pipe):
    with pytest.raises(ValueError, match="method='blend' must be one of 'fusion', 'attention', 'hybrid'"):
        compose(tiny_pipe, TWO, method="blend", **RUN)
    with pytest.raises(SettingsError, match="setting method='blend' must be one of 'fusion'"):
        Settings.from_dict({"method": "blend"}, "old.png")
    assert Settings.from_dict({"method": "hybrid"}) == Settings(method="hybrid")


def test_the_cli_renders_with_a_method_and_the_png_records_it(tmp_path, capsys):
    from mdwidgets import read_png_metadata
    from mdwidgets.apps.cli import EXAMPLES, main

    out, again = tmp_path / "attention.png", tmp_path / "again.png"
    assert main(["render", str(EXAMPLES / "shapes.json"), "-o", str(out), "--steps", "2", "--seed", "1",
                 "--method", "attention"]) == 0
    assert ", attention, " in capsys.readouterr().out
    assert read_png_metadata(out)[1]["method"] == "attention"
    assert main(["render", str(out), "-o", str(again), "--method", "hybrid"]) == 0
    assert read_png_metadata(again)[1]["method"] == "hybrid"
    with pytest.raises(SystemExit):
        main(["render", str(out), "-o", str(tmp_path / "x.png"), "--method", "blend"])
    assert "invalid choice: 'blend'" in capsys.readouterr().err


def test_a_sweep_varies_the_method_as_an_axis(tmp_path, tiny_pipe):
    import json

    from mdwidgets.apps.sweep import load_spec, run_sweep

    small = {"mdwidgets_layout": 1, "width": 64, "height": 64, "background": "a blue background",
             "regions": [{"prompt": "a red circle", "box": [8, 8, 40, 40]}]}
    spec = load_spec({"model": "builtin:tiny-random", "layouts": [small], "steps": 2,
                      "method": ["fusion", "attention", "hybrid"], "output": str(tmp_path / "out")})
    cells = spec.cells()
    assert [c.settings["method"] for c in cells] == ["fusion", "attention", "hybrid"]
    assert [c.id.split("-")[3] for c in cells] == ["fusion", "attention", "hybrid"]
    run_sweep(spec, pipe=tiny_pipe, log=lambda line: None)
    assert [json.loads((tmp_path / "out" / f"{c.id}.json").read_text())["method"] for c in cells] == [
        "fusion", "attention", "hybrid"]
    with pytest.raises(ValueError, match="method 'blend' must be one of 'fusion'"):
        load_spec({"layouts": [small], "method": ["fusion", "blend"]})


def test_compare_methods_renders_each_method_with_its_cost_and_score(tiny_pipe):
    from mdwidgets.render.figures import METHOD_CELLS, compare_methods, cost_note

    comparison = compare_methods(tiny_pipe, TWO, num_inference_steps=4, bootstrap_steps=2, seed=3, cell_size=96)
    ran = [(r.settings["method"], r.settings["bootstrap_steps"]) for r in comparison.results]
    assert ran == [("fusion", 2), ("fusion", 0), ("attention", 2), ("hybrid", 2)]
    assert comparison.values == comparison.titles == [title for title, _ in METHOD_CELLS]
    assert [r.timings["rows"] for r in comparison.results] == [[6, 6, 5, 5], [5] * 4, [2] * 4, [6, 6, 2, 2]]
    assert [cost_note(r).split(" · ")[0] for r in comparison.results] == [
        "6→5 rows/step", "5 rows/step", "2 rows/step", "6→2 rows/step"]
    assert all(r.settings["seed"] == 3 for r in comparison.results)
    assert comparison.image.width > 4 * 96 and len(comparison.scores) == 4
    with pytest.raises(ValueError, match="'method' is the compared setting; do not pass it"):
        compare_methods(tiny_pipe, TWO, method="fusion")


def test_an_lcm_unet_takes_the_guidance_as_input_one_row_per_step_under_attention():
    from mdwidgets.pipelines.tiny import tiny_random_lcm_pipeline

    pipe = on_test_device(tiny_random_lcm_pipeline())
    plain = compose(pipe, PLAIN, seed=1, num_inference_steps=2, output_type="latent")
    ours = compose(pipe, FULL, method="attention", seed=1, num_inference_steps=2, output_type="latent")
    assert ours.timings["rows"] == [1, 1]
    assert max_error(ours.latents, plain.latents) <= tolerance(pipe)
