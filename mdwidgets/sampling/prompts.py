"""Text prompts to UNet conditioning, with a cache so that moving a box re-encodes nothing.

Stable Diffusion 1.x/2.x: one text encoder's last hidden state. SDXL: both encoders' penultimate
hidden states side by side, plus the second encoder's pooled (projected) embedding — the same calls
as diffusers' ``encode_prompt`` of each pipeline, so embeddings match theirs.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple

import torch


class PromptTruncatedWarning(UserWarning):
    """A prompt is longer than the tokenizer's limit; the named words are dropped."""


class PromptEmbeds(NamedTuple):
    """The conditioning of some prompts."""

    embeds: torch.Tensor  #: (prompts, tokens, dim)
    pooled: torch.Tensor | None  #: (prompts, dim) SDXL's pooled embedding; None for SD 1.x/2.x

    def to(self, device, dtype) -> PromptEmbeds:
        pooled = None if self.pooled is None else self.pooled.to(device, dtype)
        return PromptEmbeds(self.embeds.to(device, dtype), pooled)


class PromptCache:
    """Encodes prompts with a pipeline's tokenizer(s) and text encoder(s) and remembers the result.

    One cache serves one text encoder (see :func:`prompt_cache_for`). ``hits`` and ``misses``
    count look-ups, so tools and tests can check that a re-run encoded nothing.
    """

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, tuple[torch.Tensor, torch.Tensor | None]] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, pipe, prompts: Sequence[str]) -> PromptEmbeds:
        """The conditioning of ``prompts`` by ``pipe``'s text encoder(s).

        What is cached is taken under the lock in the same step as the look-up, and what is encoded
        here is used from this call's own hands: another thread filling the cache meanwhile (and
        evicting these prompts) cannot take them away. Encoding runs outside the lock."""
        unique = list(dict.fromkeys(prompts))
        with self._lock:
            found = {p: self._entries[p] for p in unique if p in self._entries}
            missing = [p for p in unique if p not in found]
            self.hits += len(prompts) - len(missing)
            self.misses += len(missing)
        if missing:
            embeds, pooled = _encode(pipe, missing)
            found.update({p: (embeds[k], None if pooled is None else pooled[k]) for k, p in enumerate(missing)})
        with self._lock:
            for prompt in prompts:
                self._entries[prompt] = found[prompt]
                self._entries.move_to_end(prompt)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        embeds, pooled = zip(*(found[p] for p in prompts))
        return PromptEmbeds(torch.stack(embeds), None if pooled[0] is None else torch.stack(pooled))

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
def _encode(pipe, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
    for prompt in prompts:
        _warn_if_truncated(pipe.tokenizer, prompt, pipe.tokenizer.model_max_length)
    if getattr(pipe, "text_encoder_2", None) is None:
        # Same call as diffusers' StableDiffusionPipeline.encode_prompt.
        tokens, encoder = _tokens(pipe.tokenizer, prompts), pipe.text_encoder
        mask = tokens.attention_mask if getattr(encoder.config, "use_attention_mask", False) else None
        return encoder(tokens.input_ids.to(encoder.device), attention_mask=_on(mask, encoder))[0], None
    # SDXL (diffusers' StableDiffusionXLPipeline.encode_prompt): penultimate layers side by side, and
    # the pooled embedding of the last encoder that gives one (the second, with its projection).
    hidden, pooled = [], None
    for tokenizer, encoder in ((pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)):
        if encoder is None:  # a refiner-style pipeline has only the second encoder
            continue
        out = encoder(_tokens(tokenizer, prompts).input_ids.to(encoder.device), output_hidden_states=True)
        pooled = out[0] if out[0].ndim == 2 else pooled
        hidden.append(out.hidden_states[-2])
    return torch.cat(hidden, dim=-1), pooled


def _tokens(tokenizer, prompts: list[str]):
    return tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt")


def _on(tensor: torch.Tensor | None, module) -> torch.Tensor | None:
    return None if tensor is None else tensor.to(module.device)


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


VOCABULARY_SHOWN = 60  # a note lists the model's words when its vocabulary is this small (a word-level tokenizer)


def unknown_words(tokenizer, prompt: str) -> str | None:
    """A note naming the words of ``prompt`` that ``tokenizer`` reads as unknown (its unk token:
    the model sees nothing there), with the model's vocabulary when it is small; ``None`` when
    every word is known. Subword tokenizers (CLIP's BPE) know every word: they never warn."""
    unk = getattr(tokenizer, "unk_token", None)
    if unk is None:
        return None
    words = [w for w in prompt.split() if w.strip()]
    unknown = [w for w in words if unk in tokenizer.tokenize(w)]
    if not unknown:
        return None
    vocabulary = sorted(w for w in tokenizer.get_vocab() if w.isalpha())
    known = f" It knows: {', '.join(vocabulary)}." if len(vocabulary) <= VOCABULARY_SHOWN else ""
    return f"the model does not know {', '.join(map(repr, unknown))}: it reads nothing there.{known}"


def prompt_notes(tokenizer, prompt: str) -> str | None:
    """What a region row says under a prompt: words past the tokenizer's limit and words it does not
    know (``None``: nothing to say, or no model loaded yet: ``tokenizer`` ``None``)."""
    if tokenizer is None or not prompt:
        return None
    return "; ".join(filter(None, [truncation(tokenizer, prompt), unknown_words(tokenizer, prompt)])) or None
