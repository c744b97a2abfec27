"""Red team: hostile and unlucky inputs at every boundary that reads a file, and what each one did.

    python -m benchmarks.redteam [--out benchmarks/results/redteam.json]

Each try feeds one input to one boundary (``Layout.from_json``, ``read_png_metadata``,
``Studio.import_file``, the CLI's ``render``), and issue #36's root causes are tried where they lived
(``benchmarks/redteam_causes.py``: compose, the CLI, sweeps, model loading, files, threads). Each is classed as

- **clean**: refused with the boundary's own error (``LayoutError``; exit code 2 for the CLI)
  and, in the Studio, the layout and settings left as they were, the message shown as text;
- **bad**: anything else — another exception type, a hostile value accepted, HTML in the status
  line, the user's layout or settings changed by a refused file, a file overwritten.

The inputs are built here (``hostile_layouts``, ``hostile_pngs``) and reused by
``tests/test_redteam.py``. 0 bad outcomes is the target. The report counts the outcomes per cause.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import struct
import tempfile
import time
import zlib
from pathlib import Path

from PIL import Image, PngImagePlugin

from benchmarks.redteam_causes import cause_tries
from mdwidgets.files import PNG_LAYOUT_KEY, PNG_SETTINGS_KEY
from mdwidgets.layout import Layout, LayoutError

GOOD = {"mdwidgets_layout": 1, "width": 64, "height": 64, "background": "a blue background",
        "regions": [{"prompt": "a red circle", "box": [8, 8, 40, 40]}]}


def png_bytes(size=(8, 8), mode="L", fmt="PNG", text: dict[str, str] | None = None) -> bytes:
    """A small image file, with text chunks."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format=fmt, **({"pnginfo": info} if fmt == "PNG" else {}))
    return buf.getvalue()


def declare_size(png: bytes, width: int, height: int) -> bytes:
    """The PNG with its header claiming another size (a decompression bomb's trick): IHDR patched,
    CRC fixed, pixels untouched."""
    ihdr = png[12:29]  # type + 13 data bytes
    patched = ihdr[:4] + struct.pack(">II", width, height) + ihdr[12:]
    return png[:12] + patched + struct.pack(">I", zlib.crc32(patched)) + png[33:]


def with_mask(mask_png: bytes, size=64) -> str:
    layout = {**GOOD, "width": size, "height": size,
              "regions": [{"prompt": "x", "mask": base64.b64encode(mask_png).decode()}]}
    return json.dumps(layout)


def hostile_layouts() -> dict[str, str]:
    """Layout JSON texts that must be refused with LayoutError."""
    deep = "[" * 100_000 + "]" * 100_000
    return {
        "deeply nested list": deep,
        "deeply nested region": json.dumps({**GOOD, "regions": []})[:-1] + ', "x": ' + deep + "}",
        "mask larger than canvas (header)": with_mask(declare_size(png_bytes((64, 64)), 9_000, 9_000)),
        "mask declaring 900 megapixels": with_mask(declare_size(png_bytes((64, 64)), 30_000, 30_000)),
        "mask of another size": with_mask(png_bytes((32, 32))),
        "mask as GIF": with_mask(png_bytes((64, 64), mode="P", fmt="GIF")),
        "mask as BMP": with_mask(png_bytes((64, 64), fmt="BMP")),
        "mask not base64": json.dumps({**GOOD, "regions": [{"prompt": "x", "mask": "!!not base64"}]}),
        "too many full-canvas masks": json.dumps({**GOOD, "width": 8192, "height": 8192,
                                                   "regions": [{"prompt": "x", "mask": "AAAA"}] * 2}),
        "width as HTML": json.dumps({**GOOD, "width": "<script>alert(1)</script>"}),
        "NaN guidance": json.dumps({**GOOD, "regions": [{"prompt": "x", "box": [0, 0, 8, 8],
                                                         "guidance_scale": float("nan")}]}),
        "seed 1.7": json.dumps({**GOOD, "regions": [{"prompt": "x", "box": [0, 0, 8, 8], "seed": 1.7}]}),
        "seed as text": json.dumps({**GOOD, "regions": [{"prompt": "x", "box": [0, 0, 8, 8], "seed": "12"}]}),
        "not JSON": "{mdwidgets_layout: 1",
        "not UTF-8": b"\xff\xfe{".decode("latin-1"),
        "a list": "[1, 2]",
    }


