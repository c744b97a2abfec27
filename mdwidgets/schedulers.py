"""Scheduler names users can type (CLI, Studio) mapped to diffusers scheduler classes."""

from __future__ import annotations

import copy

# name -> (diffusers class, extra config)
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


def check_steps(scheduler, steps: int) -> None:
    """Refuse step counts a scheduler cannot run, naming the scheduler."""
    least = MIN_STEPS.get(type(scheduler).__name__, 1)
    if steps < least:
        raise ValueError(f"{scheduler_name(scheduler)} needs at least {least} steps (got {steps}); "
                         "use more steps or another scheduler")


def scheduler_name(scheduler) -> str:
    """The short name of a scheduler instance, or its class name if it has none."""
    cls = type(scheduler).__name__
    # Most specific entry first, so "dpm++-karras" wins over "dpm++".
    for name, (class_name, extra) in sorted(SCHEDULERS.items(), key=lambda kv: -len(kv[1][1])):
        if class_name == cls and all(scheduler.config.get(k) == v for k, v in extra.items()):
            return name
    return cls
