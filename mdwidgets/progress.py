"""Progress bars for the command line and sweeps: ``tqdm.auto`` (a terminal bar with rate and ETA,
or a widget in Jupyter), one step bar per render and one cell bar per sweep."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def wanted(flag: bool | None) -> bool:
    """``--progress``/``--no-progress``; unset: bars only when stderr is a terminal, so that logs
    and pipes get the result lines alone."""
    return sys.stderr.isatty() if flag is None else flag


def bar(total: int | None, desc: str, *, enabled: bool, unit: str = "step", **options: Any):
    """A ``tqdm.auto`` bar (a silent one when not ``enabled``)."""
    from tqdm.auto import tqdm  # imported on first use: --help stays fast

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True, **options)


def step_callback(steps) -> Callable[[Any], None]:
    """A :func:`~mdwidgets.compose` ``callback`` that advances ``steps`` once per denoising step.
    Its total comes from the run (image-to-image runs fewer steps than asked); a new run restarts it."""

    def on_step(event) -> None:
        if steps.disable:  # tqdm before 4.60 cannot reset a disabled bar
            return
        if event.step == 0:
            steps.reset(total=event.num_steps)
        steps.update(1)

    return on_step


@contextmanager
def loading_bars(enabled: bool) -> Iterator[None]:
    """diffusers' and transformers' own loading bars ("Loading pipeline components…") only where
    ours are shown; their switches are global, so each is put back as it was."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    was = [(lib, lib.is_progress_bar_enabled()) for lib in (diffusers_logging, transformers_logging)]
    for lib, _ in was:
        lib.enable_progress_bar() if enabled else lib.disable_progress_bar()
    try:
        yield
    finally:
        for lib, on in was:
            lib.enable_progress_bar() if on else lib.disable_progress_bar()
