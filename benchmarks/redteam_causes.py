"""Issue #36's root causes, tried at every surface that reached them (``python -m benchmarks.redteam`` runs these).

Each try reproduces one of the issue's hostile inputs and is classed as

- **clean**: refused with the surface's own error naming the setting, file or argument (``ValueError``,
  ``TypeError``, ``LayoutError``, ``ModelError``; for the CLI: exit 2 with an ``error:`` line and no
  traceback or raw control characters), or for the inputs that are not errors (a 16-bit mask, two
  exports at once, a failed save) the right result: the value scaled, both files kept, the render kept;
- **bad**: anything else.

Causes I–L (the Studio's) are tried by the Studio's own tests; the earlier hostile files
(``benchmarks/redteam.py``) reach the Studio with these settings too. The inputs are built here and reused
by ``tests/test_redteam_causes.py``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mdwidgets.layout import Layout, LayoutError, Region

GOOD = {"mdwidgets_layout": 1, "width": 64, "height": 64, "background": "a blue background",
        "regions": [{"prompt": "a red circle", "box": [8, 8, 40, 40]}]}
CAUSES = {
    "A": "eta never checked", "A'": "NaN/inf tensors on entry", "B": "no upper bound on steps",
    "C": "CLI lets OSError & co. escape", "D": "device not checked", "E": "model configs unchecked",
    "F": "LoRA unpickled without allow_pickle", "G": "16-bit masks mis-scaled", "H": "save_png writes what its "
    "reader refuses", "M": "exports race (check, then write)", "N": "sweep output folder", "O": "prompt-cache race",
    "P": "readers open any path", "Q": "public helpers unchecked",
}
TRY_SECONDS = 60  #: a try still running after this long is bad (the old code read /dev/zero or built 1e9 steps)
HOSTILE_ETAS = {"eta NaN": float("nan"), "eta 1e308": 1e308, "eta 50": 50, "eta -1": -1, "eta 'abc'": "abc"}
Try = tuple[str, str, str, str, str]  # cause, surface, input, outcome, detail


@contextlib.contextmanager
def time_limit(seconds: float = TRY_SECONDS):
    """Raise ``TimeoutError`` in the block after ``seconds`` (where signals work: POSIX, the main thread)."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(*_):
        raise TimeoutError(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def refused(run: Callable[[], object], errors: tuple[type[BaseException], ...] = (ValueError,),
            says: str | None = None) -> tuple[str, str]:
    """Clean if ``run()`` raises one of ``errors`` whose message matches ``says``."""
    try:
        with time_limit():
            run()
    except errors as exc:
        message = str(exc)
        if says and not re.search(says, message):
            return "bad", f"unclear {type(exc).__name__}: {message[:100]}"
        return "clean", message[:120]
    except BaseException as exc:  # noqa: BLE001 - anything else is what we count
        return "bad", f"{type(exc).__name__}: {str(exc)[:100]}"
    return "bad", "accepted"


def holds(check: Callable[[], str | None]) -> tuple[str, str]:
    """Clean if ``check()`` returns ``None`` (no problem) and raises nothing."""
    try:
        with time_limit():
            problem = check()
    except BaseException as exc:  # noqa: BLE001
        return "bad", f"{type(exc).__name__}: {str(exc)[:100]}"
    return ("bad", problem) if problem else ("clean", "as it should")


def cli(args: list[str]) -> tuple[int | str, str]:
    """``mdwidgets.apps.cli.main(args)`` in this process: (exit code, stderr)."""
    from mdwidgets.apps.cli import main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            with time_limit():
                code = main(args)
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:  # noqa: BLE001
            code = f"{type(exc).__name__} escaped"
    return code, err.getvalue()


def cli_clean(args: list[str], says: str | None = None,
              then: Callable[[], str | None] | None = None) -> tuple[str, str]:
    """Clean if the CLI exits 2 with an ``error:`` line (no traceback, no raw control characters) matching
    ``says``, and ``then()`` finds nothing wrong afterwards."""
    code, err = cli(args)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    if code != 2 or "error:" not in last or "Traceback" in err:
        return "bad", f"exit {code}: {err.strip()[-110:]!r}"
    if any(not ch.isprintable() for ch in last):
        return "bad", f"control characters reach the terminal: {last[:100]!r}"
    if says and not re.search(says, last):
        return "bad", f"unclear: {last[:110]}"
    problem = then() if then else None
    return ("bad", problem) if problem else ("clean", last[:120])


def layout(size: int = 64) -> Layout:
    return Layout(size, size, "a blue background", [Region("a red circle", box=(8, 8, 40, 40))])


# -- A, A', B, Q: compose and the public helpers --------------------------------------------------------
def compose_tries(pipe) -> list[Try]:
    import torch
    from PIL import Image

    from mdwidgets import compose, compose_many
    from mdwidgets.apps.sweep import load_spec
    from mdwidgets.render.preview import overlay_regions
    from mdwidgets.sampling.img2img import keep_all_but

    def run(**kwargs):
        return lambda: compose(pipe, layout(), **{"num_inference_steps": 1, "output_type": "latent", **kwargs})

    tries: list[Try] = []
    for name, eta in HOSTILE_ETAS.items():
        tries.append(("A", "compose", name, *refused(run(eta=eta, scheduler="ddim"), says=r"eta=.* must be a number "
                                                                                         "from 0 to 1")))
    tries.append(("A", "sweep spec", "eta [0, 1e308]", *refused(
        lambda: load_spec({"layouts": [GOOD], "eta": [0, 1e308]}), says=r"eta 1e\+308 must be a number from 0 to 1")))
    bad = {"NaN": float("nan"), "inf": float("inf")}
    for value_name, value in bad.items():
        full = torch.full((1, 4, 8, 8), value)
        tries.append(("A'", "compose", f"latents of {value_name}",
                      *refused(run(latents=full), says="latents hold NaN")))
        tries.append(("A'", "compose", f"init_image latents of {value_name}", *refused(
            run(init_image=full, strength=0.5, num_inference_steps=2), says="init_image latents hold NaN")))
        tries.append(("A'", "compose", f"keep_image latents of {value_name}", *refused(
            run(keep=np.ones((64, 64)), keep_image=full), says="keep_image latents hold NaN")))
    for scheduler, steps in (("euler", 10**9), ("dpm++", 1001), ("heun", 5000), ("lcm", 51)):
        started = time.perf_counter()
        outcome = refused(run(num_inference_steps=steps, scheduler=scheduler), says=r"num_inference_steps=\d+")
        slow = time.perf_counter() - started > 5
        tries.append(("B", "compose", f"{scheduler}, steps {steps}", *(("bad", "took over 5 s") if slow else outcome)))
    tries.append(("B", "sweep spec", "steps [10**9]", *refused(
        lambda: load_spec({"layouts": [GOOD], "steps": [4, 10**9]}), says="steps 1000000000 must be")))
    tries.append(("B", "sweep spec", "lcm, steps 51", *refused(
        lambda: load_spec({"layouts": [GOOD], "steps": 51, "scheduler": "lcm"}), says="lcm runs at most 50 steps")))
    tries += [
        ("Q", "keep_all_but", "regions [5]",
         *refused(lambda: keep_all_but(layout(), [5]), says="keep_all_but: region")),
        ("Q", "keep_all_but", "scale=0", *refused(lambda: keep_all_but(layout(), [0], scale=0), says="scale=0")),
        ("Q", "compose_many", 'runs ["x"]', *refused(lambda: compose_many(pipe, ["x"]), (TypeError,), "run 0 must be")),
        ("Q", "compose", "callback=5", *refused(run(callback=5), (TypeError,), "callback must be")),
        ("Q", "compose", "keep of strings", *refused(run(keep=[["a"] * 64] * 64, keep_image=torch.zeros(1, 4, 8, 8)),
                                                     says="keep must be")),
        ("Q", "overlay_regions", "colours=[]", *refused(
            lambda: overlay_regions(Image.new("RGB", (64, 64)), layout(), colours=[]), says="colours must give one")),
    ]
    return tries


# -- C, D, P, N: the command line ------------------------------------------------------------------------
def bomb_header(width: int, height: int) -> bytes:
    """A small PNG whose header declares ``width`` x ``height``."""
    from benchmarks.redteam import declare_size, png_bytes

    return declare_size(png_bytes((8, 8), mode="RGB"), width, height)


def failing_save_try(folder: Path) -> tuple[str, str]:
    """The save after a finished render fails (a full disk): the render must be kept, and the error say where."""
    import mdwidgets.files

    real, calls = mdwidgets.files.save_png, []

    def full_disk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    spec = folder / "l.json"
    spec.write_text(json.dumps(GOOD))
    mdwidgets.files.save_png = full_disk
    try:
        code, err = cli(["render", str(spec), "-o", str(folder / "out.png"), "--model", "builtin:tiny-random",
                         "--steps", "1", "--seed", "0"])
    finally:
        mdwidgets.files.save_png = real
    kept = re.search(r"kept in (\S+\.png)", err)
    if code != 2 or not kept or not Path(kept.group(1)).is_file():
        return "bad", f"exit {code}: {err.strip()[-110:]!r}"
    Path(kept.group(1)).unlink()
    return "clean", err.strip()[-120:]


def cli_tries(folder: Path) -> list[Try]:
    """C, and the CLI's side of B and D."""
    precious = folder / "precious.txt"
    precious.write_text("the user's file")
    untouched = lambda: None if precious.read_text() == "the user's file" else "the user's file was changed"  # noqa: E731
    (folder / "l.json").write_text(json.dumps(GOOD))
    (folder / "bomb.png").write_bytes(bomb_header(20_000, 20_000))
    (folder / "deep.json").write_text("[" * 100_000)
    spec = folder / "spec.json"
    spec.write_text(json.dumps({"model": "builtin:tiny-random", "layouts": ["l.json"], "steps": 1}))
    render = ["render", str(folder / "l.json"), "-o", str(folder / "new.png"), "--model", "builtin:tiny-random"]
    tries: list[Try] = [
        ("C", "cli render", "save fails after the render", *failing_save_try(folder)),
        ("C", "cli example", "-o an existing file", *cli_clean(["example", "shapes", "-o", str(precious)],
                                                              "is a file", untouched)),
        ("C", "cli render", "--init-image declaring 20000x20000", *cli_clean(
            [*render, "--init-image", str(folder / "bomb.png")], "--init-image")),
        ("C", "cli sweep", 'spec "[" * 100000', *cli_clean(["sweep", str(folder / "deep.json")], "nested too deeply")),
        ("C", "cli sweep", "-o a file", *cli_clean(["sweep", str(spec), "-o", str(precious)], "is a file", untouched)),
        ("C", "cli sweep", "-o a folder that cannot be written", *cli_clean(
            ["sweep", str(spec), "-o", "/proc/mdwidgets-sweep"], "cannot write to the sweep output folder")),
        ("C", "cli sweep", "--clip ./missing offline", *clip_offline_try(spec, folder)),
        ("C", "cli render", '--redo ","', *cli_clean([*render, "--keep-from", str(folder / "l.json"), "--redo", ","],
                                                     "give region numbers")),
        ("B", "cli render", "--steps 1000000000", *cli_clean([*render, "--steps", "1000000000"],
                                                            "steps=1000000000 must be a whole number from 1 to 1000")),
        ("D", "cli render", "--device gpu", *cli_clean([*render, "--device", "gpu"], "device='gpu' is not a device")),
        ("D", "load_pipeline", "device='cuda' without CUDA", *no_cuda_try()),
    ]
    return tries


def clip_offline_try(spec: Path, folder: Path) -> tuple[str, str]:
    """``--clip ./missing`` with no network: transformers raises OSError (simulated: this machine may be online)."""
    import mdwidgets.render.scoring

    real = mdwidgets.render.scoring.ClipScorer.from_pretrained

    def offline(name):
        raise OSError(f"We couldn't connect to 'https://huggingface.co' to load the files, and couldn't find them "
                      f"in the cached files ({name})")

    mdwidgets.render.scoring.ClipScorer.from_pretrained = offline
    try:
        return cli_clean(["sweep", str(spec), "-o", str(folder / "clip-out"), "--clip", "./missing"],
                         "could not load the CLIP scorer")
    finally:
        mdwidgets.render.scoring.ClipScorer.from_pretrained = real


def no_cuda_try() -> tuple[str, str]:
    import torch

    from mdwidgets import load_pipeline

    real = torch.cuda.is_available
    torch.cuda.is_available = lambda: False
    try:
        return refused(lambda: load_pipeline("builtin:tiny-random", device="cuda"),
                       says="device='cuda' is not available")
    finally:
        torch.cuda.is_available = real


def reader_tries(folder: Path) -> list[Try]:
    """P: readers given a device file or a FIFO (each in a subprocess with a time and memory limit, so the old
    code's endless read or wait cannot take the machine with it)."""
    fifo = folder / "pipe.json"
    os.mkfifo(fifo)
    png_fifo = folder / "pipe.png"
    os.mkfifo(png_fifo)
    irregular = "not a regular file|Is a directory"  # a folder was refused by open() already
    return [("P", "cli layout", name, *bounded_cli(["layout", path], irregular)) for name, path in (
        ("/dev/zero", "/dev/zero"), ("a FIFO (.json)", str(fifo)), ("a FIFO (.png)", str(png_fifo)),
        ("a folder", str(folder)))]


def bounded_cli(args: list[str], says: str, seconds: float = 20) -> tuple[str, str]:
    """Clean if ``python -m mdwidgets ARGS`` exits 2 within ``seconds`` and 2 GB, its error matching ``says``."""
    def limit_memory():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    try:
        done = subprocess.run([sys.executable, "-m", "mdwidgets", *args], capture_output=True, text=True,
                              timeout=seconds, preexec_fn=limit_memory)
    except subprocess.TimeoutExpired:
        return "bad", f"still reading or waiting after {seconds:g} s"
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    if done.returncode != 2 or "Traceback" in done.stderr or not re.search(says, last):
        return "bad", f"exit {done.returncode}: {done.stderr.strip()[-110:]!r}"
    return "clean", last[:120]


def sweep_folder_tries(folder: Path) -> list[Try]:
    """N: the sweep's output folder and what it prints."""
    from mdwidgets.apps.sweep import write_results

    (folder / "l.json").write_text(json.dumps(GOOD))
    own = folder / "mine"
    own.mkdir()
    (own / "results.csv").write_text("my,own\n1,2\n")
    spec = folder / "n.json"
    spec.write_text(json.dumps({"model": "builtin:tiny-random", "layouts": ["l.json"], "steps": 1, "output": "mine"}))
    kept = lambda: None if (own / "results.csv").read_text() == "my,own\n1,2\n" else "results.csv replaced"  # noqa: E731
    escapes = folder / "esc.json"
    escapes.write_text(json.dumps({"model": "builtin:tiny-random", "layouts": ["\x1b[2J\x1b]0;pwned\x07.json"]}))
    header = folder / "header"
    header.mkdir()
    (header / "c1.png").write_bytes(b"png")
    (header / "c1.json").write_text(json.dumps({"cell": "c1", '=cmd|" /C calc"!A0': 1}))

    def escaped_header() -> str | None:
        write_results(header)
        first = (header / "results.csv").read_text().splitlines()[0]
        return None if ",=cmd" not in first and not first.startswith("=") else f"header: {first!r}"

    return [
        ("N", "cli sweep", "a results.csv of the user's own", *cli_clean(["sweep", str(spec)], "not written by a sweep",
                                                                         kept)),
        ("N", "write_results", "a sidecar key =cmd|...", *holds(escaped_header)),
        ("N", "cli sweep", "a layout entry with terminal escapes", *cli_clean(["sweep", str(escapes)], "not found")),
    ]


def corrupt_sidecar_try(folder: Path, pipe) -> tuple[str, str]:
    """N: a cell whose sidecar is corrupt renders again, and the summary counts it."""
    from mdwidgets.apps.sweep import load_spec, run_sweep

    spec = load_spec({"model": "builtin:tiny-random", "layouts": [GOOD], "steps": 1, "output": str(folder / "c")})
    run_sweep(spec, pipe=pipe, log=lambda line: None)
    cell = spec.cells()[0]
    (spec.output / f"{cell.id}.json").write_text('{"cell": "')  # a crash halfway (or an edit)
    lines: list[str] = []
    report = run_sweep(spec, pipe=pipe, log=lines.append)
    if report.rendered != 1 or "0 missing" not in lines[-1]:
        return "bad", f"rendered {report.rendered}: {lines[-1][:100]}"
    return "clean", lines[-1][:120]


# -- E, F: model files -----------------------------------------------------------------------------------
def model_folder(folder: Path) -> Path:
    """A pipeline folder holding only configs (loading reads them before any weight)."""
    configs = {"model_index.json": {"_class_name": "StableDiffusionPipeline",
                                    "unet": ["diffusers", "UNet2DConditionModel"]},
               "unet/config.json": {"_class_name": "UNet2DConditionModel", "in_channels": 4, "out_channels": 4},
               "scheduler/scheduler_config.json": {"_class_name": "DDIMScheduler", "num_train_timesteps": 1000}}
    for name, content in configs.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(content))
    return folder


