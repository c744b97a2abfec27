"""The models mdwidgets knows, by name and by family, and what each renders best with. No torch here.

Rules:

- A *family* is what a checkpoint is, detected from its components when it loads
  (:func:`mdwidgets.pipelines.facts.model_family`): ``sd`` (Stable Diffusion 1.x/2.x), ``sdxl``, their
  few-step variants ``sd-turbo``, ``sdxl-turbo`` (adversarially distilled: no guidance, 1–4 steps),
  ``lcm``, ``sdxl-lcm`` (latent consistency: a distilled UNet, or an LCM-LoRA), and the built-in ones.
- Every per-model default (steps, guidance, bootstrapped share, scheduler, canvas) lives in one table,
  :data:`FAMILIES`; :func:`defaults` looks a family up, or guesses it from a model name where no
  pipeline is loaded yet (the CLI's help, a Studio before its model loads).
- Guidance ``<= 1`` runs no unconditional UNet rows at all (one row per prompt per step). LCM UNets
  with a guidance embedding take the guidance as an input instead (still one row per prompt).
- Few-step families bootstrap their **first** step (of 2–8): it removes most of the noise and fixes
  where things go, so it is the step that must see tight boxes; the later steps blend the seams.
  A 1-step run has no later step to blend, so it is not bootstrapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BUILTIN_PREFIX = "builtin:"
TINY_RANDOM = "builtin:tiny-random"
SHAPES = "builtin:shapes"
SHAPES_DIR = Path(__file__).parent / "models" / "shapes"  # the shipped weights
DEFAULT_MODEL = SHAPES
BUILTIN_MODELS = (SHAPES, TINY_RANDOM)
MODEL_EXAMPLES = {SHAPES: ("shapes", "panorama")}  # the example layouts a model draws (others: all)


@dataclass(frozen=True)
class Family:
    """What a family of checkpoints renders best with."""

    steps: int
    guidance: float  #: classifier-free guidance; <= 1: none (no unconditional rows)
    bootstrap_share: float  #: share of the steps that are bootstrapped
    scheduler: str | None  #: a name from mdwidgets.SCHEDULERS; None: the checkpoint's own
    canvas: int  #: side (px) of a new square layout
    few_step: bool = False  #: bootstraps exactly its first step (see the module's rules)


FAMILIES: dict[str, Family] = {
    # builtin:shapes: 8 of 25 steps bootstrapped, picked by "object right" (colour, shape and inside its box,
    # the judge checked against objects labelled by eye; docs/model_card.md, Compositions). Share of objects
    # right at 0/5/8/10/15/20 of 25: 96 random layouts .43/.45/.47/.51/.53/.53, the quick-start layout
    # (16 seeds) .92/.94/.96/.85/.60/.40, the panorama (4) 1/.92/.83/.75/.75/.67. More bootstrapping
    # finds more objects in random layouts (10-20 tie there) but fills every box: from 10 on the quick-start's
    # circle turns into a rounded square (by eye: seed 4 at 10, all seeds at 15-20); 8 keeps seeds 0-4 right.
    # Guidance 7.5 at 8: +.01 (within error), background .94 -> .91, so guidance stays 5.
    "shapes": Family(25, 5.0, 0.32, None, 128),
    "tiny-random": Family(25, 7.5, 0.2, None, 256),
    # the paper bootstraps ~20% of the steps (the official code 40%; fewer blends objects better)
    "sd": Family(25, 7.5, 0.2, None, 512),
    "sdxl": Family(25, 5.0, 0.2, None, 1024),  # diffusers' SDXL default guidance
    "sd-turbo": Family(4, 0.0, 0.25, None, 512, few_step=True),  # Turbo checkpoints ship their scheduler
    "sdxl-turbo": Family(4, 0.0, 0.25, None, 512, few_step=True),  # trained at 512 px
    "lcm": Family(4, 1.0, 0.25, "lcm", 512, few_step=True),  # an LCM-LoRA: no guidance
    "sdxl-lcm": Family(4, 1.0, 0.25, "lcm", 1024, few_step=True),
    # LCM-distilled UNets embed the guidance (diffusers' LatentConsistencyModelPipeline default 8.5)
    "lcm-distilled": Family(4, 8.5, 0.25, "lcm", 512, few_step=True),
    "sdxl-lcm-distilled": Family(4, 8.0, 0.25, "lcm", 1024, few_step=True),  # latent-consistency/lcm-sdxl's
}
BUILTIN_FAMILIES = {SHAPES: "shapes", TINY_RANDOM: "tiny-random"}
DEFAULT_GUIDANCE = FAMILIES["sd"].guidance  # Stable Diffusion's usual classifier-free guidance
SUPPORTED = "Stable Diffusion 1.x/2.x and SDXL, with their Turbo and LCM variants"


class ModelError(RuntimeError):
    """A model could not be loaded or is not supported; the message says what to do."""


def family_from_name(name: str | None) -> str:
    """The family a model name suggests: a family's own name, a built-in name, or a guess from words
    in a hub id or path ("turbo", "lcm", "xl"); ``sd`` otherwise. A loaded pipeline's family comes
    from its components instead (:func:`mdwidgets.pipelines.facts.model_family`)."""
    if name in FAMILIES:
        return name
    if name in BUILTIN_FAMILIES:
        return BUILTIN_FAMILIES[name]
    words = (name or "").lower()
    return few_step_variant("sdxl" if "xl" in words else "sd", words)


def few_step_variant(base: str, words: str) -> str:
    """``base`` (``sd`` or ``sdxl``) as its Turbo or LCM variant where ``words`` (a model name, a LoRA,
    a scheduler's class name) say "turbo" or "lcm"; Turbo and LCM weights look like their base's."""
    words = words.lower()
    if "turbo" in words:
        return f"{base}-turbo"
    if "lcm" in words:
        return "sdxl-lcm" if base == "sdxl" else "lcm"
    return base


def defaults(model: str | None) -> Family:
    """The defaults of a family, or of a model name's family (:func:`family_from_name`)."""
    return FAMILIES[family_from_name(model)]


def default_canvas(model: str | None) -> int:
    """The side (px) of a new layout's square canvas: the family's (shapes: 128, SD: 512, SDXL: 1024)."""
    return defaults(model).canvas


def default_steps(model: str | None) -> int:
    """Denoising steps when none are given: 25, 4 for few-step (Turbo, LCM) families."""
    return defaults(model).steps


def default_bootstrap_steps(model: str | None, steps: int) -> int:
    """Bootstrapped steps of ``steps`` when none are given: the family's share (the paper's 20%,
    32% for builtin:shapes: 8 of 25); few-step families: their first step (none in a 1-step run)."""
    family = defaults(model)
    if family.few_step:
        return 1 if steps > 1 else 0
    return round(family.bootstrap_share * steps)


def default_guidance(model: str | None) -> float:
    """The guidance scale used when none is given: the family's (shapes 5, SD 7.5, SDXL 5, Turbo 0,
    LCM-LoRA 1, LCM-distilled 8.5)."""
    return defaults(model).guidance


def default_scheduler(model: str | None) -> str | None:
    """The scheduler used when none is given: the family's (LCM: ``"lcm"``), else the checkpoint's own."""
    return defaults(model).scheduler
