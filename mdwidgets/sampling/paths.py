"""The diffusion paths of one run and the UNet rows that serve them.

A *path* is one (window, prompt) pair: a prompt denoising one window of the canvas (the whole
canvas when there are no windows). A prompt whose weight is zero in a window has no path there.
Each path has a conditional UNet row (its prompt on its input cropped to its window) and, when
guided, an unconditional row (same crop, its negative prompt); paths that share the input crop
and the negative prompt share that unconditional row. After bootstrapping every path reads the
shared latent (source 0); during it, foreground ``p`` reads its own bootstrapped latent (source ``p``).

:meth:`Paths.fuse` is the paper's Eq. 5 over all paths: each path's weight on a cell is its
prompt's weight ``W_i`` there divided by the number of windows covering the cell, so the weights
of every cell sum to 1.

Rows carry what else the UNet is conditioned on (:mod:`mdwidgets.sampling.conditioning`): SDXL's pooled
embedding and per-window time ids, an LCM UNet's guidance embedding. Unguided paths (guidance
``<= 1``) and LCM UNets, which take the guidance as an input, have no unconditional row at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..layout import Layout
from .conditioning import guidance_embedding
from .lockstep import UNetRows
from .prompts import PromptEmbeds


class PromptPath(NamedTuple):
    """One diffusion path: a prompt denoising one window (named apart from ``pathlib.Path``)."""

    window: int  #: index into the run's windows
    prompt: int  #: 0 the background, 1…N the regions


class Row(NamedTuple):
    source: int  #: input latent: 0 the shared one, ``p`` foreground ``p``'s bootstrapped one
    window: int  #: index into the run's windows
    text: int  #: index into :attr:`Paths.texts` (a prompt or a negative prompt)


@dataclass
class _RowPlan:
    """One row plan (shared or bootstrapped inputs) as tensors on the run's device."""

    sources: torch.Tensor  #: (rows,) input latent of each row
    cells: torch.Tensor  #: (rows, window cells) canvas cells each row reads
    context: torch.Tensor  #: (rows, tokens, dim) prompt embedding of each row
    uncond_row: torch.Tensor  #: (paths,) each path's unconditional row (its own row when unguided)
    scale: torch.Tensor  #: (paths, 1, 1) guidance scale of each path (1 when unguided)
    added: dict[str, torch.Tensor] | None  #: SDXL's per-row text_embeds and time_ids
    timestep_cond: torch.Tensor | None  #: (rows, dim) an LCM UNet's guidance embedding


