"""Applications on top of the toolkit: :mod:`.cli` (``python -m mdwidgets``) and :mod:`.sweep`
(grids of renders from a JSON spec)."""
