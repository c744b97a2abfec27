"""Start from image: what Generate starts from — noise, or a picture noised to a strength.

:class:`Start` is the choice (no widgets): an image as chosen (its own size, so a later canvas
size is fitted from the original), a name for it and the strength; :meth:`Start.inputs` are the
:func:`~mdwidgets.compose` keywords (``init_image``, ``strength``) for a canvas size, a picture of
another size resized to it with a note naming both sizes. :class:`StartControls` shows the choice:
*From result*, *From file* (an upload), *From noise* and the *Strength* slider; ``controls.start``
is the :class:`Start` they show (``None``: from noise), ``on_change(fn)`` is called after the user
changes it.
"""

from __future__ import annotations

import dataclasses
import html
import io
from dataclasses import dataclass
from typing import Any

import ipywidgets as w
from PIL import Image

from .hooks import Hook

DEFAULT_STRENGTH = 0.6  # diffusers' img2img example: the picture's layout stays, its details change
THUMBNAIL = 48  # px


@dataclass(frozen=True, eq=False)
class Start:
    """Generate from ``image`` noised to ``strength`` (image-to-image); ``kind`` is "result" or "image"."""

    image: Image.Image
    name: str
    strength: float = DEFAULT_STRENGTH
    kind: str = "image"

    def __post_init__(self) -> None:
        strength = self.strength
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 < strength <= 1:
            raise ValueError(f"strength={strength!r} must be in (0, 1]: the share of the steps that run")
        if not isinstance(self.image, Image.Image):
            raise TypeError(f"a start image must be a PIL image, not {type(self.image).__name__}")

    def fitted(self, size: tuple[int, int]) -> tuple[Image.Image, str | None]:
        """The image at the canvas ``size`` and, if it had to be resized, a note naming both sizes."""
        image = self.image.convert("RGB")
        if image.size == tuple(size):
            return image, None
        note = (f"{self.name} is {image.size[0]}×{image.size[1]} px, the canvas {size[0]}×{size[1]}: "
                "resized to the canvas")
        return image.resize(tuple(size), Image.Resampling.LANCZOS), note

    def inputs(self, size: tuple[int, int]) -> dict[str, Any]:
        """The :func:`~mdwidgets.compose` keywords for a canvas of ``size``."""
        return {"init_image": self.fitted(size)[0], "strength": self.strength}

    @property
    def label(self) -> str:
        """What a history entry says, e.g. "from image, strength 0.6"."""
        return f"from {self.kind}, strength {round(self.strength, 2):g}"

    def record(self) -> dict[str, Any]:
        """What a result's settings (and so its PNG) say about the start: the image's name, not its pixels."""
        return {"start_image": self.name, "strength": round(self.strength, 4)}


def uploaded_files(value: Any) -> list[tuple[str, bytes]]:
    """``(name, content)`` of a FileUpload's value: ipywidgets 8 (a tuple of dicts) or 7.7 (a dict
    name -> ``{"content": …, "metadata": …}``)."""
    if isinstance(value, dict):
        return [(name, bytes(f["content"])) for name, f in value.items()]
    return [(f["name"], bytes(f["content"])) for f in value or ()]


