"""The shapes model's vocabulary and its offline word-level tokenizer.

The tokenizer is :func:`mdwidgets.pipelines.tiny.word_tokenizer` (the one builder of word-level CLIP-style
tokenizers) over this vocabulary, so ``StableDiffusionPipeline.encode_prompt`` calls it exactly
like a CLIP tokenizer. Unknown words map to the unknown token.
"""
from __future__ import annotations

from ..pipelines.tiny import WORD_TOKENIZER_SPECIALS, word_tokenizer
from .data import COLOUR_NAMES, FILLER_WORDS, SHAPES

MODEL_MAX_LENGTH = 32
# extra harmless words / punctuation so common prompt variants do not become <unk>
EXTRA_WORDS = [",", ".", "circles", "squares", "triangles", "stars", "rings",
               "one", "two", "three", "shape", "colour", "color", "image", "picture"]


def words() -> list[str]:
    """The shapes model's words, in token-id order after the special tokens."""
    return list(dict.fromkeys([*FILLER_WORDS, *COLOUR_NAMES, *SHAPES, *EXTRA_WORDS]))


def vocabulary() -> list[str]:
    """Every token, special tokens first (their ids are 0–3)."""
    return [*WORD_TOKENIZER_SPECIALS, *words()]


def build_tokenizer(model_max_length: int = MODEL_MAX_LENGTH):
    return word_tokenizer(words(), model_max_length)
