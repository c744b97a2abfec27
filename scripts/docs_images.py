"""Regenerate the pictures in docs/img/ from the shipped built-in model (about a minute on 2 CPU cores).

    python scripts/docs_images.py [--only samples compositions panorama failures paths seeds] [--model FOLDER --out DIR]

Everything at the model's native 128×128 canvas, DDIM 25 steps, its default guidance (5), shown at 2×.

- ``shapes-samples.png``: single prompts, seeds 0-7.
- ``shapes-compositions.png``: four random layouts from the composition benchmark: the picture each
  asks for (every shape filling its box) with the boxes outlined, then MultiDiffusion at bootstrap 0
  and at the default, then the whole scene as one sentence.
- ``shapes-panorama.png``: ``mdwidgets/examples/panorama.json`` (512×128) with 360° windows.
- ``shapes-failures.png``: the first single prompts of the evaluator (seed 0) that it scores wrong,
  each with what was asked and what the checker saw.
- ``shapes-seeds.png``: the quick-start layout at seeds 0-4, at the default bootstrap and at 20 of 25 (the
  default before the object judge), each picture with the judge's counts (:func:`mdwidgets.render.figures.score_note`).
- ``shapes-paths.png``: the quick-start layout (``mdwidgets/examples/shapes.json``, seed 0, 20 of 25 steps
  bootstrapped) step by step:
  each prompt's own x0 over the whole canvas (:func:`mdwidgets.render.figures.prompt_paths`, VAE-decoded) and the fused
  x0, which shows why a box's object takes the box's shape.
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
from mdwidgets.pipelines.facts import native_size  # noqa: E402
from mdwidgets.render.figures import Recorder, image_grid, prompt_paths  # noqa: E402
from mdwidgets.shapes.analysis import analyse  # noqa: E402
from mdwidgets.shapes.data import render  # noqa: E402
from training.compositions import layout_scene, random_layout  # noqa: E402
from training.evaluate import eval_prompts, prompt_for  # noqa: E402

OUT = ROOT / "docs" / "img"


SAMPLE_PROMPTS = [
    "a red circle on a blue background", "a yellow triangle on a black background",
    "a green square on a white background", "a purple star on a yellow background",
    "a white ring on a red background", "a blue triangle on an orange background",
    "a black square on a green background", "a blue background",
]


def big(image: Image.Image) -> Image.Image:
    """The 128 px pictures at 2×, pixels kept sharp."""
    return image.resize((2 * image.width, 2 * image.height), Image.NEAREST)


def short(prompt: str) -> str:
    """ "a red circle on a blue background" -> "red circle / blue bg" (fits under a cell)."""
    words = [w for w in prompt.replace(" on ", " / ").split() if w not in ("a", "an")]
    return " ".join(words).replace("background", "bg")


def samples(pipe, out: Path) -> None:
    size = native_size(pipe)
    images = [big(compose(pipe, Layout(size, size, p), num_inference_steps=25, seed=i).image)
              for i, p in enumerate(SAMPLE_PROMPTS)]
    notes = [short(p) for p in SAMPLE_PROMPTS]
    grid = image_grid([images[:4], images[4:]], cell_notes=[notes[:4], notes[4:]], cell_size=2 * size)
    grid.save(out / "shapes-samples.png")


def compositions(pipe, out: Path) -> None:
    rng = random.Random(0)
    size = native_size(pipe)
    rows, titles = [], []
    for k in range(4):
        layout, sentence = random_layout(rng, size)
        common = dict(num_inference_steps=25, seed=k)
        default = compose(pipe, layout, **common)
        rows.append([big(image) for image in (
            overlay_regions(render(layout_scene(layout), size), layout, fill=False),
            compose(pipe, layout, bootstrap_steps=0, **common).image,
            default.image,
            compose(pipe, Layout(size, size, sentence), **common).image,
        )])
        titles.append("\n".join([short(layout.background)] + [f"{i} {short(r.prompt)}"
                                                               for i, r in enumerate(layout.regions, start=1)]))
    boot = f"bootstrap {default.settings['bootstrap_steps']} (default)"
    grid = image_grid(rows, column_titles=["asked", "bootstrap 0", boot, "one sentence"],
                      row_titles=titles, cell_size=2 * size)
    grid.save(out / "shapes-compositions.png")


def panorama(pipe, out: Path) -> None:
    layout = Layout.load(ROOT / "mdwidgets" / "examples" / "panorama.json")
    result = compose(pipe, layout, num_inference_steps=25, seed=0, window="native", stride=8, circular=True)
    result.image.resize((2 * layout.width, 2 * layout.height), Image.NEAREST).save(out / "shapes-panorama.png")
    print(f"panorama: {result.timings['total']:.1f} s")


def failures(pipe, out: Path, wanted: int = 8) -> None:
    """What the evaluator's single prompts get wrong (its first 96 prompts; seed = prompt index)."""
    size = native_size(pipe)
    cells, notes = [], []
    for i, (colour, shape, background) in enumerate(eval_prompts(96)):
        image = compose(pipe, Layout(size, size, prompt_for(colour, shape, background)), num_inference_steps=25,
                        seed=i).image
        seen = analyse(image)
        found = (seen["object_colour"], seen["shape"], seen["background"], seen["n_objects"])
        if found != (colour, shape, background, 1):
            cells.append(big(image))
            notes.append(f"{colour} {shape} / {background}\nsaw {seen['object_colour']} {seen['shape']} "
                         f"/ {seen['background']} ×{seen['n_objects']}")
        if len(cells) == wanted:
            break
    if cells:
        half = (len(cells) + 1) // 2
        grid = image_grid([cells[:half], cells[half:]], cell_notes=[notes[:half], notes[half:]], cell_size=2 * size)
        grid.save(out / "shapes-failures.png")


