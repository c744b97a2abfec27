"""mdwidgets: region-based image composition with MultiDiffusion, for notebooks and scripts.

Public API::

    from mdwidgets import Layout, Region, compose, load_pipeline

    pipe = load_pipeline()                       # built-in offline model (or a hub id / folder)
    layout = Layout(128, 128, "a blue background",
                    [Region("a red circle", box=(16, 16, 72, 72))])
    result = compose(pipe, layout, num_inference_steps=25, seed=0)
    result.image.save("out.png")

- :class:`Layout`, :class:`Region` — the composition as data (JSON round trip).
- :func:`compose` — the MultiDiffusion sampler; :class:`ComposeResult`, :class:`StepEvent`.
  ``window=`` / ``stride=`` / ``circular=`` turn on sliding windows for panoramas and canvases
  larger than the model (:mod:`mdwidgets.windows`). ``method="attention"`` / ``"hybrid"`` steer
  regions by masked cross-attention at 2 UNet rows per step for any number of regions
  (:mod:`mdwidgets.regional_attention`); :func:`mdwidgets.views.compare_methods` shows the methods
  side by side with their cost and adherence.
- :func:`compose_many` — several compositions (seeds, settings, layouts) sampled together, their
  UNet rows sharing calls; :func:`mdwidgets.views.compare` uses it for comparison grids.
- :func:`fusion_weights` — the per-pixel region weights the sampler uses.
- :func:`mdwidgets.reference.plain_multidiffusion` — the paper's algorithm written literally (one
  scheduler per path, step, then average): read it first; ``compose`` is tested equal to it.
- :func:`load_pipeline` — Stable Diffusion 1.x/2.x from the hub, a folder, a file or built-in.
- :class:`Settings` — the one home of the rendering settings (steps, guidance, bootstrap,
  scheduler, seed, eta, windows…) and their defaults: ``compose``'s keyword defaults,
  ``compose(..., settings=)``, ``result.settings`` and PNGs (``Settings.from_dict``).
- :func:`save_png`, :func:`read_png_metadata` — PNGs that carry their layout and settings
  (:mod:`mdwidgets.files`: also ``load_layout_file`` / ``load_layout_bytes`` for a layout JSON
  or an mdwidgets PNG).
- :mod:`mdwidgets.sweep` — render grids from a JSON spec (``python -m mdwidgets sweep``), resumable.
- :class:`Studio` — the notebook panel: draw boxes, prompt them, generate with a live preview,
  live mode, undo; made of small widgets in :mod:`mdwidgets.studio` (``BoxCanvas``,
  ``RegionList``, ``RunControls``, ``HistoryStrip``, ``Runner``).
- :func:`overlay_regions` — draw a layout's regions over any image.
- Errors: :class:`LayoutError`, :class:`ModelError`; warnings: :class:`LayoutWarning`,
  :class:`PromptTruncatedWarning`.
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public names and the module each lives in. They are imported on first use (PEP 562), so
# ``import mdwidgets`` and ``python -m mdwidgets --help`` do not wait for torch and diffusers.
_HOMES = {
    "read_png_metadata": "files", "save_png": "files",
    "Layout": "layout", "LayoutError": "layout", "LayoutWarning": "layout", "Region": "layout",
    "fusion_weights": "masks", "DEFAULT_MODEL": "catalog", "ModelError": "catalog", "load_pipeline": "models",
    "overlay_regions": "preview", "PromptTruncatedWarning": "prompts", "ComposeResult": "sampler",
    "StepEvent": "sampler", "compose": "sampler", "compose_many": "sampler", "SCHEDULERS": "schedulers",
    "Settings": "settings", "Studio": "studio",
}


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module 'mdwidgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


if TYPE_CHECKING:  # for type checkers and IDEs: the names as if imported eagerly
    from .catalog import DEFAULT_MODEL, ModelError
    from .files import read_png_metadata, save_png
    from .layout import Layout, LayoutError, LayoutWarning, Region
    from .masks import fusion_weights
    from .models import load_pipeline
    from .preview import overlay_regions
    from .prompts import PromptTruncatedWarning
    from .sampler import ComposeResult, StepEvent, compose, compose_many
    from .schedulers import SCHEDULERS
    from .settings import Settings
    from .studio import Studio

__all__ = [
    "DEFAULT_MODEL",
    "SCHEDULERS",
    "ComposeResult",
    "Layout",
    "LayoutError",
    "LayoutWarning",
    "ModelError",
    "PromptTruncatedWarning",
    "Region",
    "Settings",
    "StepEvent",
    "Studio",
    "compose",
    "compose_many",
    "fusion_weights",
    "load_pipeline",
    "overlay_regions",
    "read_png_metadata",
    "save_png",
]
