"""The region list: one row per region (number, mask thumbnail, prompt, negative, remove; then show/hide,
move up/down, guidance, seed, feather, strength).

State: ``regions`` (a tuple of :class:`~mdwidgets.Region`), ``selected``, ``colours``, ``canvas``
(the canvas size the thumbnails show) and ``hidden`` (indices whose eye is closed) traits. The list's
order is the stacking order: ``on_move(fn(index, to))`` reports an up/down button.
Edits come out through hooks: ``on_edit(fn(index, changes))`` — ``fn`` raises ``LayoutError`` or
``ValueError`` to refuse, and the row then shows why and puts the kept value back in the field —
``on_select(fn(index))`` and ``on_delete(fn(index))``. ``prompt_note(prompt)`` may return a warning
shown at the row (e.g. words past the tokenizer's limit).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import traitlets

from .hooks import Hook
from .paint import thumbnail

ERROR, NOTE = "#b00020", "#8a5a00"


class Row:
    """The widgets of one region's row, by name."""

    def __init__(self, index: int, region, colour: tuple[int, int, int], selected: bool, last: bool) -> None:
        r, g, b = self.colour = colour
        self.select = w.ToggleButton(value=selected, description=f"{index + 1}", tooltip="select this box",
                                     layout=w.Layout(width="44px", border=f"3px solid rgb({r},{g},{b})"))
        self.prompt = _text(region.prompt, "prompt", flex="3", width="auto", min_width="0")
        self.prompt.add_class("mdw-region-prompt")
        self.negative = _text(region.negative_prompt or "", "negative (optional)", flex="2", width="auto",
                              min_width="0")  # both shrink: the rows fit under the canvas
        self.guidance = _text(_blank(region.guidance_scale), "guidance", width="72px", flex="0 0 auto")
        self.seed = _text(_blank(region.seed), "seed", width="72px", flex="0 0 auto")
        self.feather = _text(_blank(region.feather or None), "feather", width="72px", flex="0 0 auto")
        self.feather.tooltip = "soft edge in pixels (blank: a hard edge)"
        self.weight = _text(_strength(region.weight), "strength", width="72px", flex="0 0 auto")
        self.weight.tooltip = "strength: multiplies the region's share where regions overlap (blank: 1)"
        self.remove = w.Button(icon="times", tooltip="remove this box", layout=w.Layout(width="36px", flex="0 0 auto"))
        self.thumb = w.Image(format="png", layout=w.Layout(flex="0 0 auto", border="1px solid #ccc"))
        self.eye = w.ToggleButton(True, icon="eye", tooltip="show or hide this region on the canvas (the render "
                                  "keeps it)", layout=w.Layout(width="40px", flex="0 0 auto", padding="0"))
        small = w.Layout(width="32px", flex="0 0 auto")
        self.up = w.Button(icon="arrow-up", tooltip="move down the stack (earlier in the list)", layout=small,
                           disabled=index == 0)
        self.down = w.Button(icon="arrow-down", tooltip="move up the stack (later in the list: on top)",
                             layout=small, disabled=last)
        self.message = w.HTML("")
        self.message.add_class("mdw-region-message")
        self._shown = None
        fields = w.HBox([self.select, self.thumb, self.prompt, self.negative, self.remove],
                        layout=w.Layout(align_items="center"))
        more = w.HBox([self.eye, self.up, self.down, self.guidance, self.seed, self.feather, self.weight])
        self.widget = w.VBox([fields, more, self.message])

    def show(self, region, size: tuple[int, int]) -> None:
        """Put ``region``'s values in the fields (only those that differ) and its thumbnail."""
        values = (region.prompt, region.negative_prompt or "", _blank(region.guidance_scale), _blank(region.seed),
                  _blank(region.feather or None), _strength(region.weight))
        fields = (self.prompt, self.negative, self.guidance, self.seed, self.feather, self.weight)
        for field, value in zip(fields, values):
            if field.value != value:
                field.value = value
        if self._shown != (region, size):  # a region is immutable: a new thumbnail only for a new one
            self._shown = (region, size)
            self.thumb.value = thumbnail(region, size, self.colour)

    def say(self, text: str, colour: str = ERROR) -> None:
        self.message.value = f'<span style="color:{colour}">{html.escape(text, quote=False)}</span>' if text else ""