def read_image(name: str, content: bytes) -> Image.Image:
    """An uploaded picture as RGB; ``ValueError`` naming the file when it is not one."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            return image.convert("RGB")
    except Image.UnidentifiedImageError:
        raise ValueError(f"{name} is not a picture (PNG, JPEG, WebP, …)") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{name} cannot be read as a picture ({exc})") from None


class StartControls:
    on_change = Hook()  #: (): the start (noise or a picture, strength) changed
    on_result_picked = Hook()  #: (): *From result* was pressed
    on_noise_picked = Hook()  #: (): *From noise* was pressed
    on_image_picked = Hook()  #: (image, name): a picture was uploaded with *From file*
    on_problem = Hook()  #: (text): an upload could not be read

    def __init__(self) -> None:
        self.strength = w.FloatSlider(DEFAULT_STRENGTH, min=0.01, max=1.0, step=0.01, description="Strength",
                                      disabled=True, tooltip="share of the steps that run from the start "
                                      "image: low keeps it, 1 starts from noise")
        self.use_result = w.Button(description="From result", icon="image", layout=w.Layout(width="auto"),
                                   tooltip="Generate starts from the current result, noised to Strength")
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="From file",
                                   tooltip="Generate starts from a picture of yours, noised to Strength")
        self.upload.add_class("mdw-upload-file")  # the panel's style sheet hides the "(0)" counter
        self.clear = w.Button(description="From noise", icon="times", disabled=True, layout=w.Layout(width="auto"),
                              tooltip="Generate starts from noise again (text-to-image)")
        self.thumbnail = w.Image(format="png", layout=w.Layout(width=f"{THUMBNAIL}px", display="none"))
        self.note = w.HTML("")
        self.widget = w.VBox([w.HBox([self.thumbnail, self.note], layout=w.Layout(align_items="center")),
                              w.HBox([self.use_result, self.upload, self.clear], layout=w.Layout(flex_flow="row wrap")),
                              self.strength], layout=w.Layout(min_width="0"))
        self.widget.add_class("mdw-start")
        self._chosen: Start | None = None
        self._quiet = False
        self.strength.observe(lambda _: self._changed(), "value")
        self.show(None)
        self._report()

    @property
    def start(self) -> Start | None:
        """The start Generate uses (``None``: from noise)."""
        chosen = self._chosen
        return None if chosen is None else dataclasses.replace(chosen, strength=float(self.strength.value))

    def choose(self, start: Start | None, size: tuple[int, int]) -> str | None:
        """The user chose ``start`` (``None``: from noise): show it, report it; returns the resize note, if any."""
        note = self.show(start, size)
        self._changed(force=True)
        return note

    def pick(self, image: Image.Image | None, strength: float | None, name: str, result,
             size: tuple[int, int]) -> tuple[str, bool]:
        """The user picked ``image`` (``None``: ``result``'s picture) at ``strength`` (``None``: the
        slider's); returns what to say and whether it is an error."""
        kind = "image"
        if image is None:
            if result is None:
                return "From result needs a result: Generate first.", True
            image, name, kind = result.image, f"the result of seed {result.settings['seed']}", "result"
        start = Start(image, name, self.strength.value if strength is None else strength, kind)
        return self.choose(start, size) or f"Generate starts from {name}, {start.label}.", False

    def pick_noise(self, size: tuple[int, int]) -> tuple[str, bool]:
        """The user chose *From noise*."""
        if self._chosen is not None:
            self.choose(None, size)
        return "Generate starts from noise.", False

    def show(self, start: Start | None, size: tuple[int, int] | None = None) -> str | None:
        """Show ``start`` without reporting a change (restoring a history entry)."""
        self._chosen, note = start, None
        self._quiet = True
        try:
            if start is not None:
                self.strength.value = start.strength
        finally:
            self._quiet = False
        self.strength.disabled = self.clear.disabled = start is None
        self.thumbnail.layout.display = "none" if start is None else None
        if start is None:
            self.note.value = "<b>Start:</b> noise (text-to-image)"
            return None
        self.thumbnail.value = _thumbnail(start.image)
        if size is not None:
            note = start.fitted(size)[1]
        text = f"<b>Start:</b> {html.escape(start.name)}, noised to Strength"
        self.note.value = text + (f"<br><i>{html.escape(note)}</i>" if note else "")
        return note

    def imported(self, settings: dict[str, Any]) -> str:
        """A PNG's settings came in: show its strength; returns a note when it started from a picture
        (the PNG names it but does not carry it, so the start stays as it is)."""
        name, strength = settings.get("start_image"), settings.get("strength")
        if not isinstance(name, str) or isinstance(strength, bool) or not isinstance(strength, (int, float)) \
                or not 0 < strength <= 1:
            return ""
        self._quiet = True
        try:
            self.strength.value = strength
        finally:
            self._quiet = False
        return (f"; it started from {name} at strength {strength:g}, which the PNG does not carry: "
                "choose a start picture to render it so again")

    def _changed(self, force: bool = False) -> None:
        if force or (not self._quiet and self._chosen is not None):
            self.on_change.emit()

    def _report(self) -> None:
        self.use_result.on_click(lambda _: self.on_result_picked.emit())
        self.clear.on_click(lambda _: self.on_noise_picked.emit())
        self.upload.observe(lambda c: self._uploaded(c["new"]), "value")

    def _uploaded(self, value) -> None:
        files = uploaded_files(value)
        if files:  # emptied, so the same file picked again is news (7.7's value is read-only: set_trait)
            self.upload.set_trait("value", type(value)())
        for name, content in files:
            try:
                self.on_image_picked.emit(read_image(name, content), name)
            except ValueError as exc:
                self.on_problem.emit(f"Not changed: {exc}")


def _thumbnail(image: Image.Image) -> bytes:
    thumb = image.convert("RGB")
    thumb.thumbnail((THUMBNAIL, THUMBNAIL))
    buf = io.BytesIO()
    thumb.save(buf, format="PNG")
    return buf.getvalue()
