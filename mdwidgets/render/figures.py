"""Views that make MultiDiffusion visible: filmstrips, per-prompt paths, setting comparisons.

Plain functions on recorded step events and results; the Studio and the notebooks both use them.

    recorder = Recorder(every=5)
    result = compose(pipe, layout, callback=recorder, region_x0=True, seed=0)
    filmstrip(recorder, pipe)            # fused x0 prediction over the steps
    prompt_paths(recorder, layout, pipe) # each prompt's own x0 next to its mask and the fusion
    compare(pipe, layout, "bootstrap_steps", [0, 5, 10], seed=0, num_inference_steps=25)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ..layout import OVERLAP_MODES, Layout
from ..pipelines.facts import model_family, model_name, vae_scale_factor
from ..sampling.images import decode_latents
from ..sampling.sampler import ComposeResult, Run, StepEvent, compose, compose_many
from ..settings import Settings
from .preview import overlay_regions, previewer_for, region_colour


@dataclass
class RecordedStep:
    step: int
    timestep: float
    latents: torch.Tensor
    x0: torch.Tensor
    region_x0: torch.Tensor | None
    bootstrapping: bool


class Recorder:
    """A ``compose`` callback that keeps chosen steps (CPU copies) for the views.

    Args:
        steps: step indices to keep; default every ``every``-th step plus the last one.
        every: spacing when ``steps`` is not given.
        then: another callback to call after recording (e.g. a progress display).
    """

    def __init__(self, steps: Sequence[int] | None = None, every: int = 5,
                 then: Callable[[StepEvent], Any] | None = None) -> None:
        self.wanted = None if steps is None else set(steps)
        self.every = every
        self.then = then
        self.steps: list[RecordedStep] = []
        self.weights: torch.Tensor | None = None

    def __call__(self, event: StepEvent) -> None:
        last = event.step == event.num_steps - 1
        keep = event.step in self.wanted if self.wanted is not None else (event.step % self.every == 0 or last)
        if keep:
            self.weights = event.weights.cpu()
            self.steps.append(RecordedStep(
                event.step, event.timestep, event.latents.cpu().clone(), event.x0.cpu().clone(),
                None if event.region_x0 is None else event.region_x0.cpu().clone(), event.bootstrapping,
            ))
        if self.then is not None:
            self.then(event)


@lru_cache(maxsize=8)
def _font(size: int):
    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except Exception:  # noqa: BLE001 - any font problem: fall back to PIL's bitmap font
        return ImageFont.load_default()


def _to_image(latents: torch.Tensor, pipe, decode: bool, size: tuple[int, int]) -> Image.Image:
    if decode:
        return decode_latents(pipe.vae, latents).resize(size)
    return previewer_for(pipe.vae)(latents, size)


def image_grid(
    cells: Sequence[Sequence[Image.Image | None]],
    *,
    column_titles: Sequence[str] = (),
    row_titles: Sequence[str] = (),
    cell_notes: Sequence[Sequence[str]] | None = None,
    cell_size: int = 192,
    gap: int = 6,
    footer: str = "",
) -> Image.Image:
    """A labelled grid of images (rows × columns), each scaled to fit its cell (enlarged too: a 128 px
    picture fills a 192 px cell); ``None`` leaves a cell blank. Notes may have several lines;
    ``footer`` is a line under the grid (wrapped to its width)."""
    rows, cols = len(cells), max(len(r) for r in cells)
    font, small = _font(max(11, cell_size // 14)), _font(max(10, cell_size // 16))
    top = (cell_size // 7 + 8) if column_titles else gap
    left = (cell_size // 2 + 20) if row_titles else gap
    lines = max((n.count("\n") + 1 for row in (cell_notes or []) for n in row if n), default=1)
    line_h = max(10, cell_size // 16) + 4
    note_h = (max(cell_size // 8, lines * line_h) + 6) if cell_notes else 0
    width = left + cols * (cell_size + gap)
    footer_lines = _wrap(footer, small, width - 2 * gap) if footer else []
    height = top + rows * (cell_size + note_h + gap) + len(footer_lines) * line_h + (gap if footer_lines else 0)
    grid = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(grid)
    for c, title in enumerate(column_titles):
        draw.text((left + c * (cell_size + gap) + cell_size / 2, top / 2), title, fill="black", font=font, anchor="mm")
    for r, row in enumerate(cells):
        y = top + r * (cell_size + note_h + gap)
        if r < len(row_titles):
            draw.multiline_text((gap, y + cell_size / 2), row_titles[r], fill="black", font=small, anchor="lm")
        for c, image in enumerate(row):
            x = left + c * (cell_size + gap)
            if image is not None:
                thumb = ImageOps.contain(image, (cell_size, cell_size), Image.Resampling.LANCZOS)  # up or down
                grid.paste(thumb, (x + (cell_size - thumb.width) // 2, y + (cell_size - thumb.height) // 2))
            if cell_notes and r < len(cell_notes) and c < len(cell_notes[r]) and cell_notes[r][c]:
                draw.multiline_text((x + cell_size / 2, y + cell_size + note_h / 2), cell_notes[r][c], fill="black",
                                    font=small, anchor="mm", align="center")
    y = top + rows * (cell_size + note_h + gap)
    for line in footer_lines:
        draw.text((gap, y), line, fill="black", font=small)
        y += line_h
    return grid


def _wrap(text: str, font, width: int) -> list[str]:
    """``text`` broken into lines no wider than ``width`` pixels in ``font`` (at spaces)."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def filmstrip(
    recorder: Recorder, pipe, *, show: str = "x0", decode: bool = False, cell_size: int = 160
) -> Image.Image:
    """The recorded steps side by side: the fused x0 prediction (``show="x0"``) or the noisy latent.

    ``decode=False`` uses the cheap linear latent→RGB preview; ``True`` decodes with the VAE.
    """
    if show not in ("x0", "latents"):
        raise ValueError(f"show={show!r} must be 'x0' or 'latents'")
    if not recorder.steps:
        raise ValueError("the recorder holds no steps; pass it to compose(callback=recorder) first")
    size = _canvas_size(recorder, pipe)
    images = [_to_image(getattr(s, show), pipe, decode, size) for s in recorder.steps]
    titles = [f"step {s.step + 1} · t={s.timestep:.0f}" + (" · boot" if s.bootstrapping else "")
              for s in recorder.steps]
    return image_grid([images], column_titles=titles, cell_size=cell_size)


