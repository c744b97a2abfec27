"""Regional cross-attention: every region's prompt in one UNet row, each pixel reading only its own prompts.

``compose(method="attention")`` (and ``"hybrid"`` after bootstrapping) uses this instead of one UNet
row per prompt:

- **One row per guidance branch.** The conditional row's text is every prompt's token embeddings
  concatenated along the token axis, background first (``(N + 1) × 77`` tokens on Stable Diffusion);
  the unconditional row's is every prompt's negative prompt, in the same order. So a step costs one
  conditional and one unconditional row whatever N is (one row unguided), per window.
- **Masked cross-attention.** :class:`RegionalAttnProcessor` wraps each of the UNet's own attention
  processors for the run. In a cross-attention layer it turns the rows' region weights (the fusion
  weights :func:`mdwidgets.sampling.masks.fusion_weights`, cropped to each row's window) into a bias on the
  attention logits: ``log W_p(q)`` on every token of prompt ``p`` for latent position ``q``, the
  weights average-pooled to the layer's resolution. Where ``W_p = 0`` the bias is ``-inf``: the
  position gives that prompt's tokens exactly zero attention. Then it calls the wrapped processor
  with that bias as its ``attention_mask``, so the attention itself is diffusers' own (SDPA, LoRA
  layers, attention slicing keep working). Self-attention and rows without region weights go to
  the wrapped processor unchanged.
- **Why a log bias** (rather than a hard 0/1 mask, or scaling the logits): adding ``log W_p`` to
  the logits of prompt ``p`` multiplies its tokens' unnormalised attention by ``W_p``, so the output
  is the mixture ``Σ_p W_p Z_p out_p / Σ_p W_p Z_p`` of each prompt's own attention output
  ``out_p`` (``Z_p``: its softmax normaliser). Hard regions (weights 0 or 1) become exactly "attend
  only to the covering prompts"; soft edges (``feather``) and pooled cells half inside a region
  fade a prompt's share smoothly instead of switching it on and off; and prompts that agree give
  the same output as one copy (a region over the whole canvas with the background's prompt renders
  the plain picture). Scaling logits would change each prompt's attention pattern instead.
- **Guidance** per region is a per-pixel scale: ``uncond + Σ_p W_p g_p · (cond - uncond)``.
- **SDXL**: the pooled text embedding and time ids of both rows are the background prompt's (and
  its negative's). Windows (panoramas): each window's rows carry that window's weights; windows
  are averaged as in fusion.

Each prompt has no prediction of its own here: ``region_x0`` events show the fused x0 for every prompt.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from ..layout import Layout
from .lockstep import UNetRows
from .paths import Paths
from .prompts import PromptEmbeds

REGION_KEYWORD = "region_weights"  #: the ``cross_attention_kwargs`` key of a row's ``(P, h, w)`` weights


def layer_shape(grid: tuple[int, int], length: int) -> tuple[int, int]:
    """The ``(h, w)`` of an attention layer whose sequence has ``length`` positions, for a latent ``grid``:
    the UNet halves the grid per level, rounding up (stride-2 convolutions with padding 1)."""
    h, w = grid
    while h * w > length:
        h, w = -(-h // 2), -(-w // 2)
    if h * w != length:
        raise ValueError(f"an attention layer of {length} positions matches no level of a {grid[0]}x{grid[1]} "
                         "latent (regional attention needs a UNet that halves the grid per level)")
    return h, w


def region_bias(weights: torch.Tensor, length: int, tokens: int) -> torch.Tensor:
    """The attention-logit bias ``(rows, length, P × tokens)`` of region weights ``(rows, P, h, w)``:
    ``log W_p`` (``-inf`` where 0) of each position at the layer's resolution, on each of prompt
    ``p``'s ``tokens`` tokens."""
    h, w = layer_shape(tuple(weights.shape[-2:]), length)
    weights = weights.float()
    if (h, w) != tuple(weights.shape[-2:]):
        weights = F.adaptive_avg_pool2d(weights, (h, w))  # each layer cell: its share of each prompt
    return weights.flatten(2).transpose(1, 2).log().repeat_interleave(tokens, dim=2)


