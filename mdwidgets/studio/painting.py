"""The Studio's mask tools as one part: the paint tools on the canvas, *Mask from file* and *Save mask*.

It only reports what a person asked for (:mod:`.hooks`): ``on_paint(stroke)`` when a brush, eraser,
ellipse or fill stroke ends (or *Fill rest* is pressed), ``on_mask_file(name, content)`` for an
uploaded image, ``on_save_mask()``. The Studio applies them to its layout (``studio.paint(stroke)``,
``studio.import_mask(...)``, ``studio.export_mask(...)``: each one undoable edit, rendered in live mode).
"""

from __future__ import annotations

import ipywidgets as w

from .boxcanvas import BoxCanvas
from .hooks import Hook
from .paint import Stroke
from .painttools import PaintTools
from .start import uploaded_files

UPLOAD_STYLE = """<style>
.mdw-upload-mask {font-size: 0 !important} .mdw-upload-mask i {font-size: 13px}
.mdw-upload-mask::after {content: " Mask from file"; font-size: 13px}
</style>"""


class Painting:
    on_paint = Hook()  #: (stroke): a stroke, ellipse or fill ended, or *Fill rest* (image pixels)
    on_mask_file = Hook()  #: (name, content): an image was uploaded as a mask
    on_save_mask = Hook()  #: (): *Save mask* was pressed

    def __init__(self, boxes: BoxCanvas) -> None:
        self.tools = PaintTools(boxes)
        self.tools.on_stroke(self.on_paint.emit)
        self.tools.rest.on_click(lambda _: self.on_paint.emit(Stroke("rest", ())))
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="Mask from file",
                                   tooltip="an image (black/white, or with transparency) as the selected region's "
                                           "mask, or a new region's; resized to the canvas")
        self.upload.add_class("mdw-upload-mask")  # the style sheet hides ipywidgets' "(0)" file counter
        self.save = w.Button(description="Save mask", icon="download", layout=w.Layout(width="auto"),
                             tooltip="save the selected region's mask as a PNG (white = inside)")
        self.files = w.HBox([self.upload, self.save, w.HTML(UPLOAD_STYLE, layout=w.Layout(display="none"))])
        self.upload.observe(lambda c: [self.on_mask_file.emit(*f) for f in uploaded_files(c["new"])], "value")
        self.save.on_click(lambda _: self.on_save_mask.emit())