def paths(pipe, out: Path) -> None:
    """The quick-start layout: every prompt's own x0 at six steps, and the fusion, at 20 of 25 bootstrapped steps
    (the default before the object judge: the model card's *Why boxes fill up* reads it)."""
    layout = Layout.load(ROOT / "mdwidgets" / "examples" / "shapes.json")
    recorder = Recorder(steps=[0, 6, 12, 18, 21, 24])
    compose(pipe, layout, num_inference_steps=25, bootstrap_steps=20, seed=0, callback=recorder, region_x0=True)
    prompt_paths(recorder, layout, pipe, decode=True).save(out / "shapes-paths.png")


def seeds(pipe, out: Path) -> None:
    """The quick-start layout at seeds 0-4: the default bootstrap against 20 of 25 (the default until the judge)."""
    from mdwidgets.render.figures import score_note
    from mdwidgets.shapes.adherence import shapes_adherence

    layout = Layout.load(ROOT / "mdwidgets" / "examples" / "shapes.json")
    rows, notes, titles = [], [], []
    for boot in (None, 20):
        results = [compose(pipe, layout, num_inference_steps=25, bootstrap_steps=boot, seed=s) for s in range(5)]
        rows.append([big(overlay_regions(r.image, layout, fill=False)) for r in results])
        notes.append([score_note(shapes_adherence(r.image, layout), layout) for r in results])
        used = results[0].settings["bootstrap_steps"]
        titles.append(f"bootstrap {used}\n" + ("(default)" if boot is None else "(default before)"))
    grid = image_grid(rows, column_titles=[f"seed {s}" for s in range(5)], row_titles=titles, cell_notes=notes,
                      cell_size=2 * layout.width)
    grid.save(out / "shapes-seeds.png")


def main() -> None:
    jobs = {"samples": samples, "compositions": compositions, "panorama": panorama, "failures": failures,
            "paths": paths, "seeds": seeds}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=list(jobs), default=list(jobs))
    parser.add_argument("--model", default=None, help="an exported shapes model folder (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    pipe = load_pipeline() if args.model is None else load_pipeline(args.model, family="shapes")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        jobs[name](pipe, args.out)
        print(f"wrote {args.out}/shapes-{name}.png")


if __name__ == "__main__":
    main()