def prompt_paths(recorder: Recorder, layout: Layout, pipe, *, decode: bool = False,
                 cell_size: int = 144) -> Image.Image:
    """Per recorded step: each prompt's own x0 over the *whole* canvas, outlined where its mask is,
    and the fused x0 — the core idea of the paper made visible. Needs ``compose(region_x0=True)``."""
    if not recorder.steps or recorder.steps[0].region_x0 is None:
        raise ValueError("record with compose(..., callback=recorder, region_x0=True) to see the prompts' paths")
    size = (layout.width, layout.height)
    weights = recorder.weights
    rows, row_titles = [], []
    for s in recorder.steps:
        row = []
        for v in range(len(layout.prompts)):
            image = _to_image(s.region_x0[v : v + 1], pipe, decode, size)
            row.append(_outline_weight(image, weights[v, 0], region_colour(v - 1) if v else (90, 90, 90)))
        row.append(_to_image(s.x0, pipe, decode, size))
        rows.append(row)
        row_titles.append(f"step {s.step + 1}\nt={s.timestep:.0f}" + ("\nbootstrap" if s.bootstrapping else ""))
    titles = [_short(p) for p in layout.prompts] + ["fused"]
    return image_grid(rows, column_titles=titles, row_titles=row_titles, cell_size=cell_size)


