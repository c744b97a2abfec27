"""Region adherence for real models: how well an image follows its layout.

:class:`ClipScorer` — the CLIP similarity of each box crop to its prompt (a ``transformers``
``CLIPModel`` + processor, e.g. ``openai/clip-vit-base-patch32``). The built-in shapes model is
scored exactly by :func:`mdwidgets.shapes.adherence.shapes_adherence`.
"""

from __future__ import annotations

import torch
from PIL import Image

from ..layout import Layout


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
