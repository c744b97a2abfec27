"""Regenerate the pictures in docs/img/ from the shipped built-in model (about 2 minutes on 2 CPU cores).

    python scripts/docs_images.py [--only samples compositions panorama]

- ``shapes-samples.png``: single prompts, DDIM 25, CFG 5, seeds 0-7.
- ``shapes-compositions.png``: four random layouts from the composition benchmark, as outlined
  boxes, then MultiDiffusion at bootstrap 0 and at the default, then the whole scene as one sentence.
- ``shapes-panorama.png``: ``examples/panorama.json`` (1024×256) with 360° windows.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mdwidgets import Layout, compose, load_pipeline, overlay_regions  # noqa: E402
from mdwidgets.shapes.compositions import random_layout  # noqa: E402
from mdwidgets.views import image_grid  # noqa: E402

OUT = ROOT / "docs" / "img"


SAMPLE_PROMPTS = [
    "a red circle on a blue background", "a yellow triangle on a black background",
    "a green square on a white background", "a purple star on a yellow background",
    "a white ring on a red background", "a blue triangle on an orange background",
    "a black square on a green background", "a blue background",
]


def short(prompt: str) -> str:
    """ "a red circle on a blue background" -> "red circle / blue bg" (fits under a cell)."""
    words = [w for w in prompt.replace(" on ", " / ").split() if w not in ("a", "an")]
    return " ".join(words).replace("background", "bg")


def samples(pipe) -> None:
    images = [compose(pipe, Layout(256, 256, p), num_inference_steps=25, guidance_scale=5.0, seed=i).image
              for i, p in enumerate(SAMPLE_PROMPTS)]
    notes = [short(p) for p in SAMPLE_PROMPTS]
    grid = image_grid([images[:4], images[4:]], cell_notes=[notes[:4], notes[4:]], cell_size=256)
    grid.save(OUT / "shapes-samples.png")


def compositions(pipe) -> None:
    rng = random.Random(0)
    rows, titles = [], []
    for k in range(4):
        layout, sentence = random_layout(rng)
        common = dict(num_inference_steps=25, guidance_scale=5.0, seed=k)
        blank = Image.new("RGB", (256, 256), "white")
        rows.append([
            overlay_regions(blank, layout),
            compose(pipe, layout, bootstrap_steps=0, **common).image,
            compose(pipe, layout, **common).image,
            compose(pipe, Layout(256, 256, sentence), **common).image,
        ])
        titles.append("\n".join([short(layout.background)] + [f"{i} {short(r.prompt)}"
                                                               for i, r in enumerate(layout.regions, start=1)]))
    grid = image_grid(rows, column_titles=["layout", "bootstrap 0", "bootstrap 5 (default)", "one sentence"],
                      row_titles=titles, cell_size=224)
    grid.save(OUT / "shapes-compositions.png")


def panorama(pipe) -> None:
    layout = Layout.load(ROOT / "examples" / "panorama.json")
    result = compose(pipe, layout, num_inference_steps=25, guidance_scale=5.0, seed=0, window="native", stride=8,
                     circular=True)
    result.image.save(OUT / "shapes-panorama.png")
    print(f"panorama: {result.timings['total']:.1f} s")


def main() -> None:
    jobs = {"samples": samples, "compositions": compositions, "panorama": panorama}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=list(jobs), default=list(jobs))
    args = parser.parse_args()
    pipe = load_pipeline()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        jobs[name](pipe)
        print(f"wrote docs/img/shapes-{name}.png")


if __name__ == "__main__":
    main()