def hostile_settings() -> dict[str, object]:
    """Settings chunks of mdwidgets PNGs that must be refused."""
    return {
        "settings a list": [1, 2],
        "settings a string": "fast",
        "seed 1.7": {"seed": 1.7},
        "seed as text": {"seed": "12"},
        "seed 2**64": {"seed": 2**64},
        "steps 0": {"steps": 0},
        "steps true": {"steps": True},
        "circular 'no'": {"circular": "no"},
        "guidance NaN": {"guidance_scale": float("nan")},
        "guidance Infinity": {"guidance_scale": float("inf")},
        "guidance -3": {"guidance_scale": -3},
        "scheduler a dict": {"scheduler": {"name": "ddim"}},
        "model a list": {"model": ["x"]},
        "window 'wide'": {"window": "wide"},
        # issue #36: eta was never checked, steps had no upper bound
        "eta NaN": {"eta": float("nan")},
        "eta 1e308": {"eta": 1e308},
        "eta 50": {"eta": 50},
        "eta -1": {"eta": -1},
        "eta 'abc'": {"eta": "abc"},
        "steps 10**9": {"steps": 10**9},
    }


def hostile_pngs() -> dict[str, bytes]:
    """PNG files that must be refused by read_png_metadata (LayoutError), without decoding pixels."""
    layout = Layout.from_dict(GOOD).to_json()
    pngs = {f"settings: {name}": png_bytes(text={PNG_LAYOUT_KEY: layout, PNG_SETTINGS_KEY: json.dumps(value)})
            for name, value in hostile_settings().items()}
    pngs.update({
        "settings nested 100 000 deep": png_bytes(text={PNG_LAYOUT_KEY: layout,
                                                        PNG_SETTINGS_KEY: "[" * 100_000 + "]" * 100_000}),
        "settings not JSON": png_bytes(text={PNG_LAYOUT_KEY: layout, PNG_SETTINGS_KEY: "{oops"}),
        "layout nested deep": png_bytes(text={PNG_LAYOUT_KEY: "[" * 100_000 + "]" * 100_000}),
        "no layout": png_bytes(),
        "a JPEG": png_bytes(mode="RGB", fmt="JPEG"),
        "truncated": png_bytes(text={PNG_LAYOUT_KEY: layout})[:30],
        "declares 300 megapixels": declare_size(png_bytes(text={PNG_LAYOUT_KEY: layout}), 20_000, 15_000),
    })
    return pngs


def classify(run) -> tuple[str, str]:
    """('clean' | 'accepted' | 'bad', detail) of calling ``run()``."""
    try:
        run()
    except LayoutError as exc:
        return "clean", str(exc)[:120]
    except BaseException as exc:  # noqa: BLE001 - anything else is what we count
        return "bad", f"{type(exc).__name__}: {str(exc)[:100]}"
    return "bad", "accepted"


