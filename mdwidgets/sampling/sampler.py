"""Region-based MultiDiffusion (Bar-Tal et al., 2023): one diffusion path per prompt, fused per pixel.

Pure torch + diffusers components; no widgets. See :func:`compose`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import random
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch

from ..catalog import SUPPORTED
from ..layout import Layout, LayoutError
from ..pipelines.facts import guidance_dim, model_family, model_name, unet_input_kind, vae_scale_factor, wants_time_ids
from ..settings import Settings
from .budget import check_budget, rows_that_fit
from .conditioning import window_time_ids, zero_empty_negatives
from .images import decode_latents, encode_flat_colours
from .img2img import ImageInputs, image_inputs, inpainting_channels
from .lockstep import drive
from .masks import fusion_weights
from .paths import Paths
from .prompts import prompt_cache_for
from .regional_attention import RegionalPaths, regional_processors
from .schedulers import check_steps, make_scheduler, scheduler_name
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
    #: everything needed to render it again: the :class:`~mdwidgets.Settings` as run (``to_dict()``, with
    #: the model's defaults, the seed, the scheduler's name and the window size filled in; ``stride`` None
    #: for a single view) and ``model``, ``device``, ``dtype``. ``Settings.from_dict`` reads it back.
    settings: dict[str, Any]
    timings: dict[str, Any] = field(default_factory=dict)  #: seconds: encode, sample, decode, total, steps
    cancelled: bool = False  #: stopped early; ``image`` then shows the last clean-latent prediction
    steps_done: int = 0


@dataclass
class Run:
    """One composition for :func:`compose_many`: a layout, its settings and its callback, and what else
    :func:`compose` takes besides the pipeline (same meanings and defaults)."""

    layout: Layout
    settings: Settings = field(default_factory=Settings)
    callback: Callable[[StepEvent], Any] | None = None
    generator: torch.Generator | None = None
    latents: torch.Tensor | None = None
    region_x0: bool = False
    output_type: str = "pil"
    check_memory: bool = True
    init_image: Any = None
    strength: float = 1.0
    keep: Any = None
    keep_image: Any = None


_DEFAULTS = Settings()  # compose's keyword defaults are the Settings' own
_SETTING_KEYWORDS = Settings.keywords()  # the compose() keywords a Settings stands for


def _settings_or_keywords(compose):
    """``settings=`` stands for the setting keywords: a call giving both is a ``TypeError``."""
    @functools.wraps(compose)
    def call(*args, **kwargs):
        both = [k for k in _SETTING_KEYWORDS if k in kwargs] if kwargs.get("settings") is not None else []
        if both:
            raise TypeError(f"compose() got settings= and {', '.join(f'{k}=' for k in both)}; give one or the "
                            "other (e.g. settings.replace(...) for a changed copy)")
        return compose(*args, **kwargs)
    return call


@_settings_or_keywords
def compose(
    pipe,
    layout: Layout,
    *,
    settings: Settings | None = None,
    num_inference_steps: int = _DEFAULTS.steps,
    guidance_scale: float | None = _DEFAULTS.guidance_scale,
    bootstrap_steps: int | None = _DEFAULTS.bootstrap_steps,
    seed: int | None = _DEFAULTS.seed,
    generator: torch.Generator | None = None,
    latents: torch.Tensor | None = None,
    scheduler=_DEFAULTS.scheduler,
    callback: Callable[[StepEvent], Any] | None = None,
    region_x0: bool = False,
    max_batch: int | None = _DEFAULTS.max_batch,
    output_type: str = "pil",
    eta: float = _DEFAULTS.eta,
    window: int | str | None = _DEFAULTS.window,
    stride: int = _DEFAULTS.stride,
    circular: bool = _DEFAULTS.circular,
    method: str = _DEFAULTS.method,
    check_memory: bool = True,
    init_image=None,
    strength: float = 1.0,
    keep=None,
    keep_image=None,
) -> ComposeResult:
    """Render ``layout`` with region-based MultiDiffusion.

    At every step each prompt ``[background, region 1…N]`` predicts noise on the shared latent,
    with classifier-free guidance; the predictions are averaged per pixel with the normalised
    region weights ``W_i`` (paper Eq. 5; :func:`~mdwidgets.sampling.masks.fusion_weights` makes them from the masks, the
    regions' ``weight`` and ``layout.overlap``: ``"average"`` or ``"layers"``) and the scheduler steps **once**
    with the fused prediction.

    That single step equals the paper's fusion of separately stepped paths for every diffusers
    scheduler (the argument is next to the fusion line, in ``_denoise``);
    :func:`mdwidgets.sampling.reference.plain_multidiffusion` is the literal algorithm it is tested against.

    Bootstrapping (paper §3.2): during the first ``bootstrap_steps`` steps each foreground path
    sees, outside its region, a random flat colour encoded by the VAE and noised to the current
    timestep with the run's initial noise; the background path is not bootstrapped. Foreground
    paths then need their own unconditional rows; afterwards all paths share one unconditional row
    per negative prompt (N + 1 + #negatives UNet rows per step instead of the plain 2(N + 1)).

    Panoramas and large canvases (paper §4.1): with ``window`` the latent is covered by square
    windows moved by ``stride``; every (window, prompt) pair whose region reaches into the window is
    a view, its prediction is weighted by the prompt's weight there divided by the number of windows
    covering the cell, and all views are fused into one prediction before the single step (same
    argument as above: the panorama average of stepped windows equals one step of the averaged
    predictions). Views of all windows go through the UNet together, ``max_batch`` rows at a time.

    Args:
        pipe: any object with Stable Diffusion components ``vae, unet, text_encoder, tokenizer,
            scheduler`` (e.g. a diffusers ``StableDiffusionPipeline``; see :func:`load_pipeline`),
            or SDXL's (with ``text_encoder_2, tokenizer_2``: a ``StableDiffusionXLPipeline``).
        layout: the composition.
        settings: a :class:`~mdwidgets.Settings` standing for all the setting keywords below
            (``num_inference_steps`` … ``circular``, ``max_batch``); giving it together with one of
            them is a ``TypeError``. The keywords' defaults are the Settings' own.
        num_inference_steps: denoising steps; default the model family's
            (:data:`mdwidgets.catalog.FAMILIES`): 25, 4 for Turbo and LCM models.
        guidance_scale: classifier-free guidance for prompts without their own (``<= 1``: off, and
            no unconditional UNet rows at all); default the family's (5 for the built-in shapes
            model and SDXL, 7.5 for Stable Diffusion, 0 for Turbo, 1 for LCM-LoRA). An LCM-distilled
            UNet takes it as an input instead (default 8.5; still one row per prompt).
        bootstrap_steps: bootstrapped steps; default the family's
            (:func:`mdwidgets.catalog.default_bootstrap_steps`): 20% of ``num_inference_steps``, the
            paper's ~20% (the official code uses 40%; fewer keeps objects better blended), 32% for
            the built-in shapes model (8 of 25), the first step for Turbo/LCM models (none in a 1-step run).
            For second-order schedulers (Heun) it is scaled to the number of UNet evaluations.
        seed: seed of the initial noise and bootstrap colours; drawn at random (and reported in
            ``result.settings``) when neither ``seed`` nor ``generator`` is given.
        generator: a ``torch.Generator`` to use instead of ``seed``.
        latents: initial noise ``(1, C, h, w)`` (standard normal, like diffusers' ``latents=``).
        scheduler: ``None`` (the family's, e.g. ``"lcm"`` for LCM models, else the pipeline's), a name
            from ``mdwidgets.SCHEDULERS`` or a diffusers
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
        method: how regions steer the model (README, "Region methods"). ``"fusion"``: the above, one
            UNet row per prompt. ``"attention"``: 2 rows per step whatever the number of regions, every
            prompt in one row with cross-attention masked per region
            (:mod:`mdwidgets.sampling.regional_attention`); no bootstrapping. ``"hybrid"``: fusion while
            bootstrapping, attention after.
        check_memory: estimate the peak memory first and raise ``MemoryError`` (with the numbers
            and a ``max_batch`` that fits) instead of running out of memory mid-run.
        init_image: start from this image (a PIL image of the canvas size, or latents like
            ``result.latents``) noised to ``strength``: image-to-image, as diffusers'
            ``StableDiffusionImg2ImgPipeline`` (:mod:`mdwidgets.sampling.img2img`).
        strength: the share of the steps that run, from an ``init_image`` (or the ``keep_image``);
            1: from pure noise. Bootstrapping counts only the steps that run.
        keep: a ``(height, width)`` pixel mask, 1 = keep: those cells end as ``keep_image``'s
            latents (blended in at every step, as diffusers' inpainting with a text-to-image
            UNet); the rest is rendered anew. :func:`mdwidgets.sampling.img2img.keep_all_but` makes the mask
            that redoes some regions.
        keep_image: the image (or latents, e.g. an earlier ``result.latents``) to keep from.
    """
    if settings is None:
        settings = Settings.from_keywords(
            num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, bootstrap_steps=bootstrap_steps,
            scheduler=scheduler, seed=seed, eta=eta, window=window, stride=stride, circular=circular,
            max_batch=max_batch, method=method)
    elif not isinstance(settings, Settings):
        raise TypeError(f"settings must be a mdwidgets.Settings, not {type(settings).__name__}")
    run = Run(layout, settings, callback, generator, latents, region_x0, output_type, check_memory, init_image,
              strength, keep, keep_image)
    return drive([_sample(pipe, run)], pipe.unet, max_batch=settings.max_batch)[0]


def compose_many(pipe, runs: Sequence[Run], *, max_batch: int | None = None) -> list[ComposeResult]:
    """Render several compositions together: their UNet rows are concatenated into shared calls.

    Each :class:`Run` is a layout with its settings and callback, e.g. the same layout with several
    seeds or bootstrap settings. The runs advance in lock-step; at every step the rows of all runs
    with the same latent size go through the UNet together (runs at different timesteps — other
    schedulers or step counts — get one timestep per row). Each result equals ``compose(pipe,
    run.layout, settings=run.settings, ...)`` up to float rounding that depends on the batch size
    (bit-identical with ``max_batch=1``). On a GPU this fills the device; on a CPU it buys little
    (see the README's performance section).
    Runs may use different region methods: rows with other text lengths (regional attention's) go
    through the UNet in calls of their own.

    Args:
        pipe: as for :func:`compose`.
        runs: one :class:`Run` per composition (each with its own ``callback``).
        max_batch: at most this many UNet rows per call over all runs. ``None``: every run's rows
            at once when the estimated memory allows (see :mod:`mdwidgets.sampling.budget`), otherwise as
            many as fit (never fewer than one run's own rows).

    Each result's ``timings`` are measured inside the shared run, so they overlap rather than add
    up (``timings["runs"]`` says how many runs shared it).
    """
    if isinstance(runs, (Mapping, str)) or not isinstance(runs, Sequence):
        raise TypeError(f"runs must be a list of mdwidgets.Run (one per composition), not {type(runs).__name__}")
    loops = []
    for k, run in enumerate(runs):
        if not isinstance(run, Run):
            raise TypeError(f"run {k} must be a mdwidgets.Run(layout, settings, callback), not {type(run).__name__}")
        if not isinstance(run.settings, Settings):
            raise TypeError(f"run {k}: settings must be a mdwidgets.Settings, not {type(run.settings).__name__}")
        if run.settings.max_batch not in (None, max_batch):
            raise ValueError(f"run {k}: its settings have max_batch={run.settings.max_batch}; pass "
                             "max_batch to compose_many itself")
        run = dataclasses.replace(run, settings=run.settings.replace(max_batch=max_batch))
        loops.append(_sample(pipe, run, runs=len(runs)))
    return drive(loops, pipe.unet, max_batch=max_batch, row_cap=lambda pixels: rows_that_fit(pipe, pixels))


def _sample(pipe, run: Run, runs: int = 1):
    """:func:`compose` as a generator: it yields the UNet rows of each step and is sent their output."""
    started = time.perf_counter()
    layout, generator, callback, output_type = run.layout, run.generator, run.callback, run.output_type
    # 1. Check inputs; fill in the model's defaults and a seed (the settings checked themselves when made)
    _check_arguments(layout, vae_scale_factor(pipe.vae), output_type, pipe, callback)
    settings = run.settings.resolved(model_family(pipe))  # a SettingsError if bootstrap_steps > the default steps
    if generator is None:
        seed = random.SystemRandom().randrange(2**32) if settings.seed is None else int(settings.seed)
        settings, generator = settings.replace(seed=seed), torch.Generator("cpu").manual_seed(seed)
    # 2-4. Fusion weights, paths and prompt embeddings; scheduler and timesteps; noise and bootstrap colours
    starts = dict(init_image=run.init_image, strength=run.strength, keep=run.keep, keep_image=run.keep_image)
    prepared = _Prepared.prepare(pipe, layout, settings, generator, run.latents, starts)
    # 5. Refuse before sampling if the rows cannot fit in memory
    if run.check_memory:
        check_budget(pipe, layout, rows=prepared.rows(0), row_pixels=prepared.paths.pixels,
                     max_batch=settings.max_batch, decode=output_type == "pil")
    encoded = time.perf_counter()
    # 6. Denoising loop (regional attention: the UNet's attention processors wrapped while it runs)
    with regional_processors(pipe.unet) if prepared.attention is not None else nullcontext():
        x, step_times, cancelled = yield from _denoise(prepared, pipe.unet.dtype, callback, run.region_x0, encoded)
    sampled = time.perf_counter()
    # 7. Decode (a cancelled run shows its last clean-latent prediction) and report
    image = prepared.images.paste(decode_latents(pipe.vae, x), pipe.vae) if output_type == "pil" else None
    finished = time.perf_counter()
    timings = {"encode": encoded - started, "sample": sampled - encoded, "decode": finished - sampled,
               "total": finished - started, "steps": step_times, "runs": runs,
               "rows": [prepared.rows(i) for i in range(len(step_times))]}
    return ComposeResult(image, x, layout, _record(pipe, settings, prepared), timings, cancelled, len(step_times))


def _record(pipe, settings: Settings, run: _Prepared) -> dict[str, Any]:
    """``result.settings``: the settings as run (model defaults, seed, scheduler name and window size filled in;
    ``stride`` None when the run had a single view), and the model (and its LoRA, if any), device and dtype."""
    ran = settings.replace(scheduler=scheduler_name(run.scheduler), window=run.window_size)
    return {"model": model_name(pipe), "lora": getattr(pipe, "mdwidgets_lora", None), **ran.to_dict(),
            "stride": settings.stride if run.windows > 1 else None,
            "device": str(pipe.unet.device), "dtype": str(pipe.unet.dtype).removeprefix("torch.")}


def _denoise(run: _Prepared, dtype: torch.dtype, callback, region_x0: bool, encoded: float):
    """The denoising loop; yields each step's UNet rows. Returns (latents or last x0 if cancelled,
    step times, cancelled)."""
    sched = run.scheduler
    x = x0 = run.start
    step_times: list[float] = []
    for i, t in enumerate(run.timesteps):
        step_started = time.perf_counter()
        bootstrapping, paths = i < run.boot_evals, run.paths_at(i)  # fusion's paths or regional attention's
        model_in = sched.scale_model_input(run.step_inputs(x, i, t), t)
        rows = paths.unet_rows(run.unet_input(model_in), t, shared=not bootstrapping, dtype=dtype)
        noise_pred = paths.guide((yield rows), shared=not bootstrapping)  # drive() runs the UNet on the rows
        # Eq. 5: x_{t-1} = Σ_i W_i · step(x_t, ε_i) = step(x_t, Σ_i W_i · ε_i), because a scheduler step is
        # affine in ε with coefficients no prompt changes (multistep ones are linear in their history too)
        # and Σ_i W_i = 1: fuse the predictions, then step once. Stepping one scheduler per path would
        # advance its state N + 1 times per step.
        fused = paths.fuse(noise_pred)
        if callback is not None:  # only events (and a cancelled run's image) need x0
            x0 = predicted_x0(sched, model_in[:1], fused, t)
        x = run.kept(sched.step(fused, t, x, **run.step_kwargs).prev_sample, i)
        if not torch.isfinite(x).all():  # stop now, not after the whole run
            raise FloatingPointError(_not_finite(i, dtype, run.paths.guidance))
        step_times.append(time.perf_counter() - step_started)
        if callback is not None:
            event = StepEvent(i, len(run.timesteps), float(t), x, x0, run.weights, bootstrapping,
                              time.perf_counter() - encoded)
            if region_x0:
                path_x0 = predicted_x0(sched, paths.row_inputs(rows)[:, : x.shape[1]], noise_pred, t)
                event.region_x0 = paths.prompt_x0(path_x0, x0)
            callback(event)
            if event.cancelled:
                return x0, step_times, True
    return x, step_times, False


@dataclass
class _Prepared:
    """What one run fixes before its first step."""

    weights: torch.Tensor  #: (N + 1, 1, h, w) fusion weights W_i (order: background, regions)
    paths: Paths  #: the (window, prompt) paths, their UNet rows and the fusion
    attention: RegionalPaths | None  #: regional attention's rows (methods "attention" and "hybrid")
    scheduler: Any  #: this run's own scheduler, timesteps set
    timesteps: torch.Tensor
    noise: torch.Tensor  #: (1, C, h, w) initial noise (regions with their own seed included)
    start: torch.Tensor  #: the latents of the first step: noise, or an image noised to ``strength``
    images: ImageInputs  #: what the run starts from and keeps
    inpainting: torch.Tensor | None  #: (1, 1 + C, h, w) an inpainting UNet's mask and masked-image latents
    backgrounds: torch.Tensor  #: (bootstrap evaluations, N, C, 1, 1) flat-colour latents
    boot_evals: int  #: bootstrapped UNet evaluations (Heun makes two per step)
    step_kwargs: dict[str, Any]
    window_size: int | None
    windows: int

    @classmethod
    def prepare(cls, pipe, layout, settings: Settings, generator, latents, starts: dict[str, Any]) -> _Prepared:
        device, scale, steps = pipe.unet.device, vae_scale_factor(pipe.vae), settings.steps
        grid = (layout.height // scale, layout.width // scale)
        window_size = _window_size(settings.window, settings.circular, pipe.unet)
        view = window_size or max(grid)  # no windows: one view of the whole canvas, whatever the stride
        windows = window_grid(*grid, view, settings.stride if window_size else view, settings.circular)
        # 2. Fusion weights W_i (Eq. 5), the paths (window × prompt) and their prompt embeddings (cached)
        weights = fusion_weights(layout, scale).to(device)
        paths = Paths(layout, settings.guidance_scale, weights, windows, grid[1],
                      embedded_guidance=guidance_dim(pipe.unet) is not None)
        paths.bind(*(conditioning := _conditioning(pipe, paths, windows, grid, scale)))
        attention = (None if settings.method == "fusion"
                     else RegionalPaths(layout, paths, weights, windows, grid[1], conditioning))
        # 3. A scheduler of this run's own; bootstrapping is counted in UNet evaluations
        sched = make_scheduler(settings.scheduler, pipe.scheduler)
        check_steps(sched, steps)
        sched.set_timesteps(steps, device=device)
        shape = (1, pipe.unet.config.out_channels, *grid)
        images = image_inputs(pipe.vae, layout, shape, **starts)
        inpainting = (inpainting_channels(pipe.vae, images, shape).to(device)
                      if _unet_kind(pipe.unet) == "inpainting" else None)
        timesteps = _timesteps(sched, steps, images.start_index(steps))
        boot_evals = (round(settings.bootstrap_steps * len(sched.timesteps) / steps)
                      if layout.regions and settings.method != "attention" else 0)
        boot_evals = min(boot_evals, len(timesteps))  # counted in the steps that run
        # 4. Initial noise (an image noised to ``strength``) and the flat colours foregrounds see while bootstrapping
        noise = _initial_noise(layout, shape, generator, latents, weights > 0)
        noise = noise.to(device)
        start = noise * sched.init_noise_sigma if images.strength == 1 else sched.add_noise(
            images.init.to(device), noise, timesteps[:1])
        backgrounds = _bootstrap_backgrounds(pipe.vae, len(layout.regions), boot_evals, generator, device)
        return cls(weights, paths, attention, sched, timesteps, noise, start, images, inpainting, backgrounds,
                   boot_evals, _step_kwargs(sched, generator, settings.eta), window_size, len(windows))

    def paths_at(self, i: int) -> Paths | RegionalPaths:
        """The rows of UNet evaluation ``i``: fusion's while bootstrapping (throughout with method "fusion"),
        regional attention's after (throughout with "attention": it never bootstraps)."""
        return self.paths if self.attention is None or i < self.boot_evals else self.attention

    def rows(self, i: int) -> int:
        """UNet rows of evaluation ``i``."""
        return self.paths_at(i).rows(shared=i >= self.boot_evals)

    def kept(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """``x`` with the kept cells replaced by the kept latents noised to the next timestep
        (none after the last step): diffusers' inpainting blend for text-to-image UNets (an inpainting
        UNet keeps them itself)."""
        if self.images.keep is None or self.inpainting is not None:
            return x
        kept = self.images.kept.to(x.device)
        if i + 1 < len(self.timesteps):
            kept = self.scheduler.add_noise(kept, self.noise, self.timesteps[i + 1 : i + 2])
        keep = self.images.keep.to(x.device)
        return keep * kept + (1 - keep) * x

    def unet_input(self, model_in: torch.Tensor) -> torch.Tensor:
        """The scaled latents the rows read, with an inpainting UNet's mask and masked-image channels."""
        if self.inpainting is None:
            return model_in
        return torch.cat([model_in, self.inpainting.expand(len(model_in), -1, -1, -1)], dim=1)

    def step_inputs(self, x: torch.Tensor, i: int, t) -> torch.Tensor:
        """The latents paths read at step ``i``: the shared ``x``; while bootstrapping (paper §3.2) also
        each foreground's copy showing a flat colour, noised to ``t``, outside its region. A path's
        input changes only where its weight is 0, so fusing then stepping once stays exact."""
        if i >= self.boot_evals:
            return x
        n, shape = self.backgrounds.shape[1], x.shape[1:]
        flat = self.scheduler.add_noise(self.backgrounds[i].expand(n, *shape), self.noise.expand(n, *shape),
                                        t.repeat(n))
        return torch.cat([x, torch.where(self.weights[1:] > 0, x, flat)])


def _conditioning(pipe, paths: Paths, windows, grid, scale: int):
    """Every text's embeddings (cached per text encoder) and the UNet's other inputs (:mod:`.conditioning`)."""
    prompts = prompt_cache_for(pipe.text_encoder).encode(pipe, paths.texts)
    prompts = zero_empty_negatives(pipe, prompts, paths.texts, paths.first_negative)
    time_ids = window_time_ids(windows, grid, scale) if wants_time_ids(pipe.unet) else None
    return prompts.to(pipe.unet.device, pipe.unet.dtype), time_ids, guidance_dim(pipe.unet)


def _unet_kind(unet) -> str | None:
    """``"text"``, ``"inpainting"`` or ``None`` (:func:`mdwidgets.pipelines.facts.unet_input_kind`)."""
    return unet_input_kind(unet.config.in_channels, unet.config.out_channels)


def _timesteps(sched, steps: int, start: int) -> torch.Tensor:
    """The timesteps that run from step ``start`` of ``steps`` (diffusers' img2img ``get_timesteps``)."""
    if start >= steps:
        raise ValueError(f"strength leaves no step of {steps} to run; raise strength or steps")
    first = start * sched.order
    if first and hasattr(sched, "set_begin_index"):
        sched.set_begin_index(first)
    return sched.timesteps[first:]


def _not_finite(step: int, dtype: torch.dtype, guidance: list[float]) -> str:
    """Why the latents stopped being finite, as far as we can tell."""
    where = f"sampling produced NaN/inf latents at step {step + 1}"
    if dtype in (torch.float16, torch.bfloat16):
        return f"{where} in {dtype}; run the UNet in float32 (load_pipeline(..., dtype='float32'))"
    return (f"{where} in float32: the guidance scales {sorted(set(guidance))} may be too large, or the "
            "model's weights hold NaN/inf")


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
        if not isinstance(latents, torch.Tensor):
            raise TypeError(f"latents must be a torch.Tensor of shape {shape}, not {type(latents).__name__}")
        if tuple(latents.shape) != shape:
            raise ValueError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
        noise = latents.float().cpu()
        if not torch.isfinite(noise).all():
            raise ValueError("latents hold NaN or inf values; pass standard normal noise (e.g. torch.randn)")
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


def _check_arguments(layout, scale, output_type, pipe, callback) -> None:
    unet = pipe.unet
    if not isinstance(layout, Layout):
        raise TypeError(f"layout must be a mdwidgets.Layout, not {type(layout).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function taking a StepEvent (or None), not {type(callback).__name__}")
    if layout.width % scale or layout.height % scale:
        raise LayoutError(
            f"canvas {layout.width}x{layout.height} is not a multiple of this model's latent grid "
            f"({scale} px)"
        )
    if output_type not in ("pil", "latent"):
        raise ValueError(f"output_type={output_type!r} must be 'pil' or 'latent'")
    extra = getattr(unet.config, "addition_embed_type", None)
    if extra not in (None, "text_time"):
        raise ValueError(f"this UNet expects extra conditioning ({extra!r}); mdwidgets supports {SUPPORTED}")
    if extra == "text_time" and getattr(pipe, "text_encoder_2", None) is None:
        raise ValueError("this UNet is SDXL's (pooled text embeddings, size/crop ids) but the pipeline has no "
                         "text_encoder_2; load it as an SDXL pipeline (load_pipeline does)")
    if _unet_kind(unet) is None:
        raise ValueError(
            f"this UNet takes {unet.config.in_channels} input channels (a depth or other special model); "
            "mdwidgets needs a text-to-image or an inpainting UNet"
        )