def _outline_weight(image: Image.Image, weight: torch.Tensor, colour) -> Image.Image:
    """Dim the image where the prompt's fusion weight is 0 and tint where it counts."""
    mask = Image.fromarray((weight.clamp(0, 1) * 255).byte().numpy()).resize(image.size, Image.NEAREST)
    dim = Image.blend(image, Image.new("RGB", image.size, (255, 255, 255)), 0.65)
    out = Image.composite(image, dim, mask)
    draw = ImageDraw.Draw(out)
    bbox = mask.getbbox()
    if bbox:
        draw.rectangle((bbox[0], bbox[1], bbox[2] - 1, bbox[3] - 1), outline=colour, width=max(2, image.width // 96))
    return out


def _short(prompt: str, limit: int = 24) -> str:
    return prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"


def _canvas_size(recorder: Recorder, pipe) -> tuple[int, int]:
    _, _, h, w = recorder.steps[0].latents.shape
    scale = vae_scale_factor(pipe.vae)
    return (w * scale, h * scale)


# -- comparisons ---------------------------------------------------------------------------------
@dataclass
class Comparison:
    """Results of one layout rendered with several values of one setting."""

    setting: str
    values: list[Any]
    results: list[ComposeResult]
    scores: list[dict[str, float] | None] = field(default_factory=list)
    image: Image.Image | None = None
    seconds: float = 0.0  #: wall-clock time of all cells
    batched: bool = False  #: cells were sampled together (their ``timings`` overlap)
    default: Any = None  #: the model's own value of the setting (its cell's title says "default")
    titles: list[str] = field(default_factory=list)  #: the cells' titles, as in the picture

    def table(self) -> list[dict[str, Any]]:
        """One row per cell: the value and its scores."""
        return [{self.setting: v, **(s or {})} for v, s in zip(self.values, self.scores)]


def adherence_scorer(model: str | None) -> Callable[[Image.Image, Layout], dict[str, float] | None]:
    """The default ``score(image, layout)`` for a model's pictures (the one place outside
    :mod:`mdwidgets.shapes` that reaches into it): the built-in shapes scorer, exact for
    builtin:shapes and for any model whose prompts name its palette colours, ``None`` for others'
    prompts. Pass a :class:`mdwidgets.render.scoring.ClipScorer` for real models."""
    from ..shapes.adherence import shapes_adherence

    return shapes_adherence


def bootstrap_values(steps: int, current: int | None = None) -> list[int]:
    """The default bootstrap sweep: 0, 10%, 20% and 40% of ``steps`` and the ``current`` setting (the
    model's default, or the Studio's slider), duplicates dropped."""
    return sorted({round(f * steps) for f in (0, 0.1, 0.2, 0.4)} | ({current} if current is not None else set()))


def compare(
    pipe,
    layout: Layout,
    setting: str = "bootstrap_steps",
    values: Sequence[Any] | None = None,
    *,
    score: Callable[[Image.Image, Layout], dict[str, float]] | None = None,
    overlay: bool = True,
    cell_size: int = 224,
    batch: bool = True,
    max_batch: int | None = None,
    settings: Settings | None = None,
    **compose_kwargs: Any,
) -> Comparison:
    """Render ``layout`` once per value of ``setting`` (a :class:`~mdwidgets.Settings` field by its
    :func:`compose` keyword, e.g. ``"guidance_scale"`` or ``"num_inference_steps"``, or
    ``"feather"``: every region's soft edge in pixels, or ``"overlap"``: the layout's overlap mode, by default
    ``"average"`` and ``"layers"``) with the same seed (default 0), and lay the
    results side by side with titles and, per cell, an adherence score.

    The default sweep is bootstrapping at 0, 10%, 20% and 40% of the steps (default: the model's)
    and at the model's default share (:func:`bootstrap_values`); the cell of the model's own value
    of the setting says "(default)" in its title. ``score(image, layout)`` returns named numbers;
    the default is :func:`adherence_scorer` for the pipeline's model (no score for prompts without
    palette colours), whose cells read "right 2/3 · in box 3/3" (objects in their prompt's colour
    and shape inside their box; objects inside their box) and "IoU 0.52", explained in a line under
    the grid. Other scorers show their first two numbers. Pass a
    :class:`mdwidgets.render.scoring.ClipScorer` for real models.

    Prompt embeddings are encoded once and reused by every cell (the cache in :func:`compose`).
    With ``batch=True`` the cells are sampled together (:func:`mdwidgets.sampling.sampler.compose_many`):
    their UNet rows share calls, as many as the estimated free memory allows, or ``max_batch``
    rows per call. ``batch=False`` renders the cells one after another (each cell's
    ``timings`` are then its own). Both give the same images up to float rounding.
    """
    callback = compose_kwargs.pop("callback", None)
    fixed = _fixed_settings(setting, settings, compose_kwargs)
    resolved = fixed.resolved(model_family(pipe))
    name = dict(zip(Settings.keywords(), Settings.names())).get(setting, setting)  # the field it stands for
    default = getattr(resolved, name, None)
    if values is None and setting == "overlap":
        values = OVERLAP_MODES
    if values is None:
        if setting != "bootstrap_steps":
            raise ValueError(f"give the values to compare for {setting!r}")
        values = bootstrap_values(resolved.steps, resolved.bootstrap_steps)
    if score is None:
        score = adherence_scorer(model_name(pipe))
    if setting == "feather":  # a region setting: every region gets the value
        runs = [Run(layout.with_regions([r.replace(feather=v) for r in layout.regions]), fixed, callback)
                for v in values]
    elif setting == "overlap":  # a layout field
        runs = [Run(layout.replace(overlap=v), fixed, callback) for v in values]
    else:
        runs = [Run(layout, fixed.replace(**{name: value}), callback) for value in values]
    started = time.perf_counter()
    if batch:
        results = compose_many(pipe, runs, max_batch=max_batch)
    else:
        results = [compose(pipe, run.layout, settings=run.settings.replace(max_batch=max_batch),
                           callback=run.callback) for run in runs]
    seconds = time.perf_counter() - started
    titles = [f"{setting} = {v}" + (" (default)" if v == default else "") for v in values]
    scores, image = _scored_grid(results, titles, score, overlay, cell_size)
    return Comparison(setting, list(values), results, scores, image, seconds, batch, default, titles)


def _scored_grid(results: Sequence[ComposeResult], titles: Sequence[str], score, overlay: bool, cell_size: int,
                 notes: Sequence[str] = ()) -> tuple[list[dict[str, float] | None], Image.Image]:
    """Each result's score and the grid of the results, titled, each cell's note (``notes`` first) under it."""
    scores, cells, captions = [], [], []
    for k, result in enumerate(results):
        cell_score = score(result.image, result.layout) if score else None
        scores.append(cell_score)
        cells.append(overlay_regions(result.image, result.layout, fill=False) if overlay else result.image)
        captions.append("\n".join(filter(None, [notes[k] if k < len(notes) else "",
                                                score_note(cell_score, result.layout)])))
    legend = SCORE_LEGEND if any(s and "object_right" in s for s in scores) else ""
    return scores, image_grid([cells], column_titles=titles, cell_notes=[captions], cell_size=cell_size, footer=legend)


#: the cells of :func:`compare_methods`: title and the compose() keywords that make it
METHOD_CELLS = (("fusion", {"method": "fusion"}), ("fusion, bootstrap 0", {"method": "fusion", "bootstrap_steps": 0}),
                ("attention", {"method": "attention"}), ("hybrid", {"method": "hybrid"}))


def compare_methods(
    pipe,
    layout: Layout,
    *,
    settings: Settings | None = None,
    score: Callable[[Image.Image, Layout], dict[str, float]] | None = None,
    overlay: bool = True,
    cell_size: int = 224,
    **compose_kwargs: Any,
) -> Comparison:
    """The same layout and seed (default 0) rendered by each region method (:data:`METHOD_CELLS`): fusion,
    fusion without bootstrapping, regional attention and the hybrid, side by side. Under each cell: its
    UNet rows per step ("6→4": while bootstrapping → after), its median seconds per step and its
    adherence score (:func:`compare`'s scorer and notes; ``score`` as there).

    The cells render one after another, so each one's seconds are its own (``result.timings``);
    prompt embeddings are encoded once for all. The fixed settings are :func:`compose` keywords or one
    ``settings=`` as for :func:`compare` (``bootstrap_steps`` applies to fusion and hybrid; not
    ``method``); ``callback`` gets every cell's step events. Returns a :class:`Comparison` with
    ``setting="method"``, the cells' titles as values and the picture as ``image``."""
    callback = compose_kwargs.pop("callback", None)
    fixed = _fixed_settings("method", settings, compose_kwargs)
    score = adherence_scorer(model_name(pipe)) if score is None else score
    started = time.perf_counter()
    results = [compose(pipe, layout, settings=fixed.replace(**cell), callback=callback) for _, cell in METHOD_CELLS]
    seconds = time.perf_counter() - started
    titles = [title for title, _ in METHOD_CELLS]
    scores, image = _scored_grid(results, titles, score, overlay, cell_size, [cost_note(r) for r in results])
    return Comparison("method", titles, results, scores, image, seconds, False, "fusion", titles)


def cost_note(result: ComposeResult) -> str:
    """"6→4 rows/step · 0.12 s/step": a result's UNet rows per step (while bootstrapping → after, when they
    differ) and its median seconds per step."""
    rows, steps = result.timings.get("rows") or [0], sorted(result.timings.get("steps") or [0.0])
    shown = f"{rows[0]}" if rows[0] == rows[-1] else f"{rows[0]}→{rows[-1]}"
    return f"{shown} rows/step · {steps[len(steps) // 2]:.2g} s/step"


def _fixed_settings(setting: str, settings: Settings | None, keywords: dict[str, Any]) -> Settings:
    """What every cell of a comparison shares: ``settings`` or compose() ``keywords`` (checked), one seed."""
    if settings is not None and keywords:
        raise TypeError(f"compare() got settings= and {', '.join(keywords)}; give one or the other")
    if setting in keywords:
        raise ValueError(f"{setting!r} is the compared setting; do not pass it as a fixed keyword too")
    known = [k for k in Settings.keywords() if k != "max_batch"]  # the settings, by compose() keyword
    if setting not in ("feather", "overlap") and setting not in known:
        raise ValueError(f"cannot compare {setting!r}: choose a compose() keyword ({', '.join(known)}), "
                         "'feather' (every region's soft edge, in pixels) or 'overlap'")
    unknown = sorted(set(keywords) - set(known))
    if unknown:
        raise TypeError(f"compare() got unexpected keywords {', '.join(unknown)}; give compose() settings "
                        f"({', '.join(known)}) or callback")
    fixed = settings or Settings.from_keywords(**{"seed": 0, **keywords})
    return fixed if fixed.seed is not None else fixed.replace(seed=0)  # every cell the same seed


#: the line under a comparison scored by the shapes judge (:func:`score_note`)
SCORE_LEGEND = ("right: objects in their prompt's colour and shape, inside their box · in box: objects inside "
                "their box, any shape · IoU: box vs its colour's pixels (box-filling blobs score high)")


def score_note(cell_score: dict[str, float] | None, layout: Layout) -> str:
    """The note under a cell: for the shapes judge's scores "right 2/3 · in box 3/3" and "IoU 0.52"
    (counts of the layout's boxes), for any other scorer its first two numbers."""
    if not cell_score:
        return ""
    if "object_right" in cell_score:
        n = sum(r.box is not None for r in layout.regions)
        return (f"right {round(cell_score['object_right'] * n)}/{n} · in box {round(cell_score['in_box'] * n)}/{n}"
                f"\nIoU {cell_score['iou']:.2f}")
    return ", ".join(f"{k} {v:.2f}" for k, v in list(cell_score.items())[:2])
