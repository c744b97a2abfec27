"""Rendering settings: :class:`Settings` is the one home of every setting and its default.

:func:`~mdwidgets.compose` takes its keyword defaults from it (or a whole ``settings=``), its
``result.settings`` is one as a dict, and the CLI, sweeps and the Studio build one; files (PNG
metadata, sweep sidecars and specs) are read back with :meth:`Settings.from_dict`, which checks
every value first (:func:`check_settings`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import default_bootstrap_steps, default_guidance, default_scheduler, default_steps
from .layout import LayoutError
from .schedulers import MAX_STEPS

RUN_KEYS = ("model", "lora", "device", "dtype")  #: what ``result.settings`` records besides the Settings
#: how regions steer the model (:class:`Settings`, README "Region methods"): per-prompt UNet rows fused per pixel,
#: masked cross-attention over all prompts in one row, or fusion while bootstrapping and attention after
METHODS = ("fusion", "attention", "hybrid")
METHOD_RULE = "one of " + ", ".join(repr(m) for m in METHODS)
_KEYWORDS = {"steps": "num_inference_steps"}  #: field -> compose() keyword, where they differ


@dataclass(frozen=True)
class Settings:
    """How to render a layout. ``None`` means "the default" and is resolved when a run starts.

    Rules:

    - ``steps``, ``guidance_scale`` and ``bootstrap_steps`` ``None``: the model family's own
      (:meth:`resolved`, from :data:`mdwidgets.catalog.FAMILIES`: 25 steps, 4 for Turbo/LCM).
    - ``scheduler`` ``None``: the family's (LCM: ``"lcm"``), else the pipeline's; else a name from
      :data:`mdwidgets.SCHEDULERS` (while
      ``compose(scheduler=<a diffusers scheduler>)`` runs, the instance; results record its name).
    - ``seed`` ``None``: a random one, recorded in ``result.settings``.
    - ``window`` ``None``: one view of the whole canvas; ``"native"`` or a number of latent cells:
      sliding windows moved by ``stride`` cells (``circular``: wrapped left/right; implies windows).
    - ``stride`` is always a number here. ``result.settings`` records ``stride: None`` when the run
      had a single view (the stride did nothing), and :meth:`from_dict` reads ``None`` back as the
      default, so a re-render of such a PNG renders the same.
    - ``steps``: 1 to :data:`~mdwidgets.schedulers.MAX_STEPS` (1000), and at most what the scheduler
      runs (:func:`~mdwidgets.schedulers.step_bounds`: LCM 50).
    - ``eta``: DDIM's eta, for schedulers that take one: a number from 0 (deterministic) to 1 (as much
      fresh noise per step as DDPM); above 1 DDIM's noise term is the square root of a negative number
      (NaN), and below 0 only its absolute value counts. ``max_batch``: a cap on UNet rows per call
      (memory; ``None``: as many as fit).
    - ``method``: one of :data:`METHODS`. ``"fusion"`` (MultiDiffusion): every prompt has its own UNet
      rows, fused per pixel (N + 2 rows per step for N regions, more while bootstrapping).
      ``"attention"``: one conditional and one unconditional row per step whatever N is; every
      cross-attention layer reads all prompts' tokens, each pixel only those of the prompts covering
      it (:mod:`mdwidgets.regional_attention`); ``bootstrap_steps`` is ignored. ``"hybrid"``: fusion
      with bootstrapping for the bootstrapped steps, attention for the rest.
    """

    steps: int | None = None
    guidance_scale: float | None = None
    bootstrap_steps: int | None = None
    scheduler: str | None = None
    seed: int | None = None
    eta: float = 0.0
    window: int | str | None = None
    stride: int = 8
    circular: bool = False
    max_batch: int | None = None
    method: str = "fusion"

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The field names, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str | Path = "settings") -> Settings:
        """Settings from a file's dict (PNG metadata, a sidecar, a sweep cell), checked first.

        The old key ``num_inference_steps`` reads as ``steps``; run metadata (``model``,
        ``device``, ``dtype``) and unknown keys are ignored, so older and newer files stay
        readable; ``None`` values are the defaults. A bad value raises :class:`LayoutError`
        naming ``where`` and the field."""
        data = dict(check_settings(data, where))
        if "num_inference_steps" in data:
            old = data.pop("num_inference_steps")
            if data.get("steps") not in (None, old):
                raise LayoutError(f"{where}: steps={data['steps']!r} and num_inference_steps={old!r} disagree")
            data["steps"] = old if old is not None else data.get("steps")
        return cls(**{k: v for k, v in data.items() if k in cls.names() and v is not None})

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (field names; an unknown one is a ``TypeError``)."""
        return dataclasses.replace(self, **changes)

    def compose_kwargs(self) -> dict[str, Any]:
        """The :func:`~mdwidgets.compose` keywords these settings stand for (``steps`` is
        ``num_inference_steps``)."""
        return {_KEYWORDS.get(name, name): getattr(self, name) for name in self.names()}

    def resolved(self, model: str | None) -> Settings:
        """``None`` steps, guidance, bootstrap and scheduler replaced by the defaults of ``model`` (a family,
        e.g. :func:`mdwidgets.models.model_family`, or a model name): the one place they are resolved,
        from :data:`mdwidgets.catalog.FAMILIES`. The scheduler stays ``None`` (the pipeline's own) where
        the family has none."""
        steps = default_steps(model) if self.steps is None else self.steps
        return self.replace(
            steps=steps,
            guidance_scale=default_guidance(model) if self.guidance_scale is None else self.guidance_scale,
            bootstrap_steps=(default_bootstrap_steps(model, steps) if self.bootstrap_steps is None
                             else self.bootstrap_steps),
            scheduler=default_scheduler(model) if self.scheduler is None else self.scheduler)

    @classmethod
    def from_compose_kwargs(cls, keywords: Mapping[str, Any]) -> Settings:
        """The inverse of :meth:`compose_kwargs` (values are taken as given, not checked)."""
        fields = {keyword: name for name, keyword in _KEYWORDS.items()}
        return cls(**{fields.get(k, k): v for k, v in keywords.items()})