class Tripwire:
    """Unpickling it writes a file: proof that a pickle was loaded."""

    def __init__(self, proof: Path) -> None:
        self.proof = proof

    def __reduce__(self):
        return (Path.write_text, (self.proof, "unpickled"))


def config_tries(folder: Path) -> list[Try]:
    """E: pipeline folders whose configs hold a list where a number belongs, or a huge number."""
    from mdwidgets import ModelError, load_pipeline

    cases = {
        "unet out_channels [4]": {"unet/config.json": {"out_channels": [4]}},
        "_class_name a list": {"model_index.json": {"_class_name": ["StableDiffusionPipeline"]}},
        "num_train_timesteps 1e9": {"scheduler/scheduler_config.json": {"num_train_timesteps": 1e9}},
    }
    tries: list[Try] = []
    for k, (name, changes) in enumerate(cases.items()):
        path = model_folder(folder / f"model{k}")
        for file, change in changes.items():
            content = json.loads((path / file).read_text())
            (path / file).write_text(json.dumps({**content, **change}))
        tries.append(("E", "load_pipeline", name, *refused(lambda p=path: load_pipeline(str(p), device="cpu"),
                                                           (ModelError,), r"must be")))
    return tries


def lora_tries(folder: Path) -> list[Try]:
    """F: LoRAs that are pickles, as a file and in a folder, without ``allow_pickle``: clean only if no
    unpickler ran at all (torch's ``weights_only`` loader would refuse this pickle's object, but it is
    still an unpickler reading an untrusted file)."""
    import torch

    from mdwidgets import ModelError, load_pipeline

    tries: list[Try] = []
    proof = folder / "unpickled.txt"
    lora_file = folder / "lora.bin"
    lora_file.write_bytes(pickle.dumps(Tripwire(proof)))
    lora_folder = folder / "lora"
    lora_folder.mkdir()
    (lora_folder / "pytorch_lora_weights.bin").write_bytes(pickle.dumps(Tripwire(proof)))
    real_load, unpickled = torch.load, []
    torch.load = lambda *args, **kwargs: unpickled.append(args[:1]) or real_load(*args, **kwargs)
    try:
        for name, lora in (("a .bin file", lora_file), ("a folder of .bin", lora_folder)):
            outcome = refused(lambda lo=lora: load_pipeline("builtin:tiny-random", device="cpu", lora=lo),
                              (ModelError,))
            ran = "the pickle ran" if proof.exists() else "torch.load read it" if unpickled else None
            tries.append(("F", "load_pipeline(lora=)", name, *(("bad", ran) if ran else outcome)))
            proof.unlink(missing_ok=True)
            unpickled.clear()
    finally:
        torch.load = real_load
    return tries


