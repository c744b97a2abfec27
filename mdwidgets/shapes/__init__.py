"""What the toolkit needs of the built-in "shapes" model: its scenes' vocabulary and renderer
(:mod:`.data`), the tokenizer builder, and scoring its pictures (:mod:`.analysis`, :mod:`.adherence`:
numpy + Pillow only). Training and evaluation live outside the package, in ``training/``.
"""
from .data import COLOUR_NAMES, COLOURS, FILLER_WORDS, SHAPES, Obj, Scene, caption, random_scene, render

__all__ = ["COLOURS", "COLOUR_NAMES", "SHAPES", "FILLER_WORDS", "Obj", "Scene",
           "caption", "random_scene", "render"]
