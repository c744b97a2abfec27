"""Pipelines: :mod:`.facts` (what a pipeline is, read by loading, sampling and rendering alike),
:mod:`.loading` (``load_pipeline``: hub, folder, file, built-in) and :mod:`.tiny` (tiny random
pipelines for tests and the word tokenizer)."""
