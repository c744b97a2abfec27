"""Region-based MultiDiffusion (Bar-Tal et al., 2023): one diffusion path per prompt, fused per pixel.

Pure torch + diffusers components; no widgets. See :func:`compose`.
"""

from __future__ import annotations

import inspect
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .budget import check_budget, rows_that_fit
from .images import decode_latents, encode_flat_colours, vae_scale_factor
from .layout import Layout, LayoutError
from .lockstep import UNetRows, drive
from .masks import fusion_weights
from .models import default_bootstrap_steps, default_guidance, model_name
from .prompts import prompt_cache_for
from .schedulers import make_scheduler, scheduler_name
from .windows import window_grid


@dataclass
class StepEvent:
    """What :func:`compose` reports after each denoising step.

    Tensors are float32 on the sampling device, shaped ``(1, C, h, w)`` (latent grid) unless
    noted; treat them as read-only. Call :meth:`cancel` to stop after this step.
    """

    step: int  #: 0-based index of the step just taken
    num_steps: int  #: number of steps (UNet evaluations) in the run
    timestep: float  #: the scheduler timestep of this step
    latents: torch.Tensor  #: the fused latent after the step
    x0: torch.Tensor  #: the fused prediction of the clean latent at this step
    weights: torch.Tensor  #: fusion weights, ``(N + 1, 1, h, w)``, order [background, regions…]
    bootstrapping: bool  #: whether foregrounds saw bootstrap backgrounds at this step
    elapsed: float  #: seconds since sampling started
    region_x0: torch.Tensor | None = None  #: ``(N + 1, C, h, w)`` each prompt's own x0 (if asked)
    cancelled: bool = False

    def cancel(self) -> None:
        """Stop the run after this step; the result is marked ``cancelled``."""
        self.cancelled = True


@dataclass
class ComposeResult:
    """The output of :func:`compose`."""

    image: Any  #: ``PIL.Image`` (``None`` with ``output_type="latent"``)
    latents: torch.Tensor  #: final latents ``(1, C, h, w)`` (unscaled by the VAE factor)
    layout: Layout  #: the layout that was rendered
    settings: dict[str, Any]  #: everything needed to render it again (seed included)
    timings: dict[str, Any] = field(default_factory=dict)  #: seconds: encode, sample, decode, total, steps
    cancelled: bool = False  #: stopped early; ``image`` then shows the last clean-latent prediction
    steps_done: int = 0


