"""Command line: ``python -m mdwidgets render LAYOUT.json -o OUT.png``, ``… layout OUT.png``, ``… sweep SPEC.json``,
``… example [NAME]``."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

from .. import __version__, progress
from ..catalog import BUILTIN_MODELS, DEFAULT_MODEL, FAMILIES, ModelError
from ..errors import InputError
from ..files import load_layout_file, write_atomic
from ..layout import EXAMPLES, OVERLAP_MODES, LayoutError, open_regular
from ..settings import METHODS, SCHEDULERS, Settings, check_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mdwidgets", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mdwidgets {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    example = commands.add_parser("example", help="list the example layouts shipped with mdwidgets, or copy one out")
    example.add_argument("name", nargs="?", help="an example (e.g. shapes); none: list them")
    example.add_argument("-o", "--output", default=".", help="folder to copy into (default: the current one)")
    example.add_argument("--overwrite", action="store_true", help="replace files of the same name there")

    render = commands.add_parser("render", help="render a layout JSON (or an mdwidgets PNG) to a PNG")
    render.add_argument("layout", help="layout .json file, or a .png made by mdwidgets")
    render.add_argument("-o", "--output", required=True, help="PNG to write (layout + settings embedded)")
    render.add_argument("--overwrite", action="store_true",
                        help="replace OUTPUT if it exists (atomically: the old file stays whole until the new "
                             "one is written)")
    _add_model_flags(render)
    render.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's or the PNG's)")
    render.add_argument("--seed", type=int, default=None, help="seed (default: random, or the PNG's)")
    render.add_argument("--bootstrap-steps", type=int, default=None, help="bootstrapped steps (default: the model's)")
    render.add_argument("--guidance", type=float, default=None, help="guidance (default: the model's; <= 1: unguided)")
    render.add_argument("--scheduler", choices=sorted(SCHEDULERS), default=None, help="sampler (default: the model's)")
    render.add_argument("--method", choices=METHODS, default=None,
                        help="region method: fusion (one UNet row per region), attention (2 rows per step "
                             "for any number of regions) or hybrid (default: fusion, or the PNG's)")
    render.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    render.add_argument("--dtype", default=None, help="float16, bfloat16 or float32 (default: fp16 on CUDA)")
    render.add_argument("--max-batch", type=int, default=None, help="cap on UNet rows per call (memory)")
    render.add_argument(
        "--window", type=_window_arg, default=None,
        help="sliding windows for wide canvases/panoramas: 'native' (the model's size), a number of latent "
             "cells, or 'none' for one view of the whole canvas (default: none, or the PNG's)",
    )
    render.add_argument("--stride", type=int, default=None, help="latent cells between windows (default 8)")
    render.add_argument("--circular", action=argparse.BooleanOptionalAction, default=None,
                        help="wrap windows around left/right for a seamless 360° panorama")
    _add_region_flags(render)
    _add_image_flags(render)
    _add_progress_flag(render)

    show = commands.add_parser("layout", help="print the layout embedded in an mdwidgets PNG as JSON")
    show.add_argument("png")

    sweep = commands.add_parser(
        "sweep", help="render every combination of layouts and settings in a JSON spec (resumable; accelerate launch)"
    )
    sweep.add_argument("spec", help="sweep spec .json (see README, Sweeps)")
    sweep.add_argument("-o", "--output", default=None, help="output folder (default: the spec's 'output')")
    sweep.add_argument("--dry-run", action="store_true", help="list the cells and which are done; render nothing")
    sweep.add_argument("--clip", metavar="MODEL", default=None,
                       help="also score each cell with CLIP (hub id, e.g. openai/clip-vit-base-patch32)")
    sweep.add_argument("--batch", type=int, default=1, metavar="N",
                       help="render up to N cells together in shared UNet calls (default 1; more pays off on a GPU)")
    _add_progress_flag(sweep)
    return parser


def _add_progress_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                         help="progress bars with ETA on stderr, per step (and per cell in sweeps); "
                              "default: on when stderr is a terminal")


def _add_region_flags(render: argparse.ArgumentParser) -> None:
    """Layout fields a render may change without editing the file (they go into the PNG's layout)."""
    render.add_argument("--overlap", choices=OVERLAP_MODES, default=None,
                        help="where regions overlap: 'average' (the paper's Eq. 5: each gets a share) or 'layers' "
                             "(later regions cover earlier ones, like paint layers); default: the layout's")
    render.add_argument("--region-weight", type=_region_weight, action="append", default=None, metavar="N=W",
                        help="region N's (numbered from 1) weight, its strength in the fusion: 0 gives its pixels to "
                             "what lies under it, 1 the plain mask (default: the layout's); repeat for more regions")


def _region_weight(text: str) -> tuple[int, float]:
    number, _, weight = text.partition("=")
    try:
        return int(number), float(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a region number (from 1) and a weight, like 2=0.5") from None


def _changed_layout(args: argparse.Namespace, layout):
    """The layout with ``--overlap`` and ``--region-weight`` applied, checked."""
    regions = list(layout.regions)
    for number, weight in args.region_weight or ():
        if not 1 <= number <= len(regions):
            raise ValueError(f"--region-weight {number}={weight:g}: the layout has regions 1 to {len(regions)}")
        try:
            regions[number - 1] = regions[number - 1].replace(weight=weight)
        except LayoutError as exc:
            raise ValueError(f"--region-weight {number}={weight:g}: {exc}") from None
    return layout.replace(regions=tuple(regions), overlap=args.overlap or layout.overlap)


def _add_image_flags(render: argparse.ArgumentParser) -> None:
    """Image-to-image and redo-regions flags (:mod:`mdwidgets.sampling.img2img`)."""
    render.add_argument("--init-image", metavar="IMAGE", default=None,
                        help="start from this image (the canvas' size), noised to --strength: image-to-image")
    render.add_argument("--strength", type=float, default=1.0,
                        help="share of the steps that run from --init-image or --keep-from (default 1: all)")
    render.add_argument("--keep-from", metavar="PNG", default=None,
                        help="an earlier render of this layout: keep its pixels except the --redo regions")
    render.add_argument("--redo", type=_region_numbers, default=None, metavar="N,M",
                        help="with --keep-from: the regions (numbered from 1) to render again")


def _region_numbers(text: str) -> list[int]:
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        numbers = []
    if not numbers:
        raise argparse.ArgumentTypeError(f"{text!r}: give region numbers (from 1) like 2 or 1,3")
    return numbers


def _image_inputs(args: argparse.Namespace, layout) -> dict:
    """compose's ``init_image``/``strength``/``keep``/``keep_image`` from the flags, checked."""

    from ..sampling.img2img import keep_all_but

    if (args.keep_from is None) != (args.redo is None):
        raise ValueError("--keep-from and --redo go together: the render to keep and the regions to redo")
    bad = [n for n in args.redo or () if not 1 <= n <= len(layout.regions)]
    if bad:
        raise ValueError(f"--redo {bad[0]}: the layout has regions 1 to {len(layout.regions)}")
    inputs: dict = {"strength": args.strength}
    for flag, path in (("--init-image", args.init_image), ("--keep-from", args.keep_from)):
        if path is not None:
            inputs["init_image" if flag == "--init-image" else "keep_image"] = _picture(flag, path, layout)
    if args.redo:
        inputs["keep"] = keep_all_but(layout, [n - 1 for n in args.redo])
    return inputs


def _picture(flag: str, path: str, layout):
    """The picture a flag names, in RGB: a regular file whose header says the canvas size (checked before
    any pixel is decoded, so a file declaring 20000x20000 costs nothing)."""
    from PIL import Image

    try:
        with open_regular(path) as fh, Image.open(fh) as image:
            if image.size != (layout.width, layout.height):
                raise ValueError(f"{flag} {path} is {image.size[0]}x{image.size[1]} px but the canvas is "
                                 f"{layout.width}x{layout.height}: resize or crop it first")
            return image.convert("RGB")
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:  # SyntaxError: PIL's broken-file error
        raise ValueError(f"{flag} {path}: cannot read it as a picture ({exc})") from None


def _window_arg(text: str) -> int | str:
    if text.lower() in ("none", "native"):
        return text.lower()
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use 'native', 'none' or a number of latent cells") from None


def _model_to_load(args: argparse.Namespace, png_model: str | None) -> str:
    """--model; else the PNG's model if it is built in (nothing to download or open) or with
    --model-from-png; else the default, with a notice."""
    if args.model:
        return args.model
    if png_model and (args.model_from_png or png_model in BUILTIN_MODELS):
        return png_model
    if png_model not in (None, DEFAULT_MODEL):
        print(f"note: {args.layout} was made with {png_model!r}; rendering with {DEFAULT_MODEL} "
              "(pass --model-from-png to load the PNG's model, or --model)", file=sys.stderr)
    return DEFAULT_MODEL


def _example(name: str | None, folder: Path, overwrite: bool) -> int:
    """List the packaged examples, or copy one (a sweep spec with the layouts it names) into ``folder``."""
    names = sorted(p.stem for p in EXAMPLES.glob("*.json"))
    if name is None:
        print("\n".join(names))
        return 0
    name = name.removesuffix(".json")
    if name not in names:
        raise ValueError(f"no example {name!r}; the examples are {', '.join(names)}")
    data = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    files = [f"{name}.json"] + [entry for entry in data.get("layouts", []) if isinstance(entry, str)]
    clashes = [f for f in files if (folder / f).exists()]
    if clashes and not overwrite:
        raise ValueError(f"{', '.join(str(folder / f) for f in clashes)} exists; pass --overwrite to replace")
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"-o {folder} is a file; give a folder to copy the example into")
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:  # exclusive unless --overwrite: a file that appeared meanwhile is not replaced
        write_atomic(folder / file, lambda tmp, f=file: shutil.copyfile(EXAMPLES / f, tmp), exclusive=not overwrite)
        print(f"copied {folder / file}")
    return 0


def _checked_output(output: Path, overwrite: bool) -> Path:
    """The output path, checked before any rendering: never an existing file unless asked, and a
    folder that can be written."""
    if output.is_dir():
        raise ValueError(f"output {output} is a folder; give a file name such as {output / 'out.png'}")
    if output.exists() and not overwrite:
        raise ValueError(f"output {output} exists; pass --overwrite to replace it, or choose another name")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the output folder {output.parent}: {exc.strerror}") from None
    if not os.access(output.parent, os.W_OK):
        raise ValueError(f"cannot write to the output folder {output.parent}")
    return output


def _settings(args: argparse.Namespace, previous: Settings) -> Settings:
    """A re-rendered PNG's settings, with the flags given on the command line instead."""
    if previous.scheduler not in SCHEDULERS:
        previous = previous.replace(scheduler=None)  # a custom scheduler class: the model's own
    if args.steps is not None:
        previous = previous.replace(steps=args.steps, bootstrap_steps=None)  # bootstrap: the model's share
    flags = {"guidance_scale": args.guidance, "bootstrap_steps": args.bootstrap_steps, "seed": args.seed,
             "scheduler": args.scheduler, "stride": args.stride, "circular": args.circular,
             "max_batch": args.max_batch, "method": args.method}
    previous = previous.replace(**{k: v for k, v in flags.items() if v is not None})
    if args.window is not None:
        previous = previous.replace(window=None if args.window == "none" else args.window)
    return previous


def _add_model_flags(render: argparse.ArgumentParser) -> None:
    render.add_argument("--model", default=None,
                        help=f"hub id, folder, .safetensors or builtin (default {DEFAULT_MODEL}); SD 1.x/2.x or SDXL, "
                             "Turbo and LCM variants included")
    render.add_argument("--model-from-png", action="store_true",
                        help="load the hub id or path a re-rendered PNG names (built-in models are always "
                             "used; others are not by default: a PNG from elsewhere could name anything)")
    render.add_argument("--lora", default=None, help="a LoRA to load into the model (hub id, folder or file; "
                        "e.g. latent-consistency/lcm-lora-sdv1-5; needs peft)")
    render.add_argument("--family", default=None, choices=sorted(FAMILIES),
                        help="the model family whose defaults to use (default: detected when it loads)")


def _render(args: argparse.Namespace) -> int:
    from ..files import png_info
    from ..pipelines.loading import load_pipeline
    from ..sampling.sampler import compose

    output = _checked_output(Path(args.output), args.overwrite)
    layout, previous = load_layout_file(args.layout)
    layout = _changed_layout(args, layout)
    settings = _settings(args, Settings.from_dict(previous, args.layout))
    check_settings(settings.to_dict(), "the command line and the PNG")  # the flags' values too, before a model loads
    inputs = _image_inputs(args, layout)  # checked before a model loads
    png_info(layout)  # and that the PNG can carry the layout
    shown = progress.wanted(args.progress)
    with progress.loading_bars(shown):
        pipe = load_pipeline(_model_to_load(args, previous.get("model")), device=args.device, dtype=args.dtype,
                             lora=args.lora or (previous.get("lora") if args.model_from_png else None),
                             family=args.family)
    with progress.bar(None, "render", enabled=shown) as steps:  # kept: its last state says the time
        result = compose(pipe, layout, settings=settings, callback=progress.step_callback(steps), **inputs)
    _save_or_keep(result, output, args.overwrite)
    s = result.settings
    print(
        f"wrote {output} ({layout.width}x{layout.height}, {len(layout.regions)} regions) with {s['model']}: "
        f"{s['steps']} {s['scheduler']} steps, bootstrap {s['bootstrap_steps']}, guidance {s['guidance_scale']}, "
        f"seed {s['seed']}, {s['method']}, {s['device']}/{s['dtype']}, {result.timings['total']:.1f} s"
        + (f", overlap {layout.overlap}" if layout.overlap != OVERLAP_MODES[0] else "")
        + (f", windows {s['window']} cells stride {s['stride']}{' circular' if s['circular'] else ''}"
           if s["stride"] else "")
    )
    return 0


def _save_or_keep(result, output: Path, overwrite: bool) -> None:
    """Save the render (atomically; exclusively unless ``--overwrite``, so a file that appeared while it
    rendered is not replaced). If that fails, the finished render is kept in the temporary folder (with its
    layout and settings where they fit) and the error says where."""
    from ..files import save_png, write_new

    try:
        save_png(result.image, output, result.layout, result.settings, exclusive=not overwrite)
        return
    except (OSError, ValueError) as exc:
        failure = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    kept = Path(tempfile.gettempdir()) / f"mdwidgets-render-{time.strftime('%Y%m%d-%H%M%S')}.png"
    for write in (lambda tmp: save_png(result.image, tmp, result.layout, result.settings),
                  lambda tmp: result.image.save(tmp, format="PNG")):  # without its layout, if that was the problem
        try:
            kept = write_new(kept, write)
        except (OSError, InputError):
            continue
        raise ValueError(f"could not save {output} ({failure}); the finished render is kept in {kept}")
    raise ValueError(f"could not save {output} ({failure}), nor keep the render in {kept.parent}")


def _one_line(text: str) -> str:
    """``text`` fit for one terminal line: line breaks as spaces, other control characters (a file name's
    terminal escapes) shown escaped rather than sent to the terminal."""
    text = " ".join(str(text).splitlines())
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    format_warning = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *_, **__: f"warning: {_one_line(message)}\n"  # one line each
    try:
        return _run(args)
    except (InputError, ModelError, ValueError, FloatingPointError, MemoryError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or folder the checks above could not foresee (a full disk, a lost mount)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {_one_line(where + (exc.strerror or str(exc)))}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = format_warning  # main() called from Python leaves the process as it was


def _run(args: argparse.Namespace) -> int:
    if args.command == "render":
        return _render(args)
    if args.command == "example":
        return _example(args.name, Path(args.output), args.overwrite)
    if args.command == "sweep":
        from .sweep import load_spec, run_sweep

        run_sweep(load_spec(args.spec, output=args.output), clip=args.clip, dry_run=args.dry_run, batch=args.batch,
                  progress=progress.wanted(args.progress), log=lambda line: print(_one_line(line)))
        return 0
    layout, _ = load_layout_file(args.png)
    print(layout.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
