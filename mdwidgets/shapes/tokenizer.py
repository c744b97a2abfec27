"""Offline word-level tokenizer for the shapes model.

Built with the ``tokenizers`` library (WordLevel model, lowercase + NFKC
normaliser, whitespace/punctuation pre-tokenizer, ``<bos> ... <eos>`` template)
and wrapped in a :class:`transformers.PreTrainedTokenizerFast`, so that
``StableDiffusionPipeline.encode_prompt`` can call it exactly like a CLIP
tokenizer (``padding="max_length", max_length=model_max_length,
truncation=True``).  Unknown words map to ``<unk>``.
"""
from __future__ import annotations

from .data import COLOUR_NAMES, FILLER_WORDS, SHAPES

SPECIAL_TOKENS = ["<pad>", "<unk>", "<bos>", "<eos>"]
MODEL_MAX_LENGTH = 32
# extra harmless words / punctuation so common prompt variants do not become <unk>
EXTRA_WORDS = [",", ".", "circles", "squares", "triangles", "stars", "rings",
               "one", "two", "three", "shape", "colour", "color", "image", "picture"]


def vocabulary() -> list[str]:
    words: list[str] = list(SPECIAL_TOKENS)
    for w in list(FILLER_WORDS) + list(COLOUR_NAMES) + list(SHAPES) + EXTRA_WORDS:
        if w not in words:
            words.append(w)
    return words


def build_tokenizer(model_max_length: int = MODEL_MAX_LENGTH):
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(vocabulary())}
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Punctuation()])
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", pair="<bos> $A <eos> $B <eos>",
        special_tokens=[("<bos>", vocab["<bos>"]), ("<eos>", vocab["<eos>"])])
    from tokenizers import decoders
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=model_max_length,
        pad_token="<pad>", unk_token="<unk>", bos_token="<bos>", eos_token="<eos>",
        padding_side="right", truncation_side="right")
