"""Renderers: previews of latents and region overlays. Plain functions, no widgets.

A preview shows what the sampler's current clean-image prediction ``x0`` looks like. Three kinds,
chosen per model by :func:`previewer_for` from measurements (see its docstring for the rule):

- :class:`DecodePreviewer` — the VAE's own decode: the true picture, at the decoder's cost.
- :class:`TinyDecoderPreviewer` — a distilled tiny decoder the user passes (diffusers'
  ``AutoencoderTiny``, e.g. TAESD for Stable Diffusion 1.x/2.x), trained to imitate the VAE's
  decode; TAESD's architecture costs 1/18 of SD 1.5's decode (0.21 vs 3.8 s for 256 px on 2 CPU
  threads: 3.7% of a 3-region step; benchmarks/preview_quality.py).
- :class:`LatentPreviewer` — a linear latent→RGB map fitted to the VAE's own decodes: ~no cost,
  a picture only for VAEs that are close to linear per latent cell.
"""

from __future__ import annotations

import math
import re
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from ..layout import Layout
from ..pipelines.facts import vae_scale_factor, vae_scaling
from ..sampling.images import decode_latents, float32_vae

# Distinct, readable region colours (background is grey); region i uses REGION_COLOURS[i % len].
REGION_COLOURS = (
    (230, 25, 75), (60, 180, 75), (255, 200, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (170, 110, 40), (0, 128, 128),
)
BACKGROUND_COLOUR = (128, 128, 128)


def region_colour(index: int) -> tuple[int, int, int]:
    """The display colour of region ``index`` (0-based, background excluded)."""
    return REGION_COLOURS[index % len(REGION_COLOURS)]


REGION_COLOUR_NAMES = ("red", "green", "yellow", "blue", "orange", "purple", "cyan", "magenta", "brown", "teal")
OUTLINE_FOR_WORD = {**dict(zip(REGION_COLOUR_NAMES, REGION_COLOURS)), "pink": (240, 50, 230), "violet": (145, 30, 180),
                    "white": (250, 250, 250), "black": (20, 20, 20), "grey": (128, 128, 128), "gray": (128, 128, 128)}
_COLOUR_WORD = re.compile(r"\b(" + "|".join(OUTLINE_FOR_WORD) + r")\b", re.IGNORECASE)


def outline_colours(prompts: Sequence[str], slots: Sequence[int] | None = None,
                    background: str = "") -> list[tuple[int, int, int]]:
    """One outline colour per region that never contradicts a prompt: a prompt that names a colour
    ("a yellow square") is outlined in it; the others take their slot's :func:`region_colour`
    (``slots``: each region's own colour index, default its position), skipping colours that any
    prompt or the ``background`` prompt names, so "a green triangle" is never beside a green outline
    of another region."""
    named = [_COLOUR_WORD.search(p) for p in prompts]
    taken = {m.group(1).lower() for m in [*named, _COLOUR_WORD.search(background)] if m}
    free = [c for name, c in zip(REGION_COLOUR_NAMES, REGION_COLOURS) if name not in taken] or list(REGION_COLOURS)
    slots = range(len(prompts)) if slots is None else slots
    return [OUTLINE_FOR_WORD[m.group(1).lower()] if m else free[slot % len(free)] for m, slot in zip(named, slots)]


# The rule of previewer_for (its docstring explains it; README "Seeing inside" has the numbers).
PREVIEW_STEP_SHARE = 0.05  # a decode shown at every step may cost 5% of a UNet step
DECODE_SECONDS_WITHOUT_STEP = 0.1  # the decode budget when no step cost is known (a bare VAE, no hint)
MAP_MAX_ERROR_SHARE = 0.5  # a map is a picture if it is at most half as far off as a flat mean colour
PROBE_CELLS = 8  # decode cost is first measured on an 8×8-cell latent and scaled by area, …
MEASURE_FULL_WITHIN = 4  # … and at the canvas' size only if that estimate is within 4× the budget


class DecodePreviewer:
    """The true picture: the VAE's own decode of the latents (for VAEs cheap enough to run often)."""

    kind = "decode"

    def __init__(self, vae) -> None:
        self.vae = vae

    def __call__(self, latents: torch.Tensor, size: tuple[int, int] | None = None) -> Image.Image:
        image = decode_latents(self.vae, latents[:1])
        return image.resize(size, Image.BILINEAR) if size and image.size != tuple(size) else image


class TinyDecoderPreviewer:
    """Previews by a distilled tiny decoder: a diffusers ``AutoencoderTiny`` (TAESD and its kin).

    TAESD decodes the sampler's latents as they are — the scaled latents the UNet works in — not
    ``latents / vae.config.scaling_factor`` of the full VAE. Its author: "TAESD directly converts
    SD(XL) latents into RGB images" (github.com/madebyollin/taesd/issues/3); diffusers records it as
    ``AutoencoderTiny``'s ``scaling_factor=1.0`` ("no such scaling factor was used",
    diffusers 0.42 ``models/autoencoders/autoencoder_tiny.py`` lines 79-86, default at line 112),
    which its pipelines divide by like any VAE's (``pipelines/stable_diffusion/
    pipeline_stable_diffusion.py`` line 1085: ``self.vae.decode(latents /
    self.vae.config.scaling_factor, ...)``). So this decodes ``latents / tiny.config.scaling_factor
    + shift_factor`` — the latents unchanged for TAESD — and reads the output as [-1, 1] pixels
    (``DecoderTiny.forward`` ends with ``x.mul(2).sub(1)``, ``models/autoencoders/vae.py`` line 895).

    ``vae``: the pipeline's VAE, to check that the tiny decoder reads the same latents (channels
    and scale factor); a mismatch raises ``ValueError``.
    """

    kind = "tiny"

    def __init__(self, tiny_vae, vae=None) -> None:
        if vae is not None:
            check_tiny_decoder(tiny_vae, vae)
        self.tiny_vae = tiny_vae

    def __call__(self, latents: torch.Tensor, size: tuple[int, int] | None = None) -> Image.Image:
        tiny = self.tiny_vae
        scaling, shift = vae_scaling(tiny)
        with torch.inference_mode():
            pixels = tiny.decode(latents[:1].to(tiny.device, tiny.dtype) / scaling + shift, return_dict=False)[0]
        array = ((pixels[0].float() / 2 + 0.5).clamp(0, 1) * 255).round().byte().permute(1, 2, 0)
        image = Image.fromarray(array.cpu().numpy())
        return image.resize(size, Image.BILINEAR) if size and image.size != tuple(size) else image


def check_tiny_decoder(tiny_vae, vae) -> None:
    """Raise ``ValueError`` unless ``tiny_vae`` decodes ``vae``'s latents (same channels and scale)."""
    tiny, full = tiny_vae.config, vae.config
    tiny_factor = tiny.upsampling_scaling_factor ** (len(tiny.decoder_block_out_channels) - 1)
    if tiny.latent_channels != full.latent_channels or tiny_factor != vae_scale_factor(vae):
        raise ValueError(
            f"the tiny decoder reads {tiny.latent_channels}-channel latents at 1/{tiny_factor} scale, the "
            f"model's VAE makes {full.latent_channels} channels at 1/{vae_scale_factor(vae)}: use the tiny "
            "decoder of the model's family (madebyollin/taesd for SD 1.x/2.x, taesdxl for SDXL)"
        )


class LatentPreviewer:
    """Latents to RGB by one affine map per latent cell: a preview at ~no cost.

    Fitted once per VAE by least squares on the VAE's own decodes: random smooth images (flat
    colours, colour grids and their blends) are encoded, decoded, and each latent cell is
    regressed (with a bias and a small ridge) on the mean colour of the pixels it decodes to. That
    fits the latents a trained model's x0 prediction resembles (encodings of images); the earlier
    fit on flat colours only was 80-98/255 off the true decode on both test VAEs, worse than a flat
    grey. Latents are clamped to the range seen in the fit: the random test pipeline predicts x0
    far outside it (std ≈ 9), where the unclamped map was 76/255 off and the clamped one is 29.

    ``fit_error`` and ``mean_colour_error``: mean absolute error (/255) against the true decode of
    held-out images, of the map and of each image's own flat mean colour. :func:`previewer_for`
    uses the map only where it is clearly better than a flat colour (``MAP_MAX_ERROR_SHARE``).
    """

    kind = "map"

    def __init__(self, vae, samples: int = 24, seed: int = 0, image_size: int = 32) -> None:
        images = _smooth_images(samples, image_size, torch.Generator().manual_seed(seed))
        latents = _encode(vae, images)
        pixels = _decode(vae, latents)
        held = max(1, samples // 3)  # the first third is held out to measure the fit, then used too
        errors = _map_errors(_fit_map(latents[held:], pixels[held:]), latents[:held], pixels[:held])
        self.fit_error, self.mean_colour_error = errors
        self.matrix = _fit_map(latents, pixels)  # (C + 1, 3)
        # Latents are clamped to the range fitted on: a linear map only holds where it was fitted.
        self.low = latents.amin(dim=(0, 2, 3))[:, None, None]
        self.high = latents.amax(dim=(0, 2, 3))[:, None, None]

    def __call__(self, latents: torch.Tensor, size: tuple[int, int] | None = None) -> Image.Image:
        """An RGB preview of ``(1, C, h, w)`` latents, resized to ``size=(width, height)``."""
        rgb = _apply_map(self.matrix, latents[:1].detach().float().cpu(), self.low, self.high)[0].permute(1, 2, 0)
        image = Image.fromarray((rgb * 255).round().byte().numpy())
        return image.resize(size, Image.BILINEAR) if size else image

    @property
    def is_a_picture(self) -> bool:
        """Whether the map is at most ``MAP_MAX_ERROR_SHARE`` as far off as a flat mean colour."""
        return self.fit_error <= MAP_MAX_ERROR_SHARE * self.mean_colour_error


def _smooth_images(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` images in [0, 1]: random 1×1 … 8×8 colour grids, blocky and bilinearly blended."""
    images = []
    for i in range(n):
        cells = (1, 2, 4, 8)[i % 4]
        grid = torch.rand(1, 3, cells, cells, generator=generator)
        blend = dict(mode="bilinear", align_corners=False) if (i // 4) % 2 else dict(mode="nearest")
        images.append(F.interpolate(grid, size=(size, size), **blend))
    return torch.cat(images)


def _encode(vae, images: torch.Tensor) -> torch.Tensor:
    """The scaled latents (the UNet's) of ``images`` in [0, 1], float32 on the CPU."""
    vae = float32_vae(vae)  # as decode_latents does: SD VAEs overflow in half precision
    scaling, shift = vae_scaling(vae)
    with torch.inference_mode():
        modes = [vae.encode((chunk * 2 - 1).to(vae.device, vae.dtype)).latent_dist.mode() for chunk in images.split(8)]
    return (torch.cat(modes).float().cpu() - shift) * scaling


def _decode(vae, latents: torch.Tensor) -> torch.Tensor:
    """The VAE's decode of scaled ``latents``: pixels in [0, 1], float32 on the CPU."""
    scaling, shift = vae_scaling(vae)
    with torch.inference_mode():
        pixels = [vae.decode(chunk.to(vae.device, vae.dtype) / scaling + shift, return_dict=False)[0]
                  for chunk in latents.split(8)]
    return (torch.cat(pixels).float().cpu() / 2 + 0.5).clamp(0, 1)


def _fit_map(latents: torch.Tensor, pixels: torch.Tensor, ridge: float = 1e-3) -> torch.Tensor:
    """Affine map ``(C + 1, 3)`` from a latent cell to the mean colour it decodes to.

    Least squares with a small ridge (``ridge`` × the mean latent variance; the bias is free): the
    encodings of colours can leave a latent direction unused, where plain least squares puts
    huge weights that blow up on any x0 with a component there.
    """
    targets = F.avg_pool2d(pixels, pixels.shape[-1] // latents.shape[-1])
    cells = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1]).double()
    colours = targets.permute(0, 2, 3, 1).reshape(-1, 3).double()
    cell_mean, colour_mean = cells.mean(dim=0), colours.mean(dim=0)
    cells, colours = cells - cell_mean, colours - colour_mean
    gram = cells.T @ cells / len(cells)
    gram = gram + ridge * torch.trace(gram) / len(gram) * torch.eye(len(gram), dtype=gram.dtype)
    weights = torch.linalg.solve(gram, cells.T @ colours / len(cells))
    return torch.cat([weights, (colour_mean - cell_mean @ weights)[None]]).float()


def _apply_map(matrix: torch.Tensor, latents: torch.Tensor, low=None, high=None) -> torch.Tensor:
    """RGB in [0, 1], ``(n, 3, h, w)``, of latents ``(n, C, h, w)`` by the map (clamped to ``low…high``)."""
    if low is not None:
        latents = torch.maximum(torch.minimum(latents, high), low)
    cells = latents.permute(0, 2, 3, 1)
    rgb = torch.cat([cells, torch.ones(*cells.shape[:3], 1)], dim=3) @ matrix
    return rgb.clamp(0, 1).permute(0, 3, 1, 2)


def _map_errors(matrix: torch.Tensor, latents: torch.Tensor, pixels: torch.Tensor) -> tuple[float, float]:
    """Mean absolute error (/255) vs ``pixels`` of the map (upsampled) and of each image's mean colour."""
    mapped = F.interpolate(_apply_map(matrix, latents), size=pixels.shape[-2:], mode="bilinear", align_corners=False)
    flat = pixels.mean(dim=(2, 3), keepdim=True)
    return float((mapped - pixels).abs().mean() * 255), float((flat - pixels).abs().mean() * 255)


@dataclass
class PreviewChoice:
    """What :func:`choose_previewer` chose, and the measurements it chose by (seconds)."""

    previewer: DecodePreviewer | TinyDecoderPreviewer | LatentPreviewer
    reason: str  #: one line: why this kind
    decode_seconds: float  #: one true decode of the canvas' latent (scaled from a probe when far over budget)
    step_seconds: float | None  #: the UNet step it was compared with (None: unknown)
    budget_seconds: float  #: what a decode at every step may cost
    tiny_seconds: float | None = None  #: one call of the tiny decoder, where one was given and measured

    @property
    def steps_per_preview(self) -> int:
        """Show a preview every this many steps to keep previews within ``PREVIEW_STEP_SHARE`` of
        the steps' time: 1 unless the choice is a decode over budget (rule 4, or a costlier tiny
        decoder), e.g. ~10 for the built-in model on a CPU."""
        if self.previewer.kind != "decode" or self.decode_seconds <= self.budget_seconds:
            return 1
        return math.ceil(self.decode_seconds / self.budget_seconds)


_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # VAE/UNet/tiny VAE -> {key: value}
_cache_lock = threading.Lock()


def previewer_for(
    source, size: tuple[int, int] | None = None, *, step_seconds: float | None = None, tiny_vae=None
) -> DecodePreviewer | TinyDecoderPreviewer | LatentPreviewer:
    """The previewer of a pipeline (or a bare VAE) for a ``size=(width, height)`` canvas.

    Call it as ``previewer(x0, (width, height))`` with a step event's ``x0``. Chosen by
    :func:`choose_previewer` (the rule is there); the same objects come back for the same VAE.
    """
    return choose_previewer(source, size, step_seconds=step_seconds, tiny_vae=tiny_vae).previewer


def choose_previewer(
    source, size: tuple[int, int] | None = None, *, step_seconds: float | None = None, tiny_vae=None
) -> PreviewChoice:
    """Choose the preview of a pipeline (or a bare VAE) at a canvas size, by measurement.

    The rule:

    1. **The true decode** if one decode of the canvas' latent costs at most
       ``PREVIEW_STEP_SHARE`` (5%) of a UNet step: cheap enough to show at every step.
    2. Else **the tiny decoder** ``tiny_vae`` if given (e.g.
       ``AutoencoderTiny.from_pretrained("madebyollin/taesd")`` for SD 1.x/2.x) and cheaper than the
       decode (TAESD's 1.2 M-parameter decoder costs more than the built-in model's whole VAE).
    3. Else **the fitted linear map** (:class:`LatentPreviewer`) if it is a picture of this VAE:
       on held-out decodes at most ``MAP_MAX_ERROR_SHARE`` (half) as far off as a flat mean colour.
    4. Else the true decode anyway: no cheap preview of this VAE is a picture (the built-in shapes
       VAE: a linear map is ~40/255 off on real renders), so the caller shows it less often (the
       Studio: at most once every 3× its cost).

    Measured once per VAE (and UNet) and latent size, then cached (thread-safe):

    - the decode (and the tiny decoder): on an 8×8-cell latent (after a warm-up) scaled by area,
      and at the canvas' size only when that estimate is within 4× the budget (a slow VAE never
      pays a full decode to learn it is slow);
    - the step: ``step_seconds`` if given (e.g. ``event.elapsed / (event.step + 1)``), else, for a
      pipeline, one UNet call of 2 rows (one prompt with guidance: a lower bound of a real step,
      which has N + 2 rows for N regions) at the canvas' size. For a bare VAE without
      ``step_seconds`` a decode may cost ``DECODE_SECONDS_WITHOUT_STEP`` (0.1 s).

    ``size`` defaults to the VAE's native image size (``vae.config.sample_size``).
    """
    pipe = source if hasattr(source, "vae") else None
    vae = pipe.vae if pipe is not None else source
    width, height = size if size is not None else _native_size(vae)
    factor = vae_scale_factor(vae)
    cells = (max(1, height // factor), max(1, width // factor))
    with _cache_lock:
        if step_seconds is None and pipe is not None and getattr(pipe, "unet", None) is not None:
            step_seconds = _step_seconds(pipe, cells)
        budget = DECODE_SECONDS_WITHOUT_STEP if step_seconds is None else PREVIEW_STEP_SHARE * step_seconds
        decode = _shared_previewer(vae, lambda: DecodePreviewer(vae))
        decode_seconds, estimated = _preview_seconds(decode, vae, cells, budget)

        def cost() -> str:
            share = "" if step_seconds is None else f" = {decode_seconds / step_seconds:.0%} of a step"
            return f"a decode costs {'~' if estimated else ''}{decode_seconds * 1000:.0f} ms{share}"

        def choice(previewer, reason: str, tiny_seconds: float | None = None) -> PreviewChoice:
            return PreviewChoice(previewer, reason, decode_seconds, step_seconds, budget, tiny_seconds)

        if decode_seconds <= budget:
            return choice(decode, f"{cost()}: within budget")
        if tiny_vae is not None:
            check_tiny_decoder(tiny_vae, vae)
            tiny = _shared_previewer(tiny_vae, lambda: TinyDecoderPreviewer(tiny_vae))
            tiny_seconds = _preview_seconds(tiny, tiny_vae, cells, budget)[0]
            if tiny_seconds < decode_seconds:
                return choice(tiny, f"{cost()}: over budget; the tiny decoder costs {tiny_seconds * 1000:.0f} ms",
                              tiny_seconds)
            return choice(decode, f"{cost()}: over budget, but the tiny decoder costs more", tiny_seconds)
        latent_map = _shared(vae, "map", lambda: LatentPreviewer(vae))
        errors = f"{latent_map.fit_error:.0f}/255 off, a flat colour {latent_map.mean_colour_error:.0f}/255"
        if latent_map.is_a_picture:
            return choice(latent_map, f"{cost()}: over budget; the linear map is a picture ({errors})")
        if estimated:  # the decode will be shown: measure it, for steps_per_preview
            decode_seconds, estimated = _preview_seconds(decode, vae, cells, math.inf)
        return choice(decode, f"{cost()}: over budget, but the linear map is no picture ({errors}); show it less often")


def _native_size(vae) -> tuple[int, int]:
    sample = getattr(vae.config, "sample_size", 512)
    return (sample[1], sample[0]) if isinstance(sample, (list, tuple)) else (sample, sample)


def _shared(module, key, make):
    entry = _cache.setdefault(module, {})
    if key not in entry:
        entry[key] = make()
    return entry[key]


def _shared_previewer(module, make):
    """A previewer that refers to ``module``, cached weakly: a cache entry keeping its own key alive
    would keep every pipeline ever previewed in memory."""
    entry = _cache.setdefault(module, {})
    previewer = entry["previewer"]() if "previewer" in entry else None
    if previewer is None:
        previewer = make()
        entry["previewer"] = weakref.ref(previewer)
    return previewer


def _timed(run, warm_up=None) -> float:
    """Seconds of ``run()`` after ``warm_up()`` (if given); the faster of two runs if quick (noise)."""
    if warm_up is not None:
        warm_up()
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    if seconds < 0.5:
        started = time.perf_counter()
        run()
        seconds = min(seconds, time.perf_counter() - started)
    return seconds


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _preview_seconds(previewer, module, cells: tuple[int, int], budget: float) -> tuple[float, bool]:
    """Seconds of one ``previewer`` call on a ``cells`` latent, and whether they are only an estimate
    scaled from the probe; cached under ``module`` (see the rule in :func:`choose_previewer`)."""
    channels = module.config.latent_channels
    probe = (min(cells[0], PROBE_CELLS), min(cells[1], PROBE_CELLS))
    key = (previewer.kind, "seconds")
    on_probe = lambda: previewer(torch.zeros(1, channels, *probe))  # noqa: E731
    probe_seconds = _shared(module, (*key, probe), lambda: _timed(on_probe, warm_up=on_probe))
    if probe == cells or (*key, cells) in _cache[module]:
        return _cache[module][(*key, cells)], False
    estimate = probe_seconds * cells[0] * cells[1] / (probe[0] * probe[1])
    if estimate > MEASURE_FULL_WITHIN * budget:
        return estimate, True  # an overestimate in practice (fixed costs scaled too): 1.7-3× measured
    # (the probe warmed the module up: a slow decode is paid once here, not twice)
    return _shared(module, (*key, cells), lambda: _timed(lambda: previewer(torch.zeros(1, channels, *cells)))), False


def _step_seconds(pipe, cells: tuple[int, int]) -> float | None:
    """One UNet call of 2 rows at ``cells``; ``None`` where the UNet needs more than text (SDXL)."""
    unet = pipe.unet

    def measure() -> float | None:
        config, device = unet.config, unet.device
        length = min(int(getattr(getattr(pipe, "tokenizer", None), "model_max_length", 77) or 77), 77)
        context = torch.zeros(2, length, config.cross_attention_dim, device=device, dtype=unet.dtype)
        sample = torch.zeros(2, config.in_channels, *cells, device=device, dtype=unet.dtype)

        def call(sample: torch.Tensor) -> None:
            with torch.inference_mode():
                unet(sample, 500, encoder_hidden_states=context)
            _synchronize(device)

        try:  # warm up on a small latent: a full-size UNet call can take seconds on a CPU
            return _timed(lambda: call(sample), lambda: call(sample[..., :PROBE_CELLS, :PROBE_CELLS]))
        except (TypeError, ValueError, RuntimeError, AttributeError):  # e.g. SDXL's added conditions
            return None

    return _shared(unet, ("step seconds", cells), measure)


def overlay_regions(
    image: Image.Image,
    layout: Layout,
    *,
    alpha: float = 0.35,
    fill: bool = True,
    outline: bool = True,
    labels: bool = True,
    colours: Sequence[tuple[int, int, int]] | None = None,
) -> Image.Image:
    """``image`` with each region drawn in its colour (filled and/or outlined) and numbered.

    ``colours``: one RGB per region (default :func:`outline_colours` of the prompts). Each outline sits
    on a halo that contrasts with the picture under the region (black on light, white on dark), so
    a region stays visible where its colour matches the picture."""
    _check_colours(colours, len(layout.regions))
    default_colours = outline_colours([r.prompt for r in layout.regions], background=layout.background)
    base = image.convert("RGBA").resize((layout.width, layout.height))
    grey = np.asarray(base.convert("L"), np.float32)
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default()
    for i, region in enumerate(layout.regions):
        r, g, b = colours[i] if colours is not None else default_colours[i]
        x0, y0, x1, y1 = (int(round(v)) for v in region.bounds)
        halo = (0, 0, 0, 200) if grey[y0:y1, x0:x1].mean() > 110 else (255, 255, 255, 220)
        if region.box is not None:
            if fill:
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=(r, g, b, round(255 * alpha)))
            if outline:
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=halo, width=4)
                draw.rectangle((x0 + 1, y0 + 1, x1 - 2, y1 - 2), outline=(r, g, b, 255), width=2)
        else:
            mask = Image.fromarray((np.asarray(region.mask) * 255 * (alpha if fill else 0)).astype(np.uint8))
            layer.paste((r, g, b, 255), (0, 0), mask)
        if labels:
            anchor, text = (x0 + 4, y0 + 2), str(i + 1)
            box = draw.textbbox(anchor, text, font=font)
            draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=(r, g, b, 255))
            ink = (255, 255, 255, 255) if 0.299 * r + 0.587 * g + 0.114 * b < 150 else (0, 0, 0, 255)
            draw.text(anchor, text, fill=ink, font=font)
    return Image.alpha_composite(base, layer).convert("RGB")


def _check_colours(colours, regions: int) -> None:
    """``overlay_regions``' ``colours``: ``None`` or one (r, g, b) of whole numbers 0–255 per region."""
    if colours is None:
        return
    if isinstance(colours, (str, bytes)) or not isinstance(colours, Sequence) or len(colours) < regions:
        given = f"{len(colours)} colours" if isinstance(colours, Sequence) else type(colours).__name__
        raise ValueError(f"overlay_regions: colours must give one (r, g, b) per region: {regions} regions, {given}")
    for i, colour in enumerate(colours[:regions]):
        if (not isinstance(colour, Sequence) or len(colour) != 3
                or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c <= 255
                           for c in colour)):
            raise ValueError(f"overlay_regions: colours[{i}]={colour!r:.40} must be (r, g, b), whole numbers 0-255")
