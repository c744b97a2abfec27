"""Sampling: masks and prompt embeddings in, the fused denoising loop, pictures out.

:mod:`.sampler` (``compose``, ``compose_many``: the loop as numbered steps), :mod:`.paths` (the
(window, prompt) paths, their UNet rows and the fusion, Eq. 5), :mod:`.masks` (fusion weights),
:mod:`.lockstep` (runs sharing UNet calls), :mod:`.conditioning` and :mod:`.prompts` (what each row
is conditioned on), :mod:`.windows` (panoramas), :mod:`.schedulers`, :mod:`.budget` (memory),
:mod:`.img2img` (start from a picture, keep what you like), :mod:`.images` (the VAE),
:mod:`.reference` (the paper's algorithm written literally). Pure torch: no widgets.
"""
