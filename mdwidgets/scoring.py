"""Region adherence scores: how well an image follows its layout.

- :func:`shapes_adherence` — for the built-in shapes model (measurable exactly): per box, the
  fraction of its pixels in the prompt's colour and the IoU between that colour's pixels and the
  box; outside the boxes, the fraction in the background prompt's colour.
- :class:`ClipScorer` — for real models: the CLIP similarity of each box crop to its prompt
  (a ``transformers`` ``CLIPModel`` + processor, e.g. ``openai/clip-vit-base-patch32``).
"""

from __future__ import annotations

import re

import numpy as np
import torch
from PIL import Image

from .layout import Layout
from .shapes.data import COLOUR_NAMES
from .shapes.evaluate import nearest_palette_index

_COLOUR_WORD = re.compile(r"\b(" + "|".join(COLOUR_NAMES) + r")\b", re.IGNORECASE)


def prompt_colour(prompt: str) -> str | None:
    """The first palette colour named in a prompt (``"a red circle"`` → ``"red"``)."""
    match = _COLOUR_WORD.search(prompt)
    return match.group(1).lower() if match else None


def shapes_adherence(image: Image.Image, layout: Layout) -> dict[str, float] | None:
    """Colour-based adherence for the shapes model; ``None`` when the prompts name no palette colours.

    Returns ``in_box`` (mean over boxes of the fraction of box pixels in the box prompt's colour),
    ``iou`` (mean IoU between each box and the pixels of its colour not claimed by another box of
    the same colour) and ``background`` (fraction of pixels outside every box in the background
    prompt's colour).
    """
    boxes = [(r, prompt_colour(r.prompt)) for r in layout.regions if r.box is not None]
    background = prompt_colour(layout.background)
    if not boxes or any(c is None for _, c in boxes) or background is None:
        return None
    rgb = np.asarray(image.convert("RGB").resize((layout.width, layout.height)))
    labels = np.asarray(COLOUR_NAMES)[nearest_palette_index(rgb).reshape(rgb.shape[:2])]
    covered = np.zeros(labels.shape, dtype=bool)
    masks = []
    for region, _ in boxes:
        x0, y0, x1, y1 = (int(round(v)) for v in region.box)
        mask = np.zeros(labels.shape, dtype=bool)
        mask[y0:y1, x0:x1] = True
        masks.append(mask)
        covered |= mask
    in_box, ious = [], []
    for (_, colour), mask in zip(boxes, masks):
        of_colour = labels == colour
        in_box.append(float(of_colour[mask].mean()))
        # Pixels of this colour inside other same-coloured boxes belong to those boxes.
        others = np.zeros_like(mask)
        for (_, c), m in zip(boxes, masks):
            if c == colour and m is not mask:
                others |= m & ~mask
        mine = of_colour & ~others
        ious.append(float((mine & mask).sum() / max((mine | mask).sum(), 1)))
    outside = ~covered
    bg = float((labels[outside] == background).mean()) if outside.any() else float("nan")
    return {"in_box": float(np.mean(in_box)), "iou": float(np.mean(ious)), "background": bg}


class ClipScorer:
    """CLIP similarity (cosine × 100, like CLIPScore) of each box crop to its prompt, averaged.

    ``ClipScorer.from_pretrained("openai/clip-vit-base-patch32")`` loads one from the hub.
    """

    def __init__(self, model, processor) -> None:
        self.model = model.eval()
        self.processor = processor

    @classmethod
    def from_pretrained(cls, name: str = "openai/clip-vit-base-patch32") -> ClipScorer:
        from transformers import CLIPModel, CLIPProcessor

        return cls(CLIPModel.from_pretrained(name), CLIPProcessor.from_pretrained(name))

    @torch.inference_mode()
    def __call__(self, image: Image.Image, layout: Layout) -> dict[str, float] | None:
        crops, prompts = [], []
        image = image.convert("RGB").resize((layout.width, layout.height))
        for region in layout.regions:
            crops.append(image.crop(tuple(int(round(v)) for v in region.bounds)))
            prompts.append(region.prompt)
        if not crops:
            return None
        inputs = self.processor(text=prompts, images=crops, return_tensors="pt", padding=True)
        out = self.model(**inputs)
        img = torch.nn.functional.normalize(out.image_embeds, dim=-1)
        txt = torch.nn.functional.normalize(out.text_embeds, dim=-1)
        per_box = (img * txt).sum(-1).clamp(min=0) * 100
        return {"clip": float(per_box.mean()), "clip_min": float(per_box.min())}