class RegionalAttnProcessor:
    """Wraps one attention processor: cross-attention calls with ``region_weights`` get the regional bias
    as their attention mask; every other call goes to the wrapped processor as it came."""

    def __init__(self, wrapped) -> None:
        self.wrapped = wrapped

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, region_weights=None,
                 **kwargs):
        if region_weights is not None and encoder_hidden_states is not None:
            if attention_mask is not None:
                raise ValueError("regional attention cannot combine its region mask with an encoder attention mask")
            tokens, prompts = encoder_hidden_states.shape[1], region_weights.shape[1]
            if tokens % prompts:
                raise ValueError(f"{tokens} text tokens do not split into {prompts} prompts' embeddings")
            length = hidden_states.shape[1] if hidden_states.ndim == 3 else hidden_states[0, 0].numel()
            attention_mask = region_bias(region_weights, length, tokens // prompts).to(hidden_states.dtype)
        return self.wrapped(attn, hidden_states, encoder_hidden_states=encoder_hidden_states,
                            attention_mask=attention_mask, **kwargs)


_installed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # unet -> [users, its own processors]
_lock = threading.Lock()


@contextmanager
def regional_processors(unet) -> Iterator[None]:
    """Wrap ``unet``'s attention processors in :class:`RegionalAttnProcessor` while the block runs, and put
    its own processors back after (also after an error or a cancelled run). Nested and concurrent users
    of one UNet (``compose_many``) share one installation; the last to leave restores it."""
    with _lock:
        entry = _installed.get(unet)
        if entry is None:
            own = dict(unet.attn_processors)
            unet.set_attn_processor({name: RegionalAttnProcessor(p) for name, p in own.items()})
            entry = _installed[unet] = [0, own]
        entry[0] += 1
    try:
        yield
    finally:
        with _lock:
            entry[0] -= 1
            if entry[0] == 0:
                unet.set_attn_processor(entry[1])
                del _installed[unet]


class RegionalPaths:
    """The UNet rows of regional attention, with the interface of :class:`~mdwidgets.sampling.paths.Paths`.

    Inside, a :class:`Paths` of one text (one path per window, shared unconditional row) whose
    "prompt" is all prompts' embeddings concatenated and whose "negative" is all negatives'; each row
    also carries its window's region weights for :class:`RegionalAttnProcessor`.
    """

    def __init__(self, layout: Layout, fusion: Paths, weights: torch.Tensor, windows, grid_width: int,
                 conditioning: tuple[PromptEmbeds, torch.Tensor | None, int | None]):
        prompts, time_ids, guidance_dim = conditioning
        embedded, count = fusion.embedded_guidance, len(layout.prompts)
        self.prompts = count
        self.inner = Paths(layout.with_regions([]), fusion.guidance[0] if embedded else max(fusion.guidance),
                           torch.ones_like(weights[:1]), windows, grid_width, embedded_guidance=embedded)
        negatives = [fusion.negative_text[p] for p in range(count)]
        joined = torch.stack([prompts.embeds[:count].flatten(0, 1), prompts.embeds[negatives].flatten(0, 1)])
        pooled = None if prompts.pooled is None else prompts.pooled[[0, negatives[0]]]  # the background's
        self.inner.bind(PromptEmbeds(joined, pooled), time_ids, guidance_dim)
        device, cells = weights.device, self.inner.cells.to(weights.device)
        flat = weights.flatten(1)  # (P, canvas cells)
        # Per-cell guidance Σ_p W_p g_p (unguided prompts count as 1: their conditional prediction alone)
        guided = torch.tensor([g if g > 1 and not embedded else 1.0 for g in fusion.guidance], device=device)
        self.scale = (guided @ flat)[cells][:, None] if self.inner.rows(True) > len(windows) else None
        rows = self.inner.row_windows(True)
        self.row_weights = (flat[:, self.inner.cells[rows].to(device)].transpose(0, 1)
                            .reshape(len(rows), count, *self.inner.window_shape))

    @property
    def pixels(self) -> int:
        return self.inner.pixels

    def rows(self, shared: bool) -> int:
        """UNet rows per evaluation: one per window and guidance branch, whatever the number of regions."""
        return self.inner.rows(True)

    def unet_rows(self, model_in: torch.Tensor, t, *, shared: bool, dtype: torch.dtype) -> UNetRows:
        rows = self.inner.unet_rows(model_in, t, shared=True, dtype=dtype)
        if self.prompts > 1:  # one prompt: the plain rows, no mask at all
            rows.attention = {REGION_KEYWORD: self.row_weights.to(dtype)}
        return rows

    def guide(self, out: torch.Tensor, *, shared: bool) -> torch.Tensor:
        return self.inner.guide(out, shared=True, scale=self.scale)

    def row_inputs(self, rows: UNetRows) -> torch.Tensor:
        return self.inner.row_inputs(rows)

    def fuse(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.inner.fuse(outputs)

    def prompt_x0(self, path_x0: torch.Tensor, fused_x0: torch.Tensor) -> torch.Tensor:
        """No prompt has a prediction of its own here: the fused x0 for each ``(N + 1, C, h, w)``."""
        return fused_x0.expand(self.prompts, -1, -1, -1)
