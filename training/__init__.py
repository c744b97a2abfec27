"""Training and evaluation of the built-in ``builtin:shapes`` model (not part of the installed
package): :mod:`.train` (the stages, ``python -m training.train``), :mod:`.states` (what
MultiDiffusion shows each region's path), :mod:`.evaluate` (single prompts) and
:mod:`.compositions` (layouts, objects judged right). Run from the repository root."""
