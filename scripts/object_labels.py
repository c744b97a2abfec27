"""The labelled object set that the shapes model's object judge is checked against (tests/data/object_labels/).

    python scripts/object_labels.py crops        # render compositions, write every object's crop + index.json
    python scripts/object_labels.py sheets       # contact sheets to label by eye (no judge's answers on them)
    python scripts/object_labels.py agreement    # the judge against labels.json: agreement and confusion tables
    python scripts/object_labels.py sheets --judged   # sheets with the judge's answer and the label where they differ

Objects come from 12 random layouts of the composition benchmark's generator (another random stream than
the benchmark's: ``random.Random(LABEL_STREAM)``) at bootstrap 0, 5, 10 and 20 of 25 steps (seed = the
layout's index), and from the quick-start layout (``mdwidgets/examples/shapes.json``) at seeds 0–2 and
bootstrap 0, 5, 10, 15 and 20, all on the shipped ``builtin:shapes`` at its default guidance. Each
object's crop is its box grown by a quarter of its side on every side (clipped to the canvas), at the
native resolution with 5 bits per channel (to keep the files small); ``index.json`` says where the box
lies in it. The labels were made on these files, and the test judges these files.

``labels.json`` holds a person's judgement of each crop, made on the sheets (enlarged, box corners
marked): is the object in the prompt's colour, is it the prompt's shape, does it lie inside its box
(a little overhang allowed)? A missing object is wrong on all three.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mdwidgets.render.figures import _font  # noqa: E402

DATA = ROOT / "tests" / "data" / "object_labels"
LABEL_STREAM = 20261130  # random layouts of their own, not the benchmark's (random.Random(seed) there)
RANDOM_LAYOUTS, RANDOM_BOOTSTRAPS = 12, (0, 5, 10, 20)
QUICKSTART_SEEDS, QUICKSTART_BOOTSTRAPS = (0, 1, 2), (0, 5, 10, 15, 20)
# batch 2, labelled after the judge was written and not used to fit it: 8 more layouts of another stream
HELD_OUT_STREAM, HELD_OUT_LAYOUTS, HELD_OUT_BOOTSTRAPS = 20261206, 8, (5, 10, 15)
STEPS = 25


def crop_box(box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``box`` grown by a quarter of its side on every side, clipped to the canvas."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    mx, my = (x1 - x0) // 4, (y1 - y0) // 4
    return max(x0 - mx, 0), max(y0 - my, 0), min(x1 + mx, size[0]), min(y1 + my, size[1])


def small_file(image: Image.Image) -> Image.Image:
    """``image`` with 5 bits per channel (the middle of each step of 8): a third of the PNG's size; the
    nearest palette colour changes on under 1% of the pixels."""
    import numpy as np

    return Image.fromarray((np.asarray(image.convert("RGB")) >> 3 << 3 | 4).astype("uint8"))


def batch_runs(batch: int) -> list[tuple]:
    """(source, layout, seed, bootstrap) of every picture of a batch of crops."""
    from mdwidgets import Layout
    from training.compositions import random_layout

    runs = []
    if batch == 1:
        rng = random.Random(LABEL_STREAM)
        for k in range(RANDOM_LAYOUTS):
            layout, _ = random_layout(rng, 128)
            runs += [(f"random{k:02d}", layout, k, b) for b in RANDOM_BOOTSTRAPS]
        quick = Layout.load(ROOT / "mdwidgets" / "examples" / "shapes.json")
        runs += [("quickstart", quick, s, b) for s in QUICKSTART_SEEDS for b in QUICKSTART_BOOTSTRAPS]
    else:
        rng = random.Random(HELD_OUT_STREAM)
        for k in range(HELD_OUT_LAYOUTS):
            layout, _ = random_layout(rng, 128)
            runs += [(f"heldout{k:02d}", layout, 100 + k, b) for b in HELD_OUT_BOOTSTRAPS]
    return runs


def make_crops(out: Path, batch: int) -> None:
    """Render a batch's pictures and add every object's crop to ``out`` (index.json: one crop a line)."""
    from mdwidgets import compose, load_pipeline

    pipe = load_pipeline()
    out.mkdir(parents=True, exist_ok=True)
    index = [e for e in (json.loads((out / "index.json").read_text()) if (out / "index.json").exists() else [])
             if e.get("batch", 1) != batch]
    for source, layout, seed, boot in batch_runs(batch):
        image = compose(pipe, layout, num_inference_steps=STEPS, bootstrap_steps=boot, seed=seed).image
        for r, region in enumerate(layout.regions):
            cx0, cy0, cx1, cy1 = crop_box(region.box, image.size)
            name = f"{len(index):03d}.png"
            small_file(image.crop((cx0, cy0, cx1, cy1))).save(out / name, optimize=True)
            x0, y0, x1, y1 = (int(round(v)) for v in region.box)
            index.append({"id": len(index), "batch": batch, "file": name, "source": source, "seed": seed,
                          "bootstrap": boot, "steps": STEPS, "region": r, "prompt": region.prompt,
                          "background": layout.background, "canvas_box": [x0, y0, x1, y1],
                          "crop": [cx0, cy0, cx1, cy1], "box": [x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0],
                          "others": _others(layout, r, cx0, cy0)})
        print(source, seed, boot, len(index), flush=True)
    (out / "index.json").write_text("[\n" + ",\n".join(json.dumps(e) for e in index) + "\n]\n")  # a crop a line


def _others(layout, r: int, cx0: int, cy0: int) -> list[dict]:
    """The layout's other boxes, in the crop's coordinates (the judge keeps their pixels out of an object)."""
    return [{"prompt": o.prompt, "box": [int(round(o.box[0])) - cx0, int(round(o.box[1])) - cy0,
                                         int(round(o.box[2])) - cx0, int(round(o.box[3])) - cy0]}
            for k, o in enumerate(layout.regions) if k != r]


def load(data: Path = DATA) -> tuple[list[dict], dict[str, dict]]:
    index = json.loads((data / "index.json").read_text())
    labels_file = data / "labels.json"
    labels = json.loads(labels_file.read_text())["labels"] if labels_file.exists() else {}
    return index, labels


def _cell(entry: dict, data: Path, cell: int, note: str) -> Image.Image:
    crop = Image.open(data / entry["file"]).convert("RGB")
    scale = max(1, min(cell // crop.width, cell // crop.height))
    big = crop.resize((crop.width * scale, crop.height * scale), Image.NEAREST)
    tile = Image.new("RGB", (cell, cell + 34), "white")
    ox, oy = (cell - big.width) // 2, (cell - big.height) // 2
    tile.paste(big, (ox, oy))
    draw = ImageDraw.Draw(tile)
    x0, y0, x1, y1 = (ox + v * scale for v in entry["box"])
    tick = 3 * scale
    for cx, cy, dx, dy in ((x0, y0, 1, 1), (x1, y0, -1, 1), (x0, y1, 1, -1), (x1, y1, -1, -1)):
        draw.line([(cx, cy + dy * tick), (cx, cy), (cx + dx * tick, cy)], fill=(0, 255, 255), width=2)
    draw.text((4, cell + 2), f"#{entry['id']} {entry['prompt'][2:]}", fill="black", font=_font(13))
    if note:
        draw.text((4, cell + 18), note, fill=(200, 0, 0), font=_font(12))
    return tile


def sheets(data: Path, out: Path, judged: bool, batch: int = 1, per_sheet: int = 24, cols: int = 6,
           cell: int = 180) -> None:
    index, labels = load(data)
    index = [e for e in index if e.get("batch", 1) == batch]
    verdicts = _judge_all(index, data) if judged else {}
    out.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(index), per_sheet):
        chunk = index[start:start + per_sheet]
        rows = (len(chunk) + cols - 1) // cols
        sheet = Image.new("RGB", (cols * (cell + 6), rows * (cell + 40) + 40), (235, 235, 235))
        _swatches(sheet, rows * (cell + 40))
        for i, entry in enumerate(chunk):
            note = ""
            if judged:
                j, lab = verdicts[entry["id"]], labels.get(str(entry["id"]))
                note = "judge " + _abbrev(j)
                if lab is not None and _abbrev(lab) != _abbrev(j):
                    note += " / label " + _abbrev(lab)
            sheet.paste(_cell(entry, data, cell, note), ((i % cols) * (cell + 6), (i // cols) * (cell + 40)))
        sheet.save(out / f"batch{batch}-sheet{start // per_sheet:02d}.png")
    print(f"wrote {(len(index) + per_sheet - 1) // per_sheet} sheets to {out}")


def _swatches(sheet: Image.Image, y: int) -> None:
    """The palette along the bottom of a sheet, to judge colours against."""
    from mdwidgets.shapes.data import COLOURS

    draw = ImageDraw.Draw(sheet)
    for i, (name, rgb) in enumerate(COLOURS.items()):
        draw.rectangle((8 + i * 130, y + 6, 38 + i * 130, y + 34), fill=rgb, outline="grey")
        draw.text((44 + i * 130, y + 12), name, fill="black", font=_font(13))


def _abbrev(v: dict) -> str:
    return "".join(k[0].upper() if v[k] else k[0] for k in ("colour", "shape", "inside"))


def _judge_all(index: list[dict], data: Path) -> dict[int, dict]:
    from mdwidgets.shapes.adherence import judge_crop

    verdicts = {}
    for e in index:
        v = judge_crop(Image.open(data / e["file"]), e["box"], e["prompt"], [o["box"] for o in e["others"]])
        verdicts[e["id"]] = {"colour": v.colour, "shape": bool(v.shape), "inside": v.inside, "right": v.right,
                             "found": v.found}
    return verdicts


def agreement(data: Path = DATA, batch: int | None = None) -> dict:
    """The judge against the labels: per question the share of crops where the two agree and the confusion
    table (label × judge). ``colour`` and ``right`` (colour, shape and inside all right) over every
    crop; ``shape`` and ``inside`` over the crops whose label says the colour is right (the judge looks
    for the object in the prompt's colour, so without one its shape and place are no question); and
    per asked shape, how often the judge agrees on the shape. ``batch``: that batch only (1: the
    crops the judge was fitted to, 2: held out)."""
    index, labels = load(data)
    index = [e for e in index if batch is None or e.get("batch", 1) == batch]
    verdicts = _judge_all(index, data)
    labelled = [e for e in index if str(e["id"]) in labels]
    out: dict = {"n": len(labelled)}
    for key in ("colour", "shape", "inside", "right"):
        crops = [e for e in labelled if key in ("colour", "right") or labels[str(e["id"])]["colour"]]
        table = {"label yes, judge yes": 0, "label yes, judge no": 0, "label no, judge yes": 0,
                 "label no, judge no": 0}
        for e in crops:
            lab, j = labels[str(e["id"])], verdicts[e["id"]]
            a = (lab["colour"] and lab["shape"] and lab["inside"]) if key == "right" else lab[key]
            table[f"label {'yes' if a else 'no'}, judge {'yes' if j[key] else 'no'}"] += 1
        agree = table["label yes, judge yes"] + table["label no, judge no"]
        out[key] = {"n": len(crops), "agreement": round(agree / max(len(crops), 1), 4), **table}
    by_shape: dict = {}
    for e in labelled:
        lab, j = labels[str(e["id"])], verdicts[e["id"]]
        if lab["colour"]:
            row = by_shape.setdefault(e["prompt"].split()[-1], {"n": 0, "agree": 0, "judge saw": {}})
            row["n"] += 1
            row["agree"] += j["shape"] == lab["shape"]
            row["judge saw"][str(j["found"])] = row["judge saw"].get(str(j["found"]), 0) + 1
    out["shape by asked shape"] = by_shape
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["crops", "sheets", "agreement"])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "object_labels")
    parser.add_argument("--judged", action="store_true", help="sheets: print the judge's answer under each crop")
    parser.add_argument("--batch", type=int, default=1, choices=[1, 2], help="crops, sheets: which batch")
    args = parser.parse_args()
    if args.what == "crops":
        make_crops(args.data, args.batch)
    elif args.what == "sheets":
        sheets(args.data, args.out, args.judged, args.batch)
    else:
        print(json.dumps({"all": agreement(args.data), "batch 1 (fitted)": agreement(args.data, 1),
                          "batch 2 (held out)": agreement(args.data, 2)}, indent=1))


if __name__ == "__main__":
    main()
