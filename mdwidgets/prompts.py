"""Text prompts to UNet conditioning, with a cache so that moving a box re-encodes nothing."""

from __future__ import annotations

import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Sequence

import torch


class PromptTruncatedWarning(UserWarning):
    """A prompt is longer than the tokenizer's limit; the named words are dropped."""


class PromptCache:
    """Encodes prompts with a pipeline's tokenizer and text encoder and remembers the result.

    One cache serves one text encoder (see :func:`prompt_cache_for`). ``hits`` and ``misses``
    count look-ups, so tools and tests can check that a re-run encoded nothing.
    """

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, tokenizer, text_encoder, prompts: Sequence[str]) -> torch.Tensor:
        """Embeddings of ``prompts``, shape ``(len(prompts), tokens, dim)``."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self._entries]
        with self._lock:
            self.hits += len(prompts) - len(missing)
            self.misses += len(missing)
        if missing:
            embeds = _encode(tokenizer, text_encoder, missing)
            with self._lock:
                for prompt, embed in zip(missing, embeds):
                    self._entries[prompt] = embed
        with self._lock:
            out = []
            for prompt in prompts:
                self._entries.move_to_end(prompt)
                out.append(self._entries[prompt])
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return torch.stack(out)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def prompt_cache_for(text_encoder: torch.nn.Module) -> PromptCache:
    """The shared cache of one text encoder (dropped together with the encoder)."""
    with _caches_lock:
        if text_encoder not in _caches:
            _caches[text_encoder] = PromptCache()
        return _caches[text_encoder]


@torch.inference_mode()
def _encode(tokenizer, text_encoder, prompts: list[str]) -> torch.Tensor:
    limit = tokenizer.model_max_length
    for prompt in prompts:
        _warn_if_truncated(tokenizer, prompt, limit)
    tokens = tokenizer(
        prompts, padding="max_length", max_length=limit, truncation=True, return_tensors="pt"
    )
    # Same call as diffusers' StableDiffusionPipeline.encode_prompt, so embeddings match it.
    mask = None
    if getattr(text_encoder.config, "use_attention_mask", False):
        mask = tokens.attention_mask.to(text_encoder.device)
    return text_encoder(tokens.input_ids.to(text_encoder.device), attention_mask=mask)[0]


def _warn_if_truncated(tokenizer, prompt: str, limit: int) -> None:
    problem = truncation(tokenizer, prompt)
    if problem:
        warnings.warn(problem, PromptTruncatedWarning, stacklevel=4)


def truncation(tokenizer, prompt: str) -> str | None:
    """What the model will not read of ``prompt`` (words past the tokenizer's limit), or ``None``."""
    limit = tokenizer.model_max_length
    ids = tokenizer(prompt, truncation=False).input_ids
    if len(ids) <= limit:
        return None
    # The first limit-1 ids (start token + words) survive; the end token is re-added.
    dropped = tokenizer.decode(ids[limit - 1 : -1], skip_special_tokens=True).strip()
    return (f"prompt {prompt[:40]!r}... is longer than the model's {limit} tokens; "
            f"these words are ignored: {dropped!r}")