def compose(
    pipe,
    layout: Layout,
    *,
    num_inference_steps: int = 50,
    guidance_scale: float | None = None,
    bootstrap_steps: int | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    latents: torch.Tensor | None = None,
    scheduler=None,
    callback: Callable[[StepEvent], Any] | None = None,
    region_x0: bool = False,
    max_batch: int | None = None,
    output_type: str = "pil",
    eta: float = 0.0,
    window: int | str | None = None,
    stride: int = 8,
    circular: bool = False,
    check_memory: bool = True,
) -> ComposeResult:
    """Render ``layout`` with region-based MultiDiffusion.

    At every step each prompt ``[background, region 1…N]`` predicts noise on the shared latent,
    with classifier-free guidance; the predictions are averaged per pixel with the normalised
    region weights ``W_i`` (paper Eq. 5) and the scheduler steps **once** with the fused
    prediction.

    Why one step is exactly Eq. 5: the paper fuses the *stepped* latents,
    ``x_{t-1} = Σ_i W_i · step(x_t, ε_i)``. Every diffusers scheduler step (SD configurations,
    no sample clipping/thresholding) is affine in the model output with coefficients that do not
    depend on the prompt, and the weights sum to 1, so ``Σ_i W_i · step(x_t, ε_i) =
    step(x_t, Σ_i W_i ε_i)``. Multistep schedulers (DPM-Solver, PNDM, UniPC) are linear in their
    history as well, so one scheduler fed fused outputs equals one scheduler per view, and its
    step state is advanced once per step as it expects. Stepping one shared scheduler once per
    view instead would corrupt it.

    Bootstrapping (paper §3.2): during the first ``bootstrap_steps`` steps each foreground path
    sees, outside its region, a random flat colour encoded by the VAE and noised to the current
    timestep with the run's initial noise; the background path is not bootstrapped. This only
    changes what the UNet *sees* outside the region's support, where that path's weight is 0;
    inside the support its input equals the shared latent. So the fused stepped result is still
    ``step(x_t, Σ_i W_i ε_i)`` and stepping once stays exact. Foreground paths then need their
    own unconditional rows; afterwards all paths share one unconditional row per negative prompt
    (N + 1 + #negatives UNet rows per step instead of the plain 2(N + 1)).

    Panoramas and large canvases (paper §4.1): with ``window`` the latent is covered by square
    windows moved by ``stride``; every (window, prompt) pair whose region reaches into the window is
    a view, its prediction is weighted by the prompt's weight there divided by the number of windows
    covering the cell, and all views are fused into one prediction before the single step (same
    argument as above: the panorama average of stepped windows equals one step of the averaged
    predictions). Views of all windows go through the UNet together, ``max_batch`` rows at a time.

    Args:
        pipe: any object with Stable Diffusion components ``vae, unet, text_encoder, tokenizer,
            scheduler`` (e.g. a diffusers ``StableDiffusionPipeline``; see :func:`load_pipeline`).
        layout: the composition.
        num_inference_steps: denoising steps.
        guidance_scale: classifier-free guidance for prompts without their own (``<= 1``: off);
            default: the model's (:func:`mdwidgets.models.default_guidance`: 5 for the built-in
            shapes model, 7.5 for Stable Diffusion).
        bootstrap_steps: bootstrapped steps; default the model's
            (:func:`mdwidgets.models.default_bootstrap_steps`): 20% of ``num_inference_steps``, the
            paper's ~20% (the official code uses 40%; fewer keeps objects better blended), and
            60% for the built-in shapes model.
            For second-order schedulers (Heun) it is scaled to the number of UNet evaluations.
        seed: seed of the initial noise and bootstrap colours; drawn at random (and reported in
            ``result.settings``) when neither ``seed`` nor ``generator`` is given.
        generator: a ``torch.Generator`` to use instead of ``seed``.
        latents: initial noise ``(1, C, h, w)`` (standard normal, like diffusers' ``latents=``).
        scheduler: ``None`` (the pipeline's), a name from ``mdwidgets.SCHEDULERS`` or a diffusers
            scheduler instance. A fresh copy is used; ``pipe.scheduler`` is never modified.
        callback: called with a :class:`StepEvent` after each step; ``event.cancel()`` stops.
        region_x0: also compute each prompt's own x0 prediction for the events.
        max_batch: at most this many UNet rows per call (caps memory); ``None``: all at once.
        output_type: ``"pil"`` or ``"latent"`` (skip VAE decoding).
        eta: DDIM's eta (0 = deterministic), passed to schedulers that take it.
        window: ``None``: denoise the whole canvas as one view. An integer: sliding windows of that
            many latent cells (the paper uses 64 = 512 px on SD 1.5); ``"native"``: the UNet's
            native size. Canvases no larger than the window are one view either way.
        stride: latent cells between windows (paper: 8; larger is faster, seams show sooner).
        circular: wrap windows around the left/right edges for a seamless 360° panorama
            (implies ``window="native"`` when no window is given).
        check_memory: estimate the peak memory first and raise ``MemoryError`` (with the numbers
            and a ``max_batch`` that fits) instead of running out of memory mid-run.
    """
    arguments = dict(locals())  # every argument, as given
    return drive([_sample(**arguments)], pipe.unet, max_batch=max_batch)[0]


def compose_many(pipe, runs: Sequence[Mapping[str, Any]], *, max_batch: int | None = None) -> list[ComposeResult]:
    """Render several compositions together: their UNet rows are concatenated into shared calls.

    Each run is a dict of :func:`compose` keywords including ``"layout"``, e.g. the same layout
    with several seeds or bootstrap settings. The runs advance in lock-step; at every step the
    rows of all runs with the same latent size go through the UNet together (runs at different
    timesteps — other schedulers or step counts — get one timestep per row). Each result equals
    ``compose(pipe, **run, max_batch=max_batch)`` up to float rounding that depends on the batch
    size (bit-identical with ``max_batch=1``). On a GPU this fills the device; on a CPU it buys
    little (see the README's performance section).

    Args:
        pipe: as for :func:`compose`.
        runs: one mapping of :func:`compose` keywords per run (each with its own ``callback``).
        max_batch: at most this many UNet rows per call over all runs. ``None``: every run's rows
            at once when the estimated memory allows (see :mod:`mdwidgets.budget`), otherwise as
            many as fit (never fewer than one run's own rows).

    Each result's ``timings`` are measured inside the shared run, so they overlap rather than add
    up (``timings["runs"]`` says how many runs shared it).
    """
    signature = inspect.signature(compose)
    loops = []
    for k, run in enumerate(runs):
        if "pipe" in run or "max_batch" in run:
            raise ValueError(f"run {k}: pass pipe and max_batch to compose_many itself, not in a run")
        try:
            bound = signature.bind(pipe, **run, max_batch=max_batch)
        except TypeError as exc:
            raise TypeError(f"run {k}: {exc} (a run is a dict of compose() keywords with a 'layout')") from None
        bound.apply_defaults()
        loops.append(_sample(**bound.arguments, runs=len(runs)))
    return drive(loops, pipe.unet, max_batch=max_batch, row_cap=lambda pixels: rows_that_fit(pipe, pixels))


