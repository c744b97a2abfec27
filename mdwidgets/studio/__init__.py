"""The Studio and the small widgets it is made of (each usable alone).

- :class:`Studio` — the whole panel (``from mdwidgets import Studio``).
- :class:`BoxCanvas` — boxes over a picture: draw, select, move, resize.
- :class:`RegionList` — one row of fields per region (thumbnail, show/hide, up/down, strength, feather).
- :class:`PaintTools` — brush, eraser, ellipse, fill (and box) tools, brush size, keys; strokes out.
- :class:`Painting` — the paint tools with *Mask from file* and *Save mask*; hooks ``on_paint``,
  ``on_mask_file``, ``on_save_mask`` (the Studio turns them into layout edits);
  :class:`Stroke` — one gesture of a paint tool (``mdwidgets.studio.paint``: the pure rasteriser).
- :class:`RunControls` — the sliders and menus that make a :class:`~mdwidgets.Settings`.
- :class:`StartControls` — what a render starts from: noise, or a picture and a strength.
- :class:`HistoryStrip` — thumbnails of finished renders; :class:`Results` — the current result,
  the history and its autosave.
- :class:`RestoreOffer`, :class:`FrontendCheck` — the *Restore work* button, and the check for a
  canvas front end that never answers.
- :class:`Runner` — background runs, one at a time, cancellable (no widgets).
"""

from .boxcanvas import BoxCanvas
from .controls import RunControls
from .edits import Autosave, Edits, SavedWork, default_autosave_dir
from .history import HistoryStrip
from .paint import Stroke
from .painting import Painting
from .painttools import PaintTools
from .panel import Studio
from .recovery import FrontendCheck, RestoreOffer
from .regionlist import RegionList
from .results import Results
from .runner import Runner
from .start import Start, StartControls

__all__ = ["Autosave", "BoxCanvas", "Edits", "FrontendCheck", "HistoryStrip", "PaintTools", "Painting", "RegionList",
           "RestoreOffer", "Results", "RunControls", "Runner", "SavedWork", "Start", "StartControls", "Stroke",
           "Studio", "default_autosave_dir"]
