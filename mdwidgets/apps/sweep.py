"""Render grids from a JSON spec: every combination of layouts and settings, resumable, split over processes.

    python -m mdwidgets sweep spec.json
    accelerate launch --multi_gpu --num_processes 8 -m mdwidgets sweep spec.json

A spec names a model, the layouts and settings (the :class:`~mdwidgets.Settings` fields; those not
given take its defaults); every setting given as a list is an axis and the cells are the Cartesian
product of the axes. ``overlap`` (``"average"``/``"layers"``, :data:`LAYOUT_AXES`) is a layout field a
spec may vary too: every layout is rendered under each mode given. Each cell becomes ``<id>.png``
(layout and settings embedded) and ``<id>.json`` (its row: settings, timings, scores), both written
atomically. Cells with both files are skipped, so an interrupted sweep continues where it stopped;
``results.csv`` is rebuilt from the sidecars at the end.

The output folder is a sweep's own: it carries a marker file (:data:`MARKER`), and a folder with a
``results.csv`` that no sweep wrote is refused rather than overwritten. A cell whose sidecar is not
its readable row (a crash, a full disk, an edit) counts as missing and renders again.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..catalog import DEFAULT_MODEL, ModelError
from ..errors import InputError
from ..files import load_layout_file, save_png, write_atomic
from ..layout import OVERLAP_MODES, Layout, open_regular, read_limited
from ..sampling.sampler import Run, compose_many
from ..sampling.schedulers import step_bounds
from ..settings import MAX_STEPS, SCHEDULERS, Settings, setting_problem

#: The cell-id abbreviation of every :class:`~mdwidgets.Settings` field; this order (not the fields') is
#: the order of settings in cell ids and loops, so ids of finished cells never change
#: (tests/test_settings.py checks every field has one).
_ID_PREFIX = {"seed": "s", "steps": "n", "bootstrap_steps": "b", "guidance_scale": "g", "scheduler": "", "eta": "eta",
              "window": "w", "stride": "st", "circular": "circ", "max_batch": "mb", "method": ""}
SETTINGS = tuple(_ID_PREFIX)
META_KEYS = ("model", "layouts", "output")
LAYOUT_AXES = ("overlap",)  #: layout fields a spec may vary (each layout is rendered with each value)
RESULTS = "results.csv"
MARKER = ".mdwidgets-sweep"  #: in every sweep output folder: the folder's results.csv is the sweep's to rebuild
MAX_SIDECAR_BYTES = 2**20  #: a cell's sidecar is its row, a few kB
BARRIER_TIMEOUT = timedelta(days=1)  # processes wait this long at the end for the slowest one


def allowed_keys() -> list[str]:
    """The keys a spec may use: the meta keys, the layout axes and every :class:`~mdwidgets.Settings` field."""
    return sorted([*META_KEYS, *LAYOUT_AXES, "seeds", *Settings.names()])


@dataclass(frozen=True)
class Cell:
    """One render of a sweep: a layout with one value per setting (``None`` values left out)."""

    id: str
    layout_name: str
    layout_source: str
    layout: Layout
    settings: dict[str, Any]
    layout_axes: dict[str, Any] = field(default_factory=dict)  #: the spec's layout-axis values (a row's columns)

    def run(self) -> Run:
        """What :func:`~mdwidgets.compose_many` renders for this cell (the defaults where not given)."""
        return Run(self.layout, Settings(**self.settings))


@dataclass
class SweepSpec:
    """A parsed spec: the model, the layouts ``(name, source, Layout)``, one list of values per
    setting (scalars are one-value axes) and the output folder."""

    model: str
    layouts: list[tuple[str, str, Layout]]
    axes: dict[str, list[Any]]
    output: Path
    overlap: list[str] | None = None  #: the overlap axis (None: each layout's own)

    def cells(self) -> list[Cell]:
        """All cells in a fixed order (layouts as listed, each under every overlap mode of the axis, then
        settings in :data:`SETTINGS` order)."""
        keys = [k for k in SETTINGS if k in self.axes]
        cells: dict[str, Cell] = {}
        for name, source, original in self.layouts:
            for layout in [original.replace(overlap=mode) for mode in self.overlap or [original.overlap]]:
                axes = {"overlap": layout.overlap} if self.overlap else {}
                for values in itertools.product(*(self.axes[k] for k in keys)):
                    settings = {k: v for k, v in zip(keys, values) if v is not None}
                    cell_id = make_cell_id(name, layout, settings, self.model)
                    cells.setdefault(cell_id, Cell(cell_id, name, source, layout, settings, axes))
        return list(cells.values())


def make_cell_id(name: str, layout: Layout, settings: dict[str, Any], model: str) -> str:
    """``<layout>[-layers]-<setting values>-<hash>``, e.g. ``shapes-s0-n25-b5-g7.5-1a2b3c4d``.

    It depends on the values only (not on the spec's key order or the other values of an axis),
    so extending a sweep keeps its finished cells. The hash covers the model, the layout's
    content and every setting: editing a layout file or a fixed setting makes new cells.
    """
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return str(int(value))
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, (list, tuple)):
            return "x".join(text(v) for v in value)
        return re.sub(r"[^A-Za-z0-9.]+", "_", str(value).replace("+", "p"))

    content = json.dumps({"model": model, "layout": layout.to_dict(), "settings": settings}, sort_keys=True)
    digest = hashlib.sha1(content.encode()).hexdigest()[:8]
    mode = [layout.overlap] if layout.overlap != OVERLAP_MODES[0] else []  # the default adds nothing: old ids stay
    parts = [text(name), *mode] + [f"{_ID_PREFIX[k]}{text(settings[k])}" for k in SETTINGS if k in settings]
    return "-".join([*parts, digest])


def load_spec(source: str | Path | dict[str, Any], *, output: str | Path | None = None) -> SweepSpec:
    """Read and check a sweep spec (a JSON file, or its dict with paths relative to the working folder).

    Layout entries are layout JSON files or mdwidgets PNGs, relative to the spec's folder, or
    inline layout objects (an optional ``"name"`` key names them). ``output`` overrides the
    spec's ``"output"`` folder (itself relative to the spec's folder; default ``<spec>-out``).
    Raises ``ValueError`` (or :class:`LayoutError` for layouts) naming the key or file at fault.
    """
    if isinstance(source, dict):
        data, folder, where, stem = source, Path.cwd(), "sweep spec", "sweep"
    else:
        path = Path(source)
        folder, where, stem = path.parent, str(path), path.stem
        try:
            data = json.loads(read_limited(path).decode("utf-8"))
        except OSError as exc:
            raise ValueError(f"cannot read sweep spec {path}: {exc.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        except RecursionError:
            raise ValueError(f"{path}: nested too deeply to be a sweep spec") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a sweep spec is a JSON object with 'layouts' and settings, "
                         f"not {type(data).__name__}")
    allowed = allowed_keys()
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}; allowed keys: {', '.join(allowed)}")
    if "seed" in data and "seeds" in data:
        raise ValueError(f"{where}: give 'seed' or 'seeds', not both")
    if "layouts" not in data:
        raise ValueError(f"{where}: 'layouts' is missing: list layout JSON files (relative to the spec), "
                         "mdwidgets PNGs or layout objects")
    model = data.get("model", DEFAULT_MODEL)
    if not isinstance(model, str) or not model:
        raise ValueError(f"{where}: 'model'={model!r} must be one model name (run one sweep per model)")
    entries = data["layouts"] if isinstance(data["layouts"], list) else [data["layouts"]]
    if not entries:
        raise ValueError(f"{where}: axis 'layouts' is empty; give at least one layout")
    layouts = [_load_layout(entry, folder, f"{where}: layouts[{i}]") for i, entry in enumerate(entries)]

    overlap = _overlap_axis(data.get("overlap"), where)
    axes: dict[str, list[Any]] = {}
    for key, value in data.items():
        if key in META_KEYS or key in LAYOUT_AXES:
            continue
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError(f"{where}: axis {key!r} is empty; give at least one value or remove the key")
        axes["seed" if key == "seeds" else key] = values
    axes.setdefault("seed", [0])
    _check_axes(axes, where)

    if output is None:
        output = data.get("output", f"{stem}-out")
        if not isinstance(output, str) or not output:
            raise ValueError(f"{where}: 'output'={output!r} must be a folder name")
        output = folder / output
    return SweepSpec(model, layouts, axes, Path(output), overlap)


def _overlap_axis(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError(f"{where}: axis 'overlap' is empty; give at least one value or remove the key")
    for mode in values:
        if not isinstance(mode, str) or mode not in OVERLAP_MODES:
            raise ValueError(f"{where}: overlap {mode!r:.60} must be one of {', '.join(map(repr, OVERLAP_MODES))}")
    return list(dict.fromkeys(values))


def _check_axes(axes: dict[str, list[Any]], where: str) -> None:
    """Every value of every axis, and every steps × bootstrap × scheduler combination, checked
    before the first cell renders (a bad value must not crash a sweep halfway)."""
    for key, values in axes.items():
        for value in values:
            problem = setting_problem(key, value)
            if problem:
                raise ValueError(f"{where}: {key} {value!r:.60} must be {problem}")
    for name in axes.get("scheduler", []):
        if name is not None and name not in SCHEDULERS:
            raise ValueError(f"{where}: scheduler {name!r} is not known; use one of {', '.join(sorted(SCHEDULERS))}")
    for steps, bootstrap, name in itertools.product(axes.get("steps", [None]), axes.get("bootstrap_steps", [None]),
                                                    axes.get("scheduler", [None])):
        if steps is not None and bootstrap is not None and bootstrap > steps:
            raise ValueError(f"{where}: bootstrap_steps {bootstrap} is more than steps {steps}")
        least, most = step_bounds(SCHEDULERS[name][0]) if name is not None else (1, MAX_STEPS)
        if steps is not None and steps < least:
            raise ValueError(f"{where}: scheduler {name} needs at least {least} steps, not {steps}")
        if steps is not None and steps > most:
            raise ValueError(f"{where}: scheduler {name} runs at most {most} steps, not {steps}")


def _load_layout(entry: Any, folder: Path, where: str) -> tuple[str, str, Layout]:
    if isinstance(entry, dict):
        data = dict(entry)
        name = str(data.pop("name", "inline"))
        try:
            return name, "inline", Layout.from_dict(data)
        except InputError as exc:
            raise type(exc)(f"{where}: {exc}") from None
    if not isinstance(entry, str) or not entry:
        raise ValueError(f"{where}={entry!r}: must be a layout file name or a layout object")
    path = folder / entry
    if not path.is_file():
        raise InputError(f"{where}: layout file {path} not found (layout paths are relative to the spec's folder)")
    try:
        layout = load_layout_file(path)[0]
    except InputError as exc:
        raise type(exc)(f"{where}: {exc}") from None
    return path.stem, entry, layout


# -- running ---------------------------------------------------------------------------------------
@dataclass
class Processes:
    """This process's place among the processes of one sweep (one process without accelerate)."""

    index: int = 0
    count: int = 1
    device: Any = None
    wait: Callable[[], None] = lambda: None  # barrier: returns once every process has called it


