"""The models mdwidgets knows by name, and what each one renders best with. No torch here.

Names and per-model defaults (guidance, bootstrap share, canvas, the examples it draws) are read
by the settings, the CLI and the Studio without loading a model — or torch: importing this is
instant. :mod:`mdwidgets.models` loads the models themselves.
"""

from __future__ import annotations

from pathlib import Path

BUILTIN_PREFIX = "builtin:"
TINY_RANDOM = "builtin:tiny-random"
SHAPES = "builtin:shapes"
SHAPES_DIR = Path(__file__).parent / "models" / "shapes"  # the shipped weights
DEFAULT_MODEL = SHAPES
BUILTIN_MODELS = (SHAPES, TINY_RANDOM)
DEFAULT_GUIDANCE = 7.5  # Stable Diffusion's usual classifier-free guidance
# Models that do better at another scale (builtin:shapes: see docs/model_card.md, "Guidance").
MODEL_GUIDANCE = {SHAPES: 5.0}
DEFAULT_BOOTSTRAP_FRACTION = 0.2  # the paper bootstraps for ~20% of the steps
# builtin:shapes keeps objects in their boxes only while it does not yet see the background
# around them: 24 random layouts, 25 steps, box IoU 0.19 / 0.23 / 0.29 / 0.36 at 20/40/60/100%.
MODEL_BOOTSTRAP_FRACTION = {SHAPES: 0.6}
DEFAULT_CANVAS = 256  # px, a new layout's side when the model's own is not known
MODEL_CANVAS = {SHAPES: 128}  # builtin:shapes is trained at 128×128 (a 16×16 latent)
MODEL_EXAMPLES = {SHAPES: ("shapes", "panorama")}  # the example layouts a model draws (others: all)


class ModelError(RuntimeError):
    """A model could not be loaded or is not supported; the message says what to do."""


def default_canvas(model: str | None) -> int:
    """The side (px) of a new layout's square canvas: the model's native size (shapes: 128) or 256."""
    return MODEL_CANVAS.get(model, DEFAULT_CANVAS)


def default_bootstrap_steps(model: str | None, steps: int) -> int:
    """Bootstrapped steps of ``steps`` when none are given: 20% (the paper's), 60% for builtin:shapes."""
    return round(MODEL_BOOTSTRAP_FRACTION.get(model, DEFAULT_BOOTSTRAP_FRACTION) * steps)


def default_guidance(model: str | None) -> float:
    """The guidance scale used when none is given: the model's own (built-in shapes: 5) or 7.5."""
    return MODEL_GUIDANCE.get(model, DEFAULT_GUIDANCE)
