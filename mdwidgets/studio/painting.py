"""The Studio's mask edits: strokes of the paint tools, a dragged mask region, the regions' order,
a mask from an image file and a mask saved as PNG. Each is one undoable edit (``commit``: the
Studio's) and renders in live mode like any edit.

``studio.painting.paint(stroke)`` paints into the selected region (a box region becomes a mask
region), or into a new region with the *New box prompt* when nothing is selected.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ipywidgets as w

from ..layout import Layout, Region
from ..render.preview import outline_colours
from .exports import export, export_path
from .paint import PaintError, Stroke, mask_from_image, mask_png, paint_layout, place_region, reorder
from .painttools import PaintTools
from .start import uploaded_files
from .toolbar import shown

UPLOAD_STYLE = """<style>
.mdw-upload-mask {font-size: 0 !important} .mdw-upload-mask i {font-size: 13px}
.mdw-upload-mask::after {content: " Mask from file"; font-size: 13px}
</style>"""


class Painting:
    def __init__(self, studio, commit: Callable[[Layout, list[int]], None], slots: Callable[[], list[int]]) -> None:
        self.studio, self._commit, self._slots = studio, commit, slots
        self.tools = PaintTools(studio.boxes)
        self.tools.on_stroke(self.paint)
        self.tools.new_colour = self._new_colour
        self.tools.rest.on_click(lambda _: self.paint(Stroke("rest", ())))
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="Mask from file",
                                   tooltip="an image (black/white, or with transparency) as the selected region's "
                                           "mask, or a new region's; resized to the canvas")
        self.upload.add_class("mdw-upload-mask")  # the style sheet hides ipywidgets' "(0)" file counter
        self.save = w.Button(description="Save mask", icon="download", layout=w.Layout(width="auto"),
                             tooltip="save the selected region's mask as a PNG (white = inside)")
        self.files = w.HBox([self.upload, self.save, w.HTML(UPLOAD_STYLE, layout=w.Layout(display="none"))])
        self.upload.observe(lambda c: [self.import_mask(*f) for f in uploaded_files(c["new"])], "value")
        self.save.on_click(shown(studio.status, "Save mask", lambda _: self.export_mask()))

    def _new_colour(self) -> tuple[int, int, int]:
        """The colour a new region will get (its prompt's, or the next free one): its stroke is drawn in it."""
        layout, slots, prompt = self.studio.layout, self._slots(), self.studio.toolbar.new_prompt.value
        free = min(set(range(len(slots) + 1)) - set(slots))
        return outline_colours([*layout.prompts[1:], prompt], [*slots, free], layout.background)[-1]

    def paint(self, stroke: Stroke) -> None:
        """Apply a brush, eraser, ellipse or fill stroke (image pixels); one undo step."""
        s = self.studio
        prompt = s.toolbar.new_prompt.value.strip() or "an object"
        try:
            layout, slots, index = paint_layout(s.layout, self._slots(), s.selected, stroke, prompt)
        except PaintError as exc:
            return s.status.say(str(exc), error=True)
        self._commit(layout, slots)
        s.selected = index
        if index is None and stroke.tool == "eraser":
            s.status.say("Erased the whole region: it is removed; Ctrl+Z brings it back.")

    def moved(self, index: int, box: tuple) -> None:
        """Region ``index`` dragged (or resized) to ``box`` on the canvas: a mask moves with it."""
        layout = place_region(self.studio.layout, index, box)
        if layout == self.studio.layout:
            return self.studio.boxes.draw_boxes()  # nothing left on the canvas: the outline goes back
        self._commit(layout, self._slots())

    def reorder(self, index: int, to: int) -> None:
        """Move region ``index`` to place ``to`` in the list (the stacking order); one undo step."""
        s = self.studio
        layout, slots = reorder(s.layout, self._slots(), index, to)
        hidden, selected = list(s.regions.hidden), s.selected
        self._commit(layout, slots)
        order = list(range(len(layout.regions)))
        order.insert(to, order.pop(index))  # order[new place] = old index
        s.regions.hidden = [order.index(i) for i in hidden]
        s.selected = None if selected is None else order.index(selected)

    def import_mask(self, name: str, content: bytes) -> None:
        """An image file as the selected region's mask (nothing selected: a new region's); said in the panel."""
        s = self.studio
        layout = s.layout
        try:
            mask, note = mask_from_image(name, content, (layout.width, layout.height))
        except PaintError as exc:
            return s.status.say(str(exc), error=True)
        regions, slots, index = list(layout.regions), list(self._slots()), s.selected
        if index is None:
            prompt = s.toolbar.new_prompt.value.strip() or "an object"
            regions.append(Region(prompt, mask=mask))
            slots.append(min(set(range(len(slots) + 1)) - set(slots)))
            index = len(regions) - 1
        else:
            regions[index] = regions[index].replace(mask=mask)
        self._commit(layout.with_regions(regions), slots)
        s.selected = index
        s.status.say(f"Region {index + 1}: {note}; Ctrl+Z takes it back.")

    def export_mask(self, index: int | None = None, path: str | Path | None = None) -> Path:
        """Save region ``index``'s mask (default: the selected one) as a greyscale PNG, white = inside
        (never overwrites; also offered as a download)."""
        s = self.studio
        index = s.selected if index is None else index
        if index is None:
            raise RuntimeError("select a region first: its mask is saved")
        data = mask_png(s.layout.regions[index], (s.layout.width, s.layout.height))
        return export(path or export_path(s.output_dir, f"mask-{index + 1}", ".png"), lambda p: p.write_bytes(data),
                      offer=s.toolbar.offer_download, say=s.status.say)