def studio_try(studio, name: str, content: bytes) -> tuple[str, str]:
    """Import into a Studio: clean only if refused as text with layout and settings unchanged."""
    before = (studio.layout, studio.settings)
    try:
        studio.import_file(name, content)
    except BaseException as exc:  # noqa: BLE001
        return "bad", f"escaped the Studio: {type(exc).__name__}"
    status = studio.status.line.value
    if "<script" in status or "<img" in status:
        return "bad", "HTML in the status line"
    if "Could not import" not in status:
        return "bad", "accepted a hostile file"
    if (studio.layout, studio.settings) != before:
        return "bad", "changed the layout or settings of a refused file"
    return "clean", status[:120]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="write the tries as JSON")
    args = parser.parse_args()

    from mdwidgets.apps.cli import main as cli
    from mdwidgets.files import read_png_metadata
    from mdwidgets.pipelines.tiny import tiny_random_pipeline
    from mdwidgets.studio import Studio

    tries = []
    started = time.perf_counter()
    for name, text in hostile_layouts().items():
        tries.append(("Layout.from_json", name, *classify(lambda t=text: Layout.from_json(t))))
    for name, data in hostile_pngs().items():
        tries.append(("read_png_metadata", name, *classify(lambda d=data: read_png_metadata(io.BytesIO(d)))))
    with tempfile.TemporaryDirectory() as folder:
        studio = Studio(tiny_random_pipeline(), autosave=False, output_dir=folder, live=False)
        files = [(f"<img src=x onerror=alert(1)> {n}.json", t.encode("utf-8", "surrogatepass"))
                 for n, t in hostile_layouts().items()]
        files += [(f"{n}.png", d) for n, d in hostile_pngs().items()]
        for name, content in files:
            tries.append(("Studio.import_file", name, *studio_try(studio, name, content)))
        tries += cli_tries(cli, Path(folder))
    tries = [("files", *t) for t in tries]  # the hostile files above; then issue #36's root causes
    with tempfile.TemporaryDirectory() as folder:
        tries += cause_tries(Path(folder))
    print_report(tries, time.perf_counter() - started)
    if args.out:
        Path(args.out).write_text(json.dumps([dict(zip(("cause", "boundary", "input", "outcome", "detail"), t))
                                              for t in tries], indent=1) + "\n")


def cli_tries(cli, folder: Path) -> list[tuple[str, str, str, str]]:
    """The CLI: hostile PNGs exit 2; an existing output is never replaced without --overwrite."""
    out = []
    for name, data in hostile_pngs().items():
        path = folder / "in.png"
        path.write_bytes(data)
        code = _quiet(lambda p=path: cli(["render", str(p), "-o", str(folder / "new.png")]))
        out.append(("cli render", name, "clean" if code == 2 else "bad", f"exit {code}"))
    target = folder / "precious.png"
    target.write_bytes(b"the user's picture")
    layout = folder / "l.json"
    layout.write_text(json.dumps(GOOD))
    code = _quiet(lambda: cli(["render", str(layout), "-o", str(target), "--steps", "1"]))
    kept = target.read_bytes() == b"the user's picture"
    out.append(("cli render", "existing output", "clean" if kept and code == 2 else "bad",
                f"exit {code}, file {'kept' if kept else 'REPLACED'}"))
    return out


def _quiet(run):
    import contextlib

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return run()
        except SystemExit as exc:
            return exc.code
        except BaseException as exc:  # noqa: BLE001
            return type(exc).__name__


def print_report(tries, seconds: float) -> None:
    """The bad tries, the count by outcome for each cause, and the totals."""
    from benchmarks.redteam_causes import CAUSES

    for cause, boundary, name, outcome, detail in tries:
        if outcome == "bad":
            print(f"BAD  {cause:5s} {boundary:20s} {name}: {detail}")
    print(f"{'cause':5s} {'':40s} {'clean':>5s} {'bad':>4s}")
    for cause in dict.fromkeys(t[0] for t in tries):
        outcomes = [t[3] for t in tries if t[0] == cause]
        title = CAUSES.get(cause, "hostile files (layouts, PNGs, Studio imports, CLI)")
        print(f"{cause:5s} {title[:40]:40s} {outcomes.count('clean'):5d} {outcomes.count('bad'):4d}")
    bad = sum(t[3] == "bad" for t in tries)
    print(f"{len(tries)} tries in {seconds:.1f} s: {len(tries) - bad} clean, {bad} bad")


if __name__ == "__main__":
    main()