# -- G, H, M, O: files and threads -----------------------------------------------------------------------
def sixteen_bit_mask(value: int = 32768, size: int = 64) -> str:
    """A layout whose one mask is a 16-bit greyscale PNG of ``value`` everywhere."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((size, size), value, np.uint16)).save(buf, format="PNG")
    return json.dumps({**GOOD, "regions": [{"prompt": "x", "mask": base64.b64encode(buf.getvalue()).decode()}]})


def soft_mask_layout(masks: int = 16, side: int = 2048) -> Layout:
    """A valid layout of ``masks`` soft (noise) masks of ``side``² pixels: about 85 MiB as PNG text for 16 of 2048²."""
    rng = np.random.default_rng(0)
    regions = [Region(f"region {i}", mask=rng.random((side, side), dtype=np.float32)) for i in range(masks)]
    return Layout(side, side, "a background", regions)


def saved_png_reads_back(folder: Path, big: Layout) -> str | None:
    """H: what save_png writes, read_png_metadata reads; or the save refuses with LayoutError."""
    from PIL import Image

    from mdwidgets.files import read_png_metadata, save_png

    path = folder / "big.png"
    try:
        save_png(Image.new("RGB", (8, 8)), path, big)
    except LayoutError as exc:
        return None if "read back only up to" in str(exc) and not path.exists() else f"unclear: {exc}"
    try:
        read_png_metadata(path)
    except LayoutError as exc:
        return f"saved, then refused by its own reader: {str(exc)[:80]}"
    return None


def concurrent_exports(folder: Path, writers: int = 2) -> str | None:
    """M: writers exporting to the same name at once all keep their file."""
    from mdwidgets.files import write_new

    barrier, written = threading.Barrier(writers), []

    def export(k: int) -> None:
        def write(tmp: Path) -> None:
            barrier.wait(timeout=10)  # every writer has chosen its name before any writes
            tmp.write_text(f"export {k}")

        written.append(write_new(folder / "export.png", write))

    threads = [threading.Thread(target=export, args=(k,)) for k in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    contents = sorted(p.read_text() for p in set(written))
    return None if contents == [f"export {k}" for k in range(writers)] else f"kept {contents}"


def prompt_cache_race(pipe) -> str | None:
    """O: while one thread encodes, another brings more than the cache holds; the first must still get its prompts."""
    import mdwidgets.sampling.prompts as prompts

    cache = prompts.PromptCache(max_entries=256)
    cache.encode(pipe, ["a red circle"])
    real, flooded = prompts._encode, []

    def encode(pipe_, texts):
        if not flooded:  # the other thread, while this one encodes its new prompt
            flooded.append(1)
            worker = threading.Thread(target=cache.encode, args=(pipe, [f"prompt {i}" for i in range(300)]))
            worker.start()
            worker.join()
        return real(pipe_, texts)

    prompts._encode = encode
    try:
        embeds = cache.encode(pipe, ["a red circle", "a blue background"])
    finally:
        prompts._encode = real
    return None if embeds.embeds.shape[0] == 2 else "wrong number of embeddings"


def file_tries(folder: Path, pipe) -> list[Try]:
    def half_grey() -> str | None:
        value = Layout.from_json(sixteen_bit_mask()).regions[0].mask.mean()
        return None if abs(value - 0.5) < 0.01 else f"half grey (32768 of 65535) reads as {value:.3f}"

    return [
        ("G", "Layout.from_json", "16-bit mask, half grey", *holds(half_grey)),
        ("H", "save_png", "16 soft 2048x2048 masks", *holds(lambda: saved_png_reads_back(folder, soft_mask_layout()))),
        ("M", "write_new", "two exports to one name at once", *holds(lambda: concurrent_exports(folder))),
        ("O", "PromptCache.encode", "two threads, one bringing 300 prompts", *holds(lambda: prompt_cache_race(pipe))),
        ("N", "run_sweep", "a corrupt sidecar", *corrupt_sidecar_try(folder, pipe)),
    ]


def cause_tries(folder: Path) -> list[Try]:
    """Every try of every cause, in ``folder`` (a fresh temporary folder)."""
    import warnings

    from mdwidgets.pipelines.tiny import tiny_random_pipeline

    warnings.simplefilter("ignore")
    pipe = tiny_random_pipeline()
    return (compose_tries(pipe) + cli_tries(folder) + reader_tries(folder) + sweep_folder_tries(folder)
            + config_tries(folder) + lora_tries(folder) + file_tries(folder, pipe))
