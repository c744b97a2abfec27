"""Memory budget: estimate a run's peak memory before it starts, and refuse runs that cannot fit.

The estimate is deliberately simple and calibrated by measurement (peak RSS of an SD 1.5-
architecture UNet and VAE in float32 on CPU, torch 2.13 with SDPA attention):

- UNet activations ≈ rows × latent pixels × 32 × ``block_out_channels[0]`` elements
  (measured ~170 MB per row at a 64×64 latent);
- VAE decoding ≈ image pixels × 7 × ``block_out_channels[0]`` of the VAE, float32
  (measured ~960 MB at 512×512);
- on Apple MPS attention scores are materialised: + rows × 8 heads × (latent pixels)² elements.

It errs high by 25%. Weights are already resident and not counted.
"""

from __future__ import annotations

import torch

from ..pipelines.facts import vae_scale_factor
from .images import TILED_DECODE_ABOVE

SAFETY = 1.25


def estimate_bytes(pipe, layout, *, rows: int, max_batch: int | None, device: torch.device,
                   row_pixels: int | None = None) -> dict[str, int]:
    """Estimated peak bytes of the UNet step and of the VAE decode for this run.

    ``rows`` UNet rows of ``row_pixels`` latent cells each (default: the whole canvas).
    """
    scale = vae_scale_factor(pipe.vae)
    latent_pixels = row_pixels or (layout.height // scale) * (layout.width // scale)
    per_call = min(rows, max_batch or rows)
    unet = _unet_bytes(pipe, per_call, latent_pixels, device)
    pixels = layout.height * layout.width
    if max(layout.height, layout.width) > TILED_DECODE_ABOVE:  # decoded in tiles (images.decode_latents)
        pixels = min(pixels, 4 * pipe.vae.config.sample_size**2)
    vae = pixels * 7 * pipe.vae.config.block_out_channels[0] * 4
    return {"unet": int(unet * SAFETY), "vae": int(vae * SAFETY), "rows_per_call": per_call}


def _unet_bytes(pipe, rows: int, latent_pixels: int, device: torch.device) -> int:
    elem = torch.finfo(pipe.unet.dtype).bits // 8
    unet = rows * latent_pixels * 32 * pipe.unet.config.block_out_channels[0] * elem
    if device.type == "mps":
        unet += rows * 8 * latent_pixels**2 * elem
    return unet


def rows_that_fit(pipe, row_pixels: int) -> int | None:
    """How many UNet rows of ``row_pixels`` latent cells fit in free memory at once (``None``: unknown)."""
    device = pipe.unet.device
    free = available_bytes(device)
    if free is None:
        return None
    return int(free // (_unet_bytes(pipe, 1, row_pixels, device) * SAFETY))


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` (``None`` when it cannot be told)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        except (AttributeError, RuntimeError):
            return None
    import psutil  # every OS (it was /proc/meminfo: on macOS and Windows the check did nothing)

    return int(psutil.virtual_memory().available)


def check_budget(pipe, layout, *, rows: int, row_pixels: int, max_batch: int | None, decode: bool) -> None:
    """Raise ``MemoryError`` with numbers and a way out when the run would not fit.

    ``rows`` UNet rows per evaluation (busiest step) of ``row_pixels`` latent cells each.
    """
    device = pipe.unet.device
    free = available_bytes(device)
    if free is None:
        return
    need = estimate_bytes(pipe, layout, rows=rows, max_batch=max_batch, device=device, row_pixels=row_pixels)
    gb = lambda n: f"{n / 2**30:.1f} GB"  # noqa: E731
    if need["unet"] > free:
        one_row = estimate_bytes(pipe, layout, rows=1, max_batch=1, device=device, row_pixels=row_pixels)["unet"]
        fits = free // max(one_row, 1)
        advice = (f"max_batch={fits} fits" if fits >= 1 else "even max_batch=1 does not fit: use a smaller canvas")
        raise MemoryError(
            f"a {layout.width}x{layout.height} canvas with {need['rows_per_call']} UNet rows per call needs about "
            f"{gb(need['unet'])} but {device} has {gb(free)} free; {advice}, or reduce the canvas or the regions"
        )
    if decode and need["vae"] > free:
        raise MemoryError(
            f"decoding a {layout.width}x{layout.height} image needs about {gb(need['vae'])} but {device} has "
            f"{gb(free)} free; use a smaller canvas or output_type='latent'"
        )