class RegionList(traitlets.HasTraits):
    regions = traitlets.Tuple()
    selected = traitlets.Int(None, allow_none=True)
    colours = traitlets.List()
    canvas = traitlets.Tuple((512, 512))
    hidden = traitlets.List()
    on_edit = Hook()  #: (index, changes): a field of a row was changed
    on_select = Hook()  #: (index or None): a row was selected
    on_delete = Hook()  #: (index): a row's delete button
    on_move = Hook()  #: (index, to): a row's up/down button

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Row] = []
        self.widget = w.VBox([])
        self.prompt_note: Callable[[str], str | None] = lambda prompt: None
        self._showing = False
        self.observe(lambda _: self._rebuild(), ["regions", "colours", "hidden"])
        self.observe(self._selected, "selected")

    def _rebuild(self) -> None:
        """New rows when the regions or their colours change in number or order; otherwise the
        fields are updated in place, so the field being typed in keeps its focus."""
        self._showing = True
        try:
            colours = [self._colour(i) for i in range(len(self.regions))]
            if [row.colour for row in self.rows] != colours:
                count = len(self.regions)
                self.rows = [Row(i, region, colours[i], i == self.selected, i == count - 1)
                             for i, region in enumerate(self.regions)]
                for i, row in enumerate(self.rows):
                    self._wire(i, row)
                self.widget.children = [row.widget for row in self.rows]
            for i, (row, region) in enumerate(zip(self.rows, self.regions)):
                row.show(region, tuple(self.canvas))
                row.eye.value = i not in self.hidden
                row.eye.icon = "eye" if row.eye.value else "eye-slash"
                self._note(row, region.prompt)
        finally:
            self._showing = False

    def _colour(self, i: int) -> tuple[int, int, int]:
        return tuple(self.colours[i]) if i < len(self.colours) else (90, 90, 90)

    def _wire(self, i: int, row: Row) -> None:
        row.select.observe(lambda c: self._showing or self.on_select.emit(i if c["new"] else None), "value")
        row.remove.on_click(lambda _: self.on_delete.emit(i))
        row.up.on_click(lambda _: self.on_move.emit(i, i - 1))
        row.down.on_click(lambda _: self.on_move.emit(i, i + 1))
        row.eye.observe(lambda c: self._showing or self._hide(i, not c["new"]), "value")
        for field, key, parse in ((row.prompt, "prompt", str), (row.negative, "negative_prompt", _or_none),
                                  (row.guidance, "guidance_scale", _number(float)), (row.seed, "seed", _number(int)),
                                  (row.feather, "feather", lambda t: _number(float)(t) or 0),
                                  (row.weight, "weight", lambda t: _or(_number(float)(t), 1.0))):
            field.observe(lambda c, f=field, k=key, p=parse: self._edited(i, row, f, k, p, c), "value")

    def _edited(self, i: int, row: Row, field, key: str, parse, change) -> None:
        if self._showing:
            return
        try:
            self.on_edit.emit(i, {key: parse(change["new"])})
        except ValueError as exc:  # InputError included
            row.say(f"Not changed: {exc}")
            self._showing = True
            try:
                field.value = change["old"]  # the field shows what the layout keeps
            finally:
                self._showing = False
            return
        row.say("")
        if key == "prompt":
            self._note(row, change["new"])

    def _hide(self, i: int, hide: bool) -> None:
        self.hidden = sorted({*self.hidden, i} if hide else set(self.hidden) - {i})

    def _note(self, row: Row, prompt: str) -> None:
        row.say(self.prompt_note(prompt) or "", NOTE)

    def _selected(self, change) -> None:
        self._showing = True
        try:
            for i, row in enumerate(self.rows):
                row.select.value = i == change["new"]
        finally:
            self._showing = False


def _text(value: str, placeholder: str, **layout) -> w.Text:
    return w.Text(value, placeholder=placeholder, continuous_update=False, layout=w.Layout(**layout))


def _blank(value) -> str:
    return "" if value is None else str(value)


def _strength(weight: float) -> str:
    return "" if weight == 1 else f"{weight:g}"


def _or(value, default):
    return default if value is None else value


def _or_none(text: str) -> str | None:
    return text or None


def _number(kind) -> Callable[[str], Any]:
    """A parser for an optional number field: blank is ``None``, bad text a ValueError."""
    def parse(text: str):
        text = text.strip()
        if not text:
            return None
        try:
            return kind(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
    return parse
