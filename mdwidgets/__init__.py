"""mdwidgets: region-based image composition with MultiDiffusion, for notebooks and scripts.

Public API::

    from mdwidgets import Layout, Region, compose, load_pipeline

    pipe = load_pipeline()                       # built-in offline model (or a hub id / folder)
    layout = Layout(128, 128, "a blue background",
                    [Region("a red circle", box=(16, 16, 72, 72))])
    result = compose(pipe, layout, num_inference_steps=25, seed=0)
    result.image.save("out.png")

- :class:`Layout`, :class:`Region` — the composition as data (JSON round trip); ``Region(weight=)`` is a
  region's strength and ``Layout(overlap="average" | "layers")`` says who wins where regions overlap.
- :func:`compose` — the MultiDiffusion sampler; :class:`ComposeResult`, :class:`StepEvent`.
  ``window=`` / ``stride=`` / ``circular=`` turn on sliding windows for panoramas and canvases
  larger than the model (:mod:`mdwidgets.sampling.windows`). ``method="attention"`` / ``"hybrid"`` steer
  regions by masked cross-attention at 2 UNet rows per step for any number of regions
  (:mod:`mdwidgets.sampling.regional_attention`); :func:`mdwidgets.render.figures.compare_methods` shows
  the methods side by side with their cost and adherence.
- :func:`compose_many` — several compositions (:class:`Run`: a layout, its settings and callback)
  sampled together, their UNet rows sharing calls; :func:`mdwidgets.render.figures.compare` uses it
  for comparison grids.
- :func:`fusion_weights` — the per-pixel region weights the sampler uses (both overlap modes; the rules
  are in its docstring).
- :func:`mdwidgets.sampling.reference.plain_multidiffusion` — the paper's algorithm written literally (one
  scheduler per path, step, then average): read it first; ``compose`` is tested equal to it.
- :func:`load_pipeline` — Stable Diffusion 1.x/2.x from the hub, a folder, a file or built-in.
- :class:`Settings` — the one home of the rendering settings (steps, guidance, bootstrap,
  scheduler, seed, eta, windows…) and their defaults: ``compose``'s keyword defaults,
  ``compose(..., settings=)``, ``result.settings`` and PNGs (``Settings.from_dict``).
- :func:`save_png`, :func:`read_png_metadata` — PNGs that carry their layout and settings
  (:mod:`mdwidgets.files`: also ``load_layout_file`` / ``load_layout_bytes`` for a layout JSON
  or an mdwidgets PNG).
- :mod:`mdwidgets.apps.sweep` — render grids from a JSON spec (``python -m mdwidgets sweep``), resumable.
- :class:`Studio` — the notebook panel: draw boxes or paint masks (brush, eraser, ellipse, fill),
  prompt them, generate with a live preview, live mode, undo; made of small widgets in
  :mod:`mdwidgets.studio` (``BoxCanvas``, ``PaintTools``, ``RegionList``, ``RunControls``,
  ``HistoryStrip``, ``Runner``).
- :func:`overlay_regions` — draw a layout's regions over any image.
- Errors: :class:`InputError` (anything a user can fix) with :class:`LayoutError` and
  :class:`SettingsError` under it, :class:`ModelError`; warnings: :class:`LayoutWarning`,
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
    "fusion_weights": "sampling.masks", "DEFAULT_MODEL": "catalog", "ModelError": "catalog",
    "load_pipeline": "pipelines.loading", "overlay_regions": "render.preview",
    "PromptTruncatedWarning": "sampling.prompts", "ComposeResult": "sampling.sampler", "StepEvent": "sampling.sampler",
    "compose": "sampling.sampler", "compose_many": "sampling.sampler", "Run": "sampling.sampler",
    "SCHEDULERS": "settings", "Settings": "settings", "SettingsError": "settings", "InputError": "errors",
    "Studio": "studio",
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
    from .errors import InputError
    from .files import read_png_metadata, save_png
    from .layout import Layout, LayoutError, LayoutWarning, Region
    from .pipelines.loading import load_pipeline
    from .render.preview import overlay_regions
    from .sampling.masks import fusion_weights
    from .sampling.prompts import PromptTruncatedWarning
    from .sampling.sampler import ComposeResult, Run, StepEvent, compose, compose_many
    from .settings import SCHEDULERS, Settings, SettingsError
    from .studio import Studio

__all__ = [
    "DEFAULT_MODEL",
    "SCHEDULERS",
    "ComposeResult",
    "InputError",
    "Layout",
    "LayoutError",
    "LayoutWarning",
    "ModelError",
    "PromptTruncatedWarning",
    "Region",
    "Run",
    "Settings",
    "SettingsError",
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
