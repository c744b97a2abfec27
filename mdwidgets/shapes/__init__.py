"""Built-in toy "shapes" model: data generator, tokenizer, trainer, evaluator.

``mdwidgets.shapes.data`` and ``training.evaluate``'s classification
helpers only need numpy + Pillow; training needs torch/diffusers/transformers.
"""
from .data import COLOUR_NAMES, COLOURS, FILLER_WORDS, SHAPES, Obj, Scene, caption, random_scene, render

__all__ = ["COLOURS", "COLOUR_NAMES", "SHAPES", "FILLER_WORDS", "Obj", "Scene",
           "caption", "random_scene", "render"]
