"""Rendering settings: :class:`Settings` is the one home of every setting and its default.

:func:`~mdwidgets.compose` takes its keyword defaults from it (or a whole ``settings=``), its
``result.settings`` is one as a dict, and the CLI, sweeps and the Studio build one; files (PNG
metadata, sweep sidecars and specs) are read back with :meth:`Settings.from_dict`, which checks
every value first (:func:`check_settings`).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import default_bootstrap_steps, default_guidance, default_scheduler, default_steps
from .errors import InputError

#: Scheduler names users can type (CLI, Studio) -> (diffusers class, extra config)
SCHEDULERS: dict[str, tuple[str, dict]] = {
    "ddim": ("DDIMScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler-a": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpm++": ("DPMSolverMultistepScheduler", {}),
    "dpm++-karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}


#: The most steps of any run: the training timesteps of every SD 1.x/2.x and SDXL checkpoint. Schedulers that
#: step through training timesteps (DDIM, DDPM, PNDM, LCM) cannot run more; the Euler family and the
#: multistep solvers would interpolate more noise levels between the same 1000, allocating their tables
#: (``--steps 1000000000``: 7.45 GiB) before the first step for nothing a picture shows.
MAX_STEPS = 1000
RUN_KEYS = ("model", "lora", "device", "dtype")  #: what ``result.settings`` records besides the Settings
#: how regions steer the model (:class:`Settings`, README "Region methods"): per-prompt UNet rows fused per pixel,
#: masked cross-attention over all prompts in one row, or fusion while bootstrapping and attention after
METHODS = ("fusion", "attention", "hybrid")
METHOD_RULE = "one of " + ", ".join(repr(m) for m in METHODS)
_KEYWORDS = {"steps": "num_inference_steps"}  #: field -> compose() keyword, where they differ (diffusers' name)


class SettingsError(InputError):
    """A setting with a value it cannot take: the message names the setting, what it must be and where it
    came from."""


@dataclass(frozen=True)
class Settings:
    """How to render a layout. ``None`` means "the default" and is resolved when a run starts.

    A Settings checks itself when made: a value it cannot take raises :class:`SettingsError` naming
    the setting and what it must be (:data:`RULES`, the one home of these rules; files, the CLI,
    sweeps and the Studio all use them). Rules:

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
    - ``steps``: 1 to :data:`MAX_STEPS` (1000), and at most what the scheduler
      runs (:func:`~mdwidgets.sampling.schedulers.step_bounds`: LCM 50).
    - ``eta``: DDIM's eta, for schedulers that take one: a number from 0 (deterministic) to 1 (as much
      fresh noise per step as DDPM); above 1 DDIM's noise term is the square root of a negative number
      (NaN), and below 0 only its absolute value counts. ``max_batch``: a cap on UNet rows per call
      (memory; ``None``: as many as fit).
    - ``method``: one of :data:`METHODS`. ``"fusion"`` (MultiDiffusion): every prompt has its own UNet
      rows, fused per pixel (N + 2 rows per step for N regions, more while bootstrapping).
      ``"attention"``: one conditional and one unconditional row per step whatever N is; every
      cross-attention layer reads all prompts' tokens, each pixel only those of the prompts covering
      it (:mod:`mdwidgets.sampling.regional_attention`); ``bootstrap_steps`` is ignored. ``"hybrid"``: fusion
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

    def __post_init__(self) -> None:
        for name in self.names():
            value = getattr(self, name)
            problem = "given" if value is None and name in _NOT_NONE else setting_problem(name, value)
            if problem:
                raise SettingsError(f"{name}={value!r:.60} must be {RULES[name][0]}")
        if None not in (self.steps, self.bootstrap_steps) and self.bootstrap_steps > self.steps:
            raise SettingsError(f"bootstrap_steps={self.bootstrap_steps} must be between 0 and steps={self.steps}")

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
        readable; ``None`` values are the defaults. A bad value raises :class:`SettingsError`
        naming ``where`` and the field."""
        data = dict(check_settings(data, where))
        if "num_inference_steps" in data:
            old = data.pop("num_inference_steps")
            if data.get("steps") not in (None, old):
                raise SettingsError(f"{where}: steps={data['steps']!r} and num_inference_steps={old!r} disagree")
            data["steps"] = old if old is not None else data.get("steps")
        try:
            return cls(**{k: v for k, v in data.items() if k in cls.names() and v is not None})
        except SettingsError as exc:
            raise SettingsError(f"{where}: {exc}") from None

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (field names; an unknown one is a ``TypeError``)."""
        return dataclasses.replace(self, **changes)

    def resolved(self, model: str | None) -> Settings:
        """``None`` steps, guidance, bootstrap and scheduler replaced by the defaults of ``model`` (a family,
        e.g. :func:`mdwidgets.pipelines.facts.model_family`, or a model name): the one place they are resolved,
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
    def from_keywords(cls, **keywords: Any) -> Settings:
        """Settings from :func:`~mdwidgets.compose`'s keywords (``num_inference_steps`` is ``steps``): the one
        place the two spellings meet."""
        fields = {keyword: name for name, keyword in _KEYWORDS.items()}
        try:
            return cls(**{fields.get(k, k): v for k, v in keywords.items()})
        except SettingsError as exc:  # in the words the caller used
            message = str(exc)
            for name, keyword in _KEYWORDS.items():
                message = re.sub(rf"\b{name}=", f"{keyword}=", message)
            raise SettingsError(message) from None

    @classmethod
    def keywords(cls) -> tuple[str, ...]:
        """The :func:`~mdwidgets.compose` keywords that stand for the fields, in order."""
        return tuple(_KEYWORDS.get(name, name) for name in cls.names())


def _whole(v: Any, least: int) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and least <= v < 2**63


def _number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _scheduler(v: Any) -> bool:  # a name, or (while compose runs with one) a diffusers scheduler
    return isinstance(v, str) or (hasattr(v, "step") and hasattr(v, "set_timesteps"))


#: what ``eta`` must be (:class:`Settings`), in every message that refuses one
ETA_RULE = "a number from 0 to 1 (DDIM's eta: 0 deterministic, 1 as much fresh noise as DDPM)"
STEPS_RULE = f"a whole number from 1 to {MAX_STEPS}"
#: What each setting must be (``None`` is always allowed: "the default", except where a field has a value
#: default) and the test of it; run metadata in files (model, lora, device, dtype) too. The one home of the rules.
RULES: dict[str, tuple[str, Any]] = {
    "steps": (STEPS_RULE, lambda v: _whole(v, 1) and v <= MAX_STEPS),
    "guidance_scale": ("a finite number >= 0", _number),  # 1 or less: unguided
    "bootstrap_steps": ("a whole number >= 0", lambda v: _whole(v, 0)),
    "scheduler": (f"a scheduler name ({', '.join(SCHEDULERS)}) or a diffusers scheduler", _scheduler),
    "seed": ("a whole number >= 0", lambda v: _whole(v, 0)),
    "eta": (ETA_RULE, lambda v: _number(v) and v <= 1),
    "window": ("a whole number >= 1 or 'native'", lambda v: v == "native" or _whole(v, 1)),
    "stride": ("a whole number >= 1", lambda v: _whole(v, 1)),
    "circular": ("true or false", lambda v: isinstance(v, bool)),
    "max_batch": ("a whole number >= 1", lambda v: _whole(v, 1)),
    "method": (METHOD_RULE, lambda v: v in METHODS),
    **{key: ("a string", lambda v: isinstance(v, str)) for key in RUN_KEYS},
}
_ALIASES = {"num_inference_steps": "steps"}  # older files' key
_NOT_NONE = ("eta", "stride", "circular", "method")  # fields whose default is a value, not None


def check_settings(settings: Any, where: str | Path = "settings") -> dict[str, Any]:
    """Settings from a file, checked before anything uses them (unknown keys are kept)."""
    if not isinstance(settings, dict):
        raise SettingsError(f"{where}: settings must be a JSON object, not {type(settings).__name__}")
    for key, value in settings.items():
        problem = setting_problem(key, value)
        if problem:
            raise SettingsError(f"{where}: setting {key}={value!r:.60} must be {problem}")
    return settings


def setting_problem(key: str, value: Any) -> str | None:
    """What a setting must be, if ``value`` is not that (``None`` is always fine; unknown keys too)."""
    rule = RULES.get(_ALIASES.get(key, key))
    if rule is None or value is None:
        return None
    description, valid = rule
    return None if valid(value) else description
