"""The device and dtype the tests build their pipelines on, and the tolerance that dtype allows.

CPU in float32 unless ``MDWIDGETS_TEST_DEVICE`` / ``MDWIDGETS_TEST_DTYPE`` say otherwise;
``scripts/gpu_check.sh`` runs the suite with ``cuda`` and ``float16``, where Colab users run. Every
pipeline a test builds goes through :func:`on_test_device` or :func:`load_test_pipeline`, so that
one switch moves them all (the ``tiny_pipe`` fixture in conftest.py included).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from mdwidgets.pipelines.loading import load_pipeline, parse_dtype, place_pipeline

DEVICE_VARIABLE, DTYPE_VARIABLE = "MDWIDGETS_TEST_DEVICE", "MDWIDGETS_TEST_DTYPE"

# Largest difference, relative to the latents' size, between two runs that must agree (compose and
# diffusers' pipeline, or the plain reference, or two batchings). float32: round-off of differently
# batched float32 UNet calls, held to 1e-5 since the first tests. Half precision: the UNet rounds
# every output to 11 significant bits (float16: a relative step of 2**-11 = 4.9e-4), diffusers' own
# pipelines keep their latents in the UNet's dtype where compose keeps float32, and two correct runs
# part by a few such steps per denoising step, compounded over the 2-10 steps these tests run.
# Measured on the CPU with MDWIDGETS_TEST_DTYPE=float16: against diffusers' pipelines 5e-4 to 3.3e-3,
# against the plain reference 2e-7 (one view) to 1.1e-3 (windows), the fused x0 of a step against its
# paths' 7e-3 (absolute): 2e-2 leaves ~3x headroom over the worst. What it still catches (tiny model,
# 2 regions, 6 steps): a region left out parts by 7e-2, another scheduler by 1.5; a guidance scale
# off by 0.5 parts by only 1.3e-2, which float16 cannot tell from its round-off (the float32 run, CI's,
# holds every comparison to 1e-5). CUDA's float16 kernels round differently again:
# scripts/gpu_check.sh is where this bound meets them. bfloat16 (8 significant bits, 8x coarser)
# gets float16's bound times 8; no test run uses it for comparisons yet.
TOLERANCE = {torch.float32: 1e-5, torch.float16: 2e-2, torch.bfloat16: 1.6e-1}


def chosen_device_and_dtype(environ: Mapping[str, str] | None = None) -> tuple[torch.device, torch.dtype]:
    """The device and dtype the environment asks the tests to run on (default: CPU, float32)."""
    environ = os.environ if environ is None else environ
    device = torch.device(environ.get(DEVICE_VARIABLE) or "cpu")
    dtype = parse_dtype(environ.get(DTYPE_VARIABLE) or "float32")
    return device, dtype


def on_test_device(pipe, environ: Mapping[str, str] | None = None):
    """``pipe`` moved to the chosen device and dtype as :func:`mdwidgets.load_pipeline` places a
    model (UNet and text encoders in the dtype, the VAE in float32)."""
    return place_pipeline(pipe, *chosen_device_and_dtype(environ))


def load_test_pipeline(name, **kwargs):
    """:func:`mdwidgets.load_pipeline` on the chosen device and dtype (its own default would be
    CUDA float16 wherever a GPU is, whatever the switch says)."""
    device, dtype = chosen_device_and_dtype()
    return load_pipeline(name, device=device, dtype=dtype, **kwargs)


def tolerance(pipe=None) -> float:
    """The relative tolerance of :data:`TOLERANCE` for ``pipe``'s UNet dtype (default: the chosen dtype)."""
    dtype = pipe.unet.dtype if pipe is not None else chosen_device_and_dtype()[1]
    return TOLERANCE[dtype]


def model_latents(latents: torch.Tensor, pipe) -> torch.Tensor:
    """Initial latents as diffusers' pipelines take them: on the UNet's device, in its dtype
    (they do not cast given latents; compose and the reference take any)."""
    return latents.to(pipe.unet.device, pipe.unet.dtype)