def _sample(pipe, layout, *, num_inference_steps, guidance_scale, bootstrap_steps, seed, generator, latents,
            scheduler, callback, region_x0, max_batch, output_type, eta, window, stride, circular,
            check_memory, runs: int = 1):
    """:func:`compose` as a generator: it yields the UNet rows of each step and is sent their output."""
    started = time.perf_counter()
    unet, vae = pipe.unet, pipe.vae
    device, dtype = unet.device, unet.dtype
    scale = vae_scale_factor(vae)
    _check_arguments(layout, scale, num_inference_steps, max_batch, output_type, unet)
    if getattr(unet.config, "time_cond_proj_dim", None) is not None:
        raise ValueError("LCM-distilled UNets (time_cond_proj_dim) are not supported; use LCM-LoRA")
    if guidance_scale is None:
        guidance_scale = default_guidance(model_name(pipe))
    if bootstrap_steps is None:
        bootstrap_steps = default_bootstrap_steps(model_name(pipe), num_inference_steps)
    if isinstance(bootstrap_steps, bool) or not isinstance(bootstrap_steps, int) or not (
        0 <= bootstrap_steps <= num_inference_steps
    ):
        raise ValueError(
            f"bootstrap_steps={bootstrap_steps} must be between 0 and num_inference_steps="
            f"{num_inference_steps}"
        )
    if generator is None:
        seed = random.SystemRandom().randrange(2**32) if seed is None else int(seed)
        generator = torch.Generator("cpu").manual_seed(seed)

    window_size = _window_size(window, circular, unet)
    grid = (layout.height // scale, layout.width // scale)
    windows = window_grid(*grid, window_size or max(grid), stride, circular)

    # Masks, views and prompt embeddings (cached per text encoder). drive() runs this under inference_mode.
    weights = fusion_weights(layout, scale).to(device)
    support = weights > 0
    views = _Views(layout, guidance_scale, weights, windows, grid[1])
    cache = prompt_cache_for(pipe.text_encoder)
    views.bind(cache.encode(pipe.tokenizer, pipe.text_encoder, views.texts).to(device, dtype))

    sched = make_scheduler(scheduler, pipe.scheduler)
    sched.set_timesteps(num_inference_steps, device=device)
    timesteps = sched.timesteps
    # Bootstrapping is counted in UNet evaluations (Heun makes two per step); only foregrounds have it.
    boot_evals = round(bootstrap_steps * len(timesteps) / num_inference_steps) if layout.regions else 0
    shape = (1, unet.config.in_channels, layout.height // scale, layout.width // scale)
    noise = _initial_noise(layout, shape, generator, latents, support).to(device)
    backgrounds = _bootstrap_backgrounds(vae, len(layout.regions), boot_evals, generator, device)
    step_kwargs = _step_kwargs(sched, generator, eta)
    if check_memory:
        check_budget(pipe, layout, rows=views.rows(shared=boot_evals == 0), row_pixels=views.pixels,
                     max_batch=max_batch, decode=output_type == "pil")
    encoded = time.perf_counter()

    x = noise * sched.init_noise_sigma
    x0 = x
    step_times: list[float] = []
    cancelled = False
    for i, t in enumerate(timesteps):
        step_started = time.perf_counter()
        bootstrapping = i < boot_evals
        sources = x
        if bootstrapping:
            # Foregrounds see a noised flat colour outside their support (bootstrapping).
            n = len(layout.regions)
            flat = sched.add_noise(backgrounds[i].expand(n, *shape[1:]), noise.expand(n, *shape[1:]), t.repeat(n))
            sources = torch.cat([x, torch.where(support[1:], x, flat)])
        model_in = sched.scale_model_input(sources, t)
        rows = views.unet_rows(model_in, t, shared=not bootstrapping, dtype=unet.dtype)
        unet_out = yield rows  # drive() runs the UNet on these rows (batched with other runs' rows)
        outputs, view_in = views.guide(unet_out, rows, shared=not bootstrapping)
        fused = views.fuse(outputs)  # Eq. 5: per-pixel weighted mean of all views' predictions
        if callback is not None:  # only events (and a cancelled run's image) need x0
            x0 = predicted_x0(sched, model_in[:1], fused, t)
        x = sched.step(fused, t, x, **step_kwargs).prev_sample
        step_times.append(time.perf_counter() - step_started)
        if callback is not None:
            event = StepEvent(
                step=i,
                num_steps=len(timesteps),
                timestep=float(t),
                latents=x,
                x0=x0,
                weights=weights,
                bootstrapping=bootstrapping,
                elapsed=time.perf_counter() - encoded,
                region_x0=views.region_x0(predicted_x0(sched, view_in, outputs, t), x0) if region_x0 else None,
            )
            callback(event)
            if event.cancelled:
                cancelled = True
                break
    sampled = time.perf_counter()

    if not torch.isfinite(x).all():
        raise FloatingPointError(
            f"sampling produced NaN/inf latents in {dtype}; run the UNet in float32 "
            "(load_pipeline(..., dtype='float32'))"
        )
    final = x0 if cancelled else x
    image = decode_latents(vae, final) if output_type == "pil" else None
    finished = time.perf_counter()

    settings = {
        "model": model_name(pipe),
        "steps": num_inference_steps,
        "guidance_scale": guidance_scale,
        "bootstrap_steps": bootstrap_steps,
        "seed": seed,
        "scheduler": scheduler_name(sched),
        "max_batch": max_batch,
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "window": window_size,
        "stride": stride if len(windows) > 1 else None,
        "circular": circular,
    }
    timings = {
        "encode": encoded - started,
        "sample": sampled - encoded,
        "decode": finished - sampled,
        "total": finished - started,
        "steps": step_times,
        "runs": runs,
    }
    return ComposeResult(image, final, layout, settings, timings, cancelled, len(step_times))


class _Views:
    """The views of a run — (window, prompt) pairs — and the UNet rows that serve them.

    View ``v`` has a conditional row (its prompt on its input cropped to its window) and, when
    guided, an unconditional row (same crop, its negative prompt). Views that share the input
    crop and the negative prompt share that unconditional row. A prompt whose weight is zero in a
    window has no view there. After bootstrapping every view's input is the shared latent
    (source 0); during it, foreground ``p`` reads its own bootstrapped latent (source ``p``).
    """

    def __init__(self, layout: Layout, guidance_scale: float, weights: torch.Tensor, windows, grid_width: int):
        negatives = [layout.negative_prompt] + [
            layout.negative_prompt if r.negative_prompt is None else r.negative_prompt for r in layout.regions
        ]
        self.guidance = [guidance_scale] + [
            guidance_scale if r.guidance_scale is None else r.guidance_scale for r in layout.regions
        ]
        distinct = list(dict.fromkeys(negatives))
        prompts = layout.prompts
        self.texts = prompts + distinct
        self.negative_index = [len(prompts) + distinct.index(n) for n in negatives]

        flat_weights = weights.flatten(1).cpu()  # (N + 1, cells)
        window_cells = [w.cells(grid_width) for w in windows]
        coverage = torch.zeros(flat_weights.shape[1]).index_add_(
            0, torch.cat(window_cells), torch.ones(sum(len(c) for c in window_cells))
        )
        self._grid = tuple(weights.shape[-2:])
        self._canvas_cells = flat_weights.shape[1]
        self._window_cells = torch.stack(window_cells)
        self.pairs = [  # (window, prompt) of every view
            (k, p) for k, c in enumerate(window_cells) for p in range(len(prompts)) if flat_weights[p, c].any()
        ]
        self.window_shape = (windows[0].height, windows[0].width)
        self.cells = self._window_cells[[k for k, _ in self.pairs]]  # (views, window cells)
        # A view's share of a cell: the prompt's weight there over the number of windows covering it.
        self.view_weights = torch.stack([flat_weights[p, window_cells[k]] / coverage[window_cells[k]]
                                         for k, p in self.pairs])[:, None]
        self.prompt_of_view = torch.tensor([p for _, p in self.pairs])
        self._plans = {shared: self._plan(shared) for shared in (True, False)}

    def _plan(self, shared: bool):
        rows = [(0 if shared else p, k, p) for k, p in self.pairs]  # (source, window, prompt embedding)
        uncond_rows: dict[tuple[int, int, int], int] = {}
        uncond_row = []  # per view; an unguided view points at its own conditional row
        for v, (source, k, p) in enumerate(rows[: len(self.pairs)]):
            if self.guidance[p] > 1:
                key = (source, k, self.negative_index[p])
                if key not in uncond_rows:
                    uncond_rows[key] = len(rows)
                    rows.append(key)
            uncond_row.append(uncond_rows[key] if self.guidance[p] > 1 else v)
        return rows, uncond_row

    @property
    def pixels(self) -> int:
        """Latent cells per UNet row (one window)."""
        return self.window_shape[0] * self.window_shape[1]

    def rows(self, shared: bool) -> int:
        """UNet rows per evaluation."""
        return len(self._plans[shared][0])

    def bind(self, embeds: torch.Tensor) -> None:
        """Pre-index crops, prompt embeddings and guidance of both row plans for this run."""
        device = embeds.device
        self.cells, self.view_weights = self.cells.to(device), self.view_weights.to(device)
        self.prompt_of_view, window_cells = self.prompt_of_view.to(device), self._window_cells.to(device)
        scale = torch.tensor([self.guidance[p] if self.guidance[p] > 1 else 1.0 for _, p in self.pairs], device=device)
        self._bound = {}
        for shared, (rows, uncond_row) in self._plans.items():
            sources, windows, texts = (torch.tensor(column, device=device) for column in zip(*rows))
            uncond = torch.tensor(uncond_row, device=device)
            self._bound[shared] = (sources, window_cells[windows], embeds[texts], uncond, scale[:, None, None])

    def unet_rows(self, model_in: torch.Tensor, t, *, shared: bool, dtype: torch.dtype) -> UNetRows:
        """The UNet rows of one evaluation: each row's input crop and prompt embedding."""
        sources, cells, context, _, _ = self._bound[shared]
        channels = model_in.shape[1]
        x = model_in.flatten(2).index_select(0, sources).gather(2, cells[:, None].expand(-1, channels, -1))
        return UNetRows(x.view(len(sources), channels, *self.window_shape).to(dtype), t, context)

    def guide(self, out: torch.Tensor, rows: UNetRows, *, shared: bool):
        """Each view's guided model output ``(views, C, window cells)`` (float32), and its input."""
        _, _, _, uncond_row, scale = self._bound[shared]
        views, out = len(self.pairs), out.float().flatten(2)
        cond, uncond = out[:views], out.index_select(0, uncond_row)
        guided = uncond + scale * (cond - uncond)  # classifier-free guidance (scale 1: the prompt alone)
        return guided, rows.sample[:views].float().flatten(2)

    def fuse(self, outputs: torch.Tensor) -> torch.Tensor:
        """Σ over views of weight × output, scattered back onto the canvas: ``(1, C, h, w)``."""
        channels = outputs.shape[1]
        weighted = (outputs * self.view_weights).transpose(0, 1).reshape(channels, -1)
        fused = outputs.new_zeros(channels, self._canvas_cells).index_add_(1, self.cells.flatten(), weighted)
        return fused.view(1, channels, *self._grid)

    def region_x0(self, view_x0: torch.Tensor, fused_x0: torch.Tensor) -> torch.Tensor:
        """Each prompt's own x0 ``(N + 1, C, h, w)``: the mean over its windows, the fused x0 elsewhere."""
        prompts, channels = len(self.guidance), view_x0.shape[1]
        index = (self.prompt_of_view[:, None] * self._canvas_cells + self.cells).flatten()
        total = view_x0.new_zeros(channels, prompts * self._canvas_cells).index_add_(
            1, index, view_x0.transpose(0, 1).reshape(channels, -1))
        count = view_x0.new_zeros(prompts * self._canvas_cells).index_add_(0, index, view_x0.new_ones(len(index)))
        mean = (total / count.clamp(min=1)).view(channels, prompts, *self._grid).transpose(0, 1)
        return torch.where(count.view(prompts, 1, *self._grid) > 0, mean, fused_x0)


def _window_size(window, circular: bool, unet) -> int | None:
    if window is None and not circular:
        return None
    if window is None or window == "native":
        native = unet.config.sample_size
        return int(native if isinstance(native, int) else max(native))
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window={window!r} must be None, 'native' or a positive number of latent cells")
    return window


def predicted_x0(scheduler, model_input: torch.Tensor, output: torch.Tensor, t) -> torch.Tensor:
    """The clean-latent prediction implied by a model output, for any SD scheduler.

    ``model_input`` is the scaled UNet input (``scheduler.scale_model_input``), which is the
    DDPM-space ``sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε`` for every scheduler.
    """
    alpha_bar = _alpha_bar(scheduler, float(t)).to(output.device)
    a, s = alpha_bar.sqrt(), (1 - alpha_bar).sqrt()
    kind = scheduler.config.get("prediction_type", "epsilon")
    if kind == "epsilon":
        return (model_input - s * output) / a
    if kind == "v_prediction":
        return a * model_input - s * output
    return output


def _alpha_bar(scheduler, t: float) -> torch.Tensor:
    table = scheduler.alphas_cumprod.float()
    t = min(max(t, 0.0), len(table) - 1.0)
    low = int(t)
    high = min(low + 1, len(table) - 1)
    return torch.lerp(table[low], table[high], t - low)  # float timesteps (Karras sigmas)


def _initial_noise(layout, shape, generator, latents, support) -> torch.Tensor:
    if latents is not None:
        if tuple(latents.shape) != shape:
            raise ValueError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
        noise = latents.float().cpu()
    else:
        noise = torch.randn(shape, generator=generator, device=generator.device).cpu()
    for v, region in enumerate(layout.regions, start=1):
        if region.seed is not None:  # this region's noise comes from its own seed
            own = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(region.seed))
            noise = torch.where(support[v].cpu(), own, noise)
    return noise


def _bootstrap_backgrounds(vae, regions: int, evals: int, generator, device) -> torch.Tensor:
    """Per (bootstrap step, region) the latent of a random flat colour: ``(evals, N, C, 1, 1)``."""
    if regions == 0 or evals == 0:
        return torch.empty(0)
    colours = torch.rand(min(16, regions * evals), 3, generator=generator, device=generator.device)
    bank = encode_flat_colours(vae, colours)
    picks = torch.randint(len(bank), (evals, regions), generator=generator, device=generator.device)
    return bank.to(device)[picks.to(device)]


def _step_kwargs(scheduler, generator, eta: float) -> dict[str, Any]:
    accepted = inspect.signature(scheduler.step).parameters
    kwargs: dict[str, Any] = {"return_dict": True}
    if "generator" in accepted:
        kwargs["generator"] = generator
    if "eta" in accepted:
        kwargs["eta"] = eta
    return kwargs


def _check_arguments(layout, scale, steps, max_batch, output_type, unet) -> None:
    if not isinstance(layout, Layout):
        raise TypeError(f"layout must be a mdwidgets.Layout, not {type(layout).__name__}")
    if layout.width % scale or layout.height % scale:
        raise LayoutError(
            f"canvas {layout.width}x{layout.height} is not a multiple of this model's latent grid "
            f"({scale} px)"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"num_inference_steps={steps!r} must be a positive integer")
    if max_batch is not None and (isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1):
        raise ValueError(f"max_batch={max_batch!r} must be a positive integer or None")
    if output_type not in ("pil", "latent"):
        raise ValueError(f"output_type={output_type!r} must be 'pil' or 'latent'")
    if getattr(unet.config, "addition_embed_type", None) is not None:
        raise ValueError(
            f"this UNet expects extra conditioning ({unet.config.addition_embed_type!r}, e.g. SDXL); "
            "mdwidgets supports Stable Diffusion 1.x/2.x UNets"
        )
    if unet.config.in_channels != unet.config.out_channels:
        raise ValueError(
            f"this UNet takes {unet.config.in_channels} input channels (an inpainting or other "
            "special model); mdwidgets needs a text-to-image UNet"
        )