class Paths:
    """The paths of a run — (window, prompt) pairs — their UNet rows, guidance and fusion."""

    def __init__(self, layout: Layout, guidance_scale: float, weights: torch.Tensor, windows, grid_width: int,
                 embedded_guidance: bool = False):
        negatives = [layout.negative_prompt] + [
            layout.negative_prompt if r.negative_prompt is None else r.negative_prompt for r in layout.regions
        ]
        self.guidance = [guidance_scale] + [
            guidance_scale if r.guidance_scale is None else r.guidance_scale for r in layout.regions
        ]
        distinct = list(dict.fromkeys(negatives))
        self.texts = layout.prompts + distinct  #: what the text encoder embeds: prompts, then negatives
        self.first_negative = len(layout.prompts)
        self.embedded_guidance = embedded_guidance  #: the UNet takes the guidance as an input (LCM)
        self.negative_text = [len(layout.prompts) + distinct.index(n) for n in negatives]

        flat_weights = weights.flatten(1).cpu()  # (N + 1, cells)
        window_cells = [w.cells(grid_width) for w in windows]
        coverage = torch.zeros(flat_weights.shape[1]).index_add_(
            0, torch.cat(window_cells), torch.ones(sum(len(c) for c in window_cells)))
        self._grid, self._canvas_cells = tuple(weights.shape[-2:]), flat_weights.shape[1]
        self._window_cells = torch.stack(window_cells)
        self.window_shape = (windows[0].height, windows[0].width)
        self.paths = [PromptPath(k, p) for k, c in enumerate(window_cells)
                      for p in range(len(layout.prompts)) if flat_weights[p, c].any()]
        self.cells = self._window_cells[[path.window for path in self.paths]]  # (paths, window cells)
        # A path's share of a cell: its prompt's weight there over the number of windows covering it.
        self.path_weights = torch.stack([flat_weights[p, window_cells[k]] / coverage[window_cells[k]]
                                         for k, p in self.paths])[:, None]
        self.prompt_of_path = torch.tensor([path.prompt for path in self.paths])
        self._plans = {shared: self._plan(shared) for shared in (True, False)}

    def _plan(self, shared: bool) -> tuple[list[Row], list[int]]:
        rows = [Row(0 if shared else p, k, p) for k, p in self.paths]  # conditional rows, one per path
        uncond_rows: dict[Row, int] = {}
        uncond_row = []
        for v, (k, p) in enumerate(self.paths):
            if self.guidance[p] <= 1 or self.embedded_guidance:
                uncond_row.append(v)  # unguided: the conditional row alone
                continue
            key = Row(rows[v].source, k, self.negative_text[p])
            if key not in uncond_rows:
                uncond_rows[key] = len(rows)
                rows.append(key)
            uncond_row.append(uncond_rows[key])
        return rows, uncond_row

    @property
    def pixels(self) -> int:
        """Latent cells per UNet row (one window)."""
        return self.window_shape[0] * self.window_shape[1]

    def rows(self, shared: bool) -> int:
        """UNet rows per evaluation."""
        return len(self._plans[shared][0])

    def bind(self, prompts: PromptEmbeds, time_ids: torch.Tensor | None = None, guidance_dim: int | None = None):
        """Move both row plans to the prompts' device as tensors, with each row's conditioning:
        prompt embedding; SDXL's pooled embedding and its window's ``time_ids`` (``(windows, 6)``);
        an LCM UNet's guidance embedding of ``guidance_dim``."""
        device, dtype = prompts.embeds.device, prompts.embeds.dtype
        self.cells, self.path_weights = self.cells.to(device), self.path_weights.to(device)
        self.prompt_of_path, window_cells = self.prompt_of_path.to(device), self._window_cells.to(device)
        guided = [g if (g := self.guidance[p]) > 1 and not self.embedded_guidance else 1.0 for _, p in self.paths]
        scale = torch.tensor(guided, device=device)
        w = None if guidance_dim is None else guidance_embedding(  # one row per path: guidance is an input
            torch.tensor([self.guidance[p] for _, p in self.paths]), guidance_dim).to(device, dtype)
        self._bound = {}
        for shared, (rows, uncond_row) in self._plans.items():
            sources, windows, texts = (torch.tensor(column, device=device) for column in zip(*rows))
            added = None if time_ids is None else {"text_embeds": prompts.pooled[texts],
                                                   "time_ids": time_ids.to(device, dtype)[windows]}
            self._bound[shared] = _RowPlan(sources, window_cells[windows], prompts.embeds[texts],
                                           torch.tensor(uncond_row, device=device), scale[:, None, None], added, w)

    def unet_rows(self, model_in: torch.Tensor, t, *, shared: bool, dtype: torch.dtype) -> UNetRows:
        """The UNet rows of one evaluation: each row's input crop and prompt embedding."""
        plan, channels = self._bound[shared], model_in.shape[1]
        x = model_in.flatten(2).index_select(0, plan.sources).gather(2, plan.cells[:, None].expand(-1, channels, -1))
        return UNetRows(x.view(len(plan.sources), channels, *self.window_shape).to(dtype), t, plan.context,
                        plan.added, plan.timestep_cond)

    def row_windows(self, shared: bool) -> list[int]:
        """The window each UNet row of an evaluation reads."""
        return [row.window for row in self._plans[shared][0]]

    def guide(self, out: torch.Tensor, *, shared: bool, scale: torch.Tensor | None = None) -> torch.Tensor:
        """Each path's guided model output ``(paths, C, window cells)`` in float32; ``scale`` (broadcast to
        ``(paths, 1, window cells)``) replaces the paths' guidance scales, e.g. one per cell."""
        plan, out = self._bound[shared], out.float().flatten(2)
        cond, uncond = out[: len(self.paths)], out.index_select(0, plan.uncond_row)
        scale = plan.scale if scale is None else scale
        return uncond + scale * (cond - uncond)  # classifier-free guidance (scale 1: the prompt alone)

    def row_inputs(self, rows: UNetRows) -> torch.Tensor:
        """Each path's own (scaled) input ``(paths, C, window cells)``, as its conditional row read it."""
        return rows.sample[: len(self.paths)].float().flatten(2)

    def fuse(self, outputs: torch.Tensor) -> torch.Tensor:
        """Eq. 5 over paths: Σ_paths weight × output, scattered back onto the canvas ``(1, C, h, w)``."""
        channels = outputs.shape[1]
        weighted = (outputs * self.path_weights).transpose(0, 1).reshape(channels, -1)
        fused = outputs.new_zeros(channels, self._canvas_cells).index_add_(1, self.cells.flatten(), weighted)
        return fused.view(1, channels, *self._grid)

    def prompt_x0(self, path_x0: torch.Tensor, fused_x0: torch.Tensor) -> torch.Tensor:
        """Each prompt's own x0 ``(N + 1, C, h, w)``: the mean over its windows, the fused x0 elsewhere."""
        prompts, channels = len(self.guidance), path_x0.shape[1]
        index = (self.prompt_of_path[:, None] * self._canvas_cells + self.cells).flatten()
        total = path_x0.new_zeros(channels, prompts * self._canvas_cells).index_add_(
            1, index, path_x0.transpose(0, 1).reshape(channels, -1))
        count = path_x0.new_zeros(prompts * self._canvas_cells).index_add_(0, index, path_x0.new_ones(len(index)))
        mean = (total / count.clamp(min=1)).view(channels, prompts, *self._grid).transpose(0, 1)
        return torch.where(count.view(prompts, 1, *self._grid) > 0, mean, fused_x0)