# What each setting in a file must be (None is always allowed: "the default").
_SETTING_KINDS = {
    "model": "text", "lora": "text", "scheduler": "text", "device": "text", "dtype": "text", "circular": "flag",
    "steps": "steps", "num_inference_steps": "steps", "window": "window", "stride": "positive",
    "max_batch": "positive", "bootstrap_steps": "count", "seed": "count", "guidance_scale": "number",
    "eta": "eta", "method": "method",
}
#: what ``eta`` must be (:class:`Settings`), in every message that refuses one
ETA_RULE = "a number from 0 to 1 (DDIM's eta: 0 deterministic, 1 as much fresh noise as DDPM)"
STEPS_RULE = f"a whole number from 1 to {MAX_STEPS}"
_KIND_RULES = {
    "text": ("a string", lambda v: isinstance(v, str)),
    "flag": ("true or false", lambda v: isinstance(v, bool)),
    "positive": ("a whole number >= 1", lambda v: type(v) is int and 1 <= v < 2**63),
    "steps": (STEPS_RULE, lambda v: type(v) is int and 1 <= v <= MAX_STEPS),
    "eta": (ETA_RULE, lambda v: type(v) in (int, float) and 0 <= v <= 1),
    "window": ("a whole number >= 1 or 'native'", lambda v: v == "native" or (type(v) is int and 1 <= v < 2**63)),
    "count": ("a whole number >= 0", lambda v: type(v) is int and 0 <= v < 2**63),
    "method": (METHOD_RULE, lambda v: v in METHODS),
    "number": ("a finite number >= 0", lambda v: type(v) in (int, float) and math.isfinite(v) and v >= 0),
}


def check_settings(settings: Any, where: str | Path = "settings") -> dict[str, Any]:
    """Settings from a file, checked before anything uses them (unknown keys are kept)."""
    if not isinstance(settings, dict):
        raise LayoutError(f"{where}: settings must be a JSON object, not {type(settings).__name__}")
    for key, value in settings.items():
        problem = setting_problem(key, value)
        if problem:
            raise LayoutError(f"{where}: setting {key}={value!r:.60} must be {problem}")
    return settings


def setting_problem(key: str, value: Any) -> str | None:
    """What a setting must be, if ``value`` is not that (``None`` is always fine; unknown keys too)."""
    kind = _SETTING_KINDS.get(key)
    if kind is None or value is None:
        return None
    description, valid = _KIND_RULES[kind]
    return None if valid(value) else description
