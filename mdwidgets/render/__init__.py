"""Renderers: :mod:`.preview` (previews of the clean-latent prediction, region overlays),
:mod:`.figures` (grids, filmstrips, comparisons) and :mod:`.scoring` (CLIP scores for real models)."""
