"""Scheduler names users can type (CLI, Studio) mapped to diffusers scheduler classes."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..settings import MAX_STEPS, SCHEDULERS


def make_scheduler(choice, base):
    """A fresh scheduler for one run.

    ``choice`` is ``None`` (a copy of ``base``, the pipeline's own scheduler), a name from
    :data:`SCHEDULERS` (that class, configured from ``base``), or a scheduler instance (a deep
    copy: its config and state). A fresh scheduler per run keeps the caller's untouched, so runs
    never share step state — one instance passed to several runs behaves like its name.
    """
    if choice is None:
        return type(base).from_config(base.config)
    if isinstance(choice, str):
        key = choice.strip().lower()
        if key not in SCHEDULERS:
            raise ValueError(
                f"scheduler={choice!r} is not known; choose one of {', '.join(SCHEDULERS)}"
            )
        import diffusers  # here, not at import: the CLI's --help and the Studio's menus need only the names

        class_name, extra = SCHEDULERS[key]
        return getattr(diffusers, class_name).from_config(base.config, **extra)
    if hasattr(choice, "step") and hasattr(choice, "set_timesteps"):
        return copy.deepcopy(choice)
    raise TypeError(f"scheduler must be a name or a diffusers scheduler, not {type(choice).__name__}")


MIN_STEPS = {"PNDMScheduler": 4}  # fewer make diffusers' PNDM fail deep inside numpy
LCM_ORIGINAL_STEPS = 50  #: LCMScheduler's ``original_inference_steps``: it picks its steps among these


def step_bounds(class_name: str, config: Mapping[str, Any] | None = None) -> tuple[int, int]:
    """The fewest and the most steps a scheduler class runs (``config``: its config, where known).

    At most :data:`MAX_STEPS`, and at most the scheduler's ``num_train_timesteps``; LCM at most its
    ``original_inference_steps`` (50), the schedule it was distilled on. At least 4 for PNDM."""
    config = config or {}
    most = min(MAX_STEPS, _whole(config.get("num_train_timesteps"), MAX_STEPS))
    if class_name == "LCMScheduler":
        most = min(most, _whole(config.get("original_inference_steps"), LCM_ORIGINAL_STEPS))
    return MIN_STEPS.get(class_name, 1), most


def _whole(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else default


def check_steps(scheduler, steps: int) -> None:
    """Refuse step counts a scheduler cannot run (:func:`step_bounds`), naming the scheduler."""
    least, most = step_bounds(type(scheduler).__name__, scheduler.config)
    if steps < least:
        raise ValueError(f"{scheduler_name(scheduler)} needs at least {least} steps (got {steps}); "
                         "use more steps or another scheduler")
    if steps > most:
        raise ValueError(f"num_inference_steps={steps}: {scheduler_name(scheduler)} runs at most {most} steps "
                         "(see mdwidgets.sampling.schedulers.step_bounds); use fewer steps")


def scheduler_name(scheduler) -> str:
    """The short name of a scheduler instance, or its class name if it has none."""
    cls = type(scheduler).__name__
    # Most specific entry first, so "dpm++-karras" wins over "dpm++".
    for name, (class_name, extra) in sorted(SCHEDULERS.items(), key=lambda kv: -len(kv[1][1])):
        if class_name == cls and all(scheduler.config.get(k) == v for k, v in extra.items()):
            return name
    return cls
