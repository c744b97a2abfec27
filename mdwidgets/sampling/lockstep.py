"""Run several sampling loops in lock-step so that their UNet rows share calls.

A sampling loop (``sampler._sample``) is a generator: it yields the :class:`UNetRows` it needs
evaluated and is sent back the UNet's output for them. :func:`drive` advances every loop to its
next request, evaluates all requests whose rows have the same shape as one batch (``max_batch``
rows per call), and hands each loop its slice. One loop driven alone is exactly :func:`compose`.
Loops may be at different timesteps (other schedulers, step counts or bootstrap phases): the UNet
then gets one timestep per row.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class UNetRows:
    """What a sampling loop asks the UNet for: ``rows`` inputs at one timestep."""

    sample: torch.Tensor  #: ``(rows, C, h, w)`` in the UNet's dtype
    timestep: torch.Tensor  #: scalar
    context: torch.Tensor  #: ``(rows, tokens, dim)`` prompt embeddings
    added: dict[str, torch.Tensor] | None = None  #: per-row ``added_cond_kwargs`` (SDXL: text_embeds, time_ids)
    timestep_cond: torch.Tensor | None = None  #: ``(rows, dim)`` an LCM UNet's guidance embedding
    #: per-row ``cross_attention_kwargs`` (regional attention's ``region_weights``, :mod:`.regional_attention`)
    attention: dict[str, torch.Tensor] | None = None

    def extras(self) -> dict[str, torch.Tensor]:
        """The per-row conditioning besides the prompt embeddings, by UNet keyword (``added.`` and
        ``cross.`` prefixed: ``added_cond_kwargs`` and ``cross_attention_kwargs``)."""
        extras = {f"added.{k}": v for k, v in (self.added or {}).items()}
        extras.update({f"cross.{k}": v for k, v in (self.attention or {}).items()})
        return extras if self.timestep_cond is None else {**extras, "timestep_cond": self.timestep_cond}


def drive(
    loops: Sequence[Generator[UNetRows, torch.Tensor, Any]],
    unet,
    *,
    max_batch: int | None,
    row_cap: Callable[[int], int | None] | None = None,
) -> list[Any]:
    """Run ``loops`` to the end in lock-step and return what each one returns.

    ``max_batch`` caps the rows per UNet call; without it ``row_cap(latent cells per row)`` may
    cap a batch that concatenates several loops (never below one loop's own rows).
    """
    results: list[Any] = [None] * len(loops)
    pending: dict[int, UNetRows] = {}

    def advance(k: int, output: torch.Tensor | None) -> None:
        try:
            pending[k] = loops[k].send(output)
        except StopIteration as finished:
            results[k] = finished.value
        except Exception as exc:
            if len(loops) > 1:
                _add_note(exc, f"(in run {k} of {len(loops)})")
            raise

    try:
        with torch.inference_mode():  # the loops compute under it too, suspended or not
            for k in range(len(loops)):
                advance(k, None)
            caps: dict[int, int | None] = {}  # decided once per row size, so batches stay stable
            while pending:
                requests, pending = pending, {}
                for group in _same_shape(requests):
                    batch = [requests[k] for k in group]
                    size = max_batch
                    if size is None and len(batch) > 1 and row_cap is not None:
                        pixels = batch[0].sample.shape[-2] * batch[0].sample.shape[-1]
                        if pixels not in caps:
                            caps[pixels] = row_cap(pixels)
                        if caps[pixels] is not None:
                            size = max(caps[pixels], *(len(r.sample) for r in batch))
                    for k, output in zip(group, evaluate(unet, batch, size)):
                        advance(k, output)
    finally:
        for loop in loops:  # after an error: free the other runs now, not at garbage collection
            loop.close()
    return results


def _add_note(exc: BaseException, note: str) -> None:
    """``exc.add_note(note)``; before Python 3.11, the ``__notes__`` list it fills (shown from 3.11 on)."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:
        exc.__notes__ = [*getattr(exc, "__notes__", []), note]


def evaluate(unet, requests: Sequence[UNetRows], max_batch: int | None) -> list[torch.Tensor]:
    """The UNet's output for every request (rows concatenated, ``max_batch`` rows per call)."""
    x = torch.cat([r.sample for r in requests])
    context = torch.cat([r.context for r in requests])
    t = requests[0].timestep
    if any(not torch.equal(r.timestep, t) for r in requests[1:]):
        t = torch.cat([r.timestep.expand(len(r.sample)) for r in requests])  # one timestep per row
    per_request = [r.extras() for r in requests]
    extras = {k: torch.cat([e[k] for e in per_request]) for k in per_request[0]}
    size = max_batch or len(x)
    try:
        out = torch.cat([
            unet(x[s : s + size], t if t.ndim == 0 else t[s : s + size],
                 encoder_hidden_states=context[s : s + size], return_dict=False,
                 **_keywords({k: v[s : s + size] for k, v in extras.items()}))[0]
            for s in range(0, len(x), size)
        ])
    except RuntimeError as exc:  # torch.OutOfMemoryError (torch >= 2.5) is a RuntimeError as well
        if not isinstance(exc, _OUT_OF_MEMORY) and "out of memory" not in str(exc).lower():
            raise
        raise MemoryError(
            f"out of memory running {len(x)} UNet rows of {tuple(x.shape[1:])} "
            f"({size} per call). Try max_batch=1 (slower, much less memory), a smaller canvas, fewer "
            "regions, or pipe.enable_attention_slicing()."
        ) from exc
    return list(out.split([len(r.sample) for r in requests]))


def _keywords(extras: dict[str, torch.Tensor]) -> dict:
    """UNet keywords from flat extras: ``added.*`` ones gathered into ``added_cond_kwargs``, ``cross.*``
    ones into ``cross_attention_kwargs``."""
    keywords: dict = {k: v for k, v in extras.items() if not k.startswith(("added.", "cross."))}
    for prefix, keyword in (("added.", "added_cond_kwargs"), ("cross.", "cross_attention_kwargs")):
        gathered = {k.removeprefix(prefix): v for k, v in extras.items() if k.startswith(prefix)}
        if gathered:
            keywords[keyword] = gathered
    return keywords


_OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)  # the latter before torch 2.5


def _same_shape(requests: dict[int, UNetRows]) -> list[list[int]]:
    """Loop indices grouped by the shape and dtype of their rows (only those can share a call)."""
    groups: dict[tuple, list[int]] = {}
    for k, r in requests.items():
        extras = tuple((name, v.shape[1:]) for name, v in r.extras().items())
        groups.setdefault((r.sample.shape[1:], r.sample.dtype, r.context.shape[1:], extras), []).append(k)
    return list(groups.values())