def current_processes() -> Processes:
    """``accelerate.PartialState`` when accelerate is installed (works under ``accelerate launch``
    and ``torchrun``; CPU-only machines use gloo), else a single process."""
    try:
        from accelerate import PartialState
    except ImportError:
        return Processes()
    import torch

    accelerator = getattr(torch, "accelerator", None)
    has_accelerator = accelerator.is_available() if accelerator else torch.cuda.is_available()
    cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes") or not has_accelerator
    state = PartialState(cpu=cpu, timeout=BARRIER_TIMEOUT)
    return Processes(state.process_index, state.num_processes, state.device, state.wait_for_everyone)


def is_done(output: Path, cell: Cell) -> bool:
    """Whether the cell's PNG exists and its sidecar is its row (each is written atomically; a sidecar that
    is not readable JSON naming the cell makes it render again)."""
    return (output / f"{cell.id}.png").is_file() and isinstance(_sidecar_row(output / f"{cell.id}.json"), dict)


def _sidecar_row(sidecar: Path) -> dict[str, Any] | str:
    """A cell's row from its sidecar, or why it is not one."""
    try:
        row = json.loads(read_limited(sidecar, MAX_SIDECAR_BYTES).decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        return str(exc)
    return row if isinstance(row, dict) and row.get("cell") == sidecar.stem else "not this cell's row"


def claim_output(output: Path) -> None:
    """Make ``output`` a sweep's folder (its :data:`MARKER`), or check that it is one, before a model loads:
    a file there, a folder that cannot be made or written, and a ``results.csv`` that no sweep wrote (it
    would be rebuilt) are refused with a ``ValueError``. Folders of sweeps from before the marker (their
    ``results.csv`` starts with the sweep's own columns) are claimed."""
    if output.exists() and not output.is_dir():
        raise ValueError(f"sweep output {output} is a file; give a folder (-o or the spec's 'output')")
    results = output / RESULTS
    if not (output / MARKER).is_file() and results.exists() and not _a_sweeps_results(results):
        raise ValueError(f"{results} was not written by a sweep (the folder has no {MARKER}) and a sweep "
                         "rebuilds that file; choose another output folder, or move the file away")
    try:
        output.mkdir(parents=True, exist_ok=True)
        write_atomic(output / MARKER, lambda tmp: tmp.write_text("mdwidgets sweep output: results.csv is rebuilt "
                                                                  "from the cells' sidecars\n"))
    except OSError as exc:
        raise ValueError(f"cannot write to the sweep output folder {output}: {exc.strerror or exc}") from None


def _a_sweeps_results(path: Path) -> bool:
    """Whether ``path`` looks like a results.csv a sweep wrote: empty, or its header the sweep's first columns."""
    try:
        with open_regular(path) as fh:
            head = fh.read(64)
    except OSError:
        return False
    return head.strip() == b"" or head.startswith(b"cell,layout,layout_source")


@dataclass
class SweepReport:
    """What :func:`run_sweep` did. ``rendered`` counts every process's new cells (main process only)."""

    total: int
    skipped: int
    rendered: int
    mine: int
    seconds: float
    results: Path | None = None


def run_sweep(
    spec: SweepSpec,
    *,
    pipe=None,
    clip: str | None = None,
    dry_run: bool = False,
    batch: int = 1,
    log: Callable[[str], Any] = print,
    progress: bool = False,
) -> SweepReport:
    """Render the spec's pending cells, this process's share of them, and write ``results.csv``.

    Process ``k`` of ``n`` renders pending cells ``k, k + n, …``; every process lists the
    pending cells before any of them renders, so they agree. ``pipe`` reuses a loaded pipeline
    (default: ``load_pipeline(spec.model)`` on this process's device, once). ``clip`` adds CLIP
    scores with :class:`~mdwidgets.render.scoring.ClipScorer` (a hub id). With ``dry_run`` nothing is
    rendered: the cells and which are done are listed. ``batch`` renders up to that many cells
    together with :func:`~mdwidgets.compose_many` (shared UNet calls: faster on a GPU, a little on a
    CPU; each cell's image equals its own render up to float rounding); an interrupted sweep then
    loses at most that many cells' work. ``progress`` shows ``tqdm`` bars (cells and each
    render's steps, with ETA) on stderr; log lines then print above them.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch={batch!r} must be a whole number of cells, 1 or more")
    started = time.perf_counter()
    procs = current_processes()
    main = procs.index == 0
    output = spec.output
    cells = spec.cells()
    pending = [c for c in cells if not is_done(output, c)]
    skipped = len(cells) - len(pending)
    if dry_run:
        if main:
            log(f"{len(cells)} cells in {output}: {skipped} done, {len(pending)} to render")
            todo = {c.id for c in pending}
            for cell in cells:
                log(f"  {'todo' if cell.id in todo else 'done'}  {cell.id}")
        return SweepReport(len(cells), skipped, 0, 0, time.perf_counter() - started)

    claim_output(output)
    procs.wait()  # everyone has listed the pending cells before anyone renders
    mine = pending[procs.index :: procs.count]
    if mine:
        scorers = _scorers(clip, spec.model)  # a scorer that cannot load fails before the model loads
        if pipe is None:
            from ..progress import loading_bars

            with loading_bars(progress):
                pipe = _load_pipeline(spec.model, procs.device)
        _render_share(pipe, mine, spec, scorers=scorers, batch=batch, procs=procs, log=log, progress=progress)
    procs.wait()
    report = SweepReport(len(cells), skipped, 0, len(mine), 0.0)
    if main:
        report.results, _ = write_results(output)
        finished = sum(is_done(output, cell) for cell in cells)
        report.rendered = finished - skipped
        report.seconds = time.perf_counter() - started
        log(f"sweep: {len(cells)} cells, {report.rendered} rendered, {skipped} already done, "
            f"{len(cells) - finished} missing; {report.seconds:.1f} s; wrote {report.results}")
    report.seconds = time.perf_counter() - started
    return report


def _render_share(pipe, mine: list[Cell], spec: SweepSpec, *, scorers, batch: int, procs, log, progress: bool
                  ) -> None:
    """Render this process's cells group by group, logging each group (above the bars, if shown)."""
    from .. import progress as bars

    prefix = f"[process {procs.index}] " if procs.count > 1 else ""
    cells = bars.bar(len(mine), f"{prefix}sweep", enabled=progress, unit="cell", position=0)
    steps = bars.bar(None, "render", enabled=progress, position=1, leave=False)

    def say(message: str) -> None:
        with cells.external_write_mode():  # the bars step aside for the line, then redraw below it
            log(message)

    done = 0
    with cells, steps:
        for group in _batches(mine, batch):
            rows = render_cells(pipe, group, spec.output, model=spec.model, scorers=scorers, process=procs.index,
                                callback=bars.step_callback(steps))
            cells.update(len(group))
            done += len(group)  # (a disabled bar counts nothing)
            shared = f" ({len(group)} cells together)" if len(group) > 1 else ""
            names = ", ".join(c.id for c in group)
            say(f"{prefix}{done}/{len(mine)} {names}: {rows[0]['time_total']:.1f} s{shared}")


def _load_pipeline(model: str, device: Any):
    from ..pipelines.loading import load_pipeline

    cuda = device is not None and getattr(device, "type", None) == "cuda"
    return load_pipeline(model, device=device, dtype="float16" if cuda else None)


def _scorers(clip: str | None, model: str) -> list[tuple[str, Callable]]:
    from ..render.figures import adherence_scorer
    from ..render.scoring import ClipScorer

    scorers: list[tuple[str, Callable]] = [("shapes_", adherence_scorer(model))]
    if clip:
        try:
            scorers.append(("", ClipScorer.from_pretrained(clip)))
        except Exception as exc:  # noqa: BLE001 - transformers/hub raise many kinds (OSError offline)
            raise ModelError(f"could not load the CLIP scorer {clip!r}: {type(exc).__name__}: {exc}") from None
    return scorers


def render_cells(pipe, cells: list[Cell], output: Path, *, model: str, scorers=(), process: int = 0,
                 callback: Callable[[Any], Any] | None = None) -> list[dict[str, Any]]:
    """Render cells together (:func:`~mdwidgets.compose_many`; one cell is exactly :func:`compose`), score each,
    write every ``<id>.png`` and ``<id>.json`` atomically, and return the rows.

    Cells rendered together overlap in time: each one's ``time_*`` span the shared run (the
    ``batch`` column says how many cells shared it), so they do not add up to the sweep's time.
    ``callback`` goes to the first run (the runs step together): a progress bar's.
    """
    runs = [cell.run() for cell in cells]
    runs[0].callback = callback
    max_batch = {run.settings.max_batch for run in runs}
    if len(max_batch) > 1:
        raise ValueError("cells rendered together must share max_batch")
    results = compose_many(pipe, runs, max_batch=max_batch.pop())  # one run: exactly compose()
    rows = []
    for cell, result in zip(cells, results):
        settings = {**cell.settings, **result.settings, "model": model}
        scored = time.perf_counter()
        scores: dict[str, Any] = {}
        for prefix, scorer in scorers:
            scores.update({f"{prefix}{k}": v for k, v in (scorer(result.image, cell.layout) or {}).items()})
        row = {
            "cell": cell.id, "layout": cell.layout_name, "layout_source": cell.layout_source, **cell.layout_axes,
            **settings,
            "process": process, "batch": len(cells),
            **{f"time_{k}": result.timings[k] for k in ("encode", "sample", "decode", "total")},
            "time_score": time.perf_counter() - scored, **scores,
        }
        _write_cell(output, cell, result.image, settings, row)
        rows.append(row)
    return rows


def _write_cell(output: Path, cell: Cell, image, settings: dict[str, Any], row: dict[str, Any]) -> None:
    save_png(image, output / f"{cell.id}.png", cell.layout, settings)  # atomic
    write_atomic(output / f"{cell.id}.json", lambda tmp: tmp.write_text(json.dumps(row, indent=1) + "\n"))


def _batches(cells: list[Cell], size: int) -> list[list[Cell]]:
    """Groups of at most ``size`` cells in order; cells with different ``max_batch`` never share a group."""
    by_max_batch: dict[Any, list[Cell]] = {}
    for cell in cells:
        by_max_batch.setdefault(cell.settings.get("max_batch"), []).append(cell)
    return [group[i : i + size] for group in by_max_batch.values() for i in range(0, len(group), size)]


def write_results(output: Path) -> tuple[Path, int]:
    """Rebuild ``results.csv`` from the sidecars of every finished cell in ``output`` (sorted by
    id) — this spec's and those of earlier specs that wrote there — and return it and the row count.
    Text that a spreadsheet would run as a formula is written with a leading apostrophe, in the
    header (a sidecar's keys) as in the values."""
    rows = []
    for sidecar in sorted(output.glob("*.json")):
        if not sidecar.with_suffix(".png").is_file():
            continue
        row = _sidecar_row(sidecar)
        if not isinstance(row, dict):
            warnings.warn(f"{sidecar}: unreadable sidecar left out of {RESULTS} ({row}); the cell renders again "
                          "when the sweep runs", stacklevel=2)
            continue
        rows.append({_csv_safe(str(key)): _csv_safe(value) for key, value in row.items()})  # header cells too
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)

    path = output / RESULTS
    write_atomic(path, write)
    return path, len(rows)


def _csv_safe(value: Any) -> Any:
    """A CSV value that spreadsheets show as text (OWASP: =, +, -, @, tab, CR start formulas)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
