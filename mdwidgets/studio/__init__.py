"""The Studio and the small widgets it is made of (each usable alone).

- :class:`Studio` — the whole panel (``from mdwidgets import Studio``).
- :class:`BoxCanvas` — boxes over a picture: draw, select, move, resize.
- :class:`RegionList` — one row of fields per region.
- :class:`RunControls` — the sliders and menus that make a :class:`~mdwidgets.Settings`.
- :class:`StartControls` — what a render starts from: noise, or a picture and a strength.
- :class:`HistoryStrip` — thumbnails of finished renders.
- :class:`Runner` — background runs, one at a time, cancellable (no widgets).
"""

from .boxcanvas import BoxCanvas
from .controls import RunControls
from .edits import Autosave, Edits, default_autosave_dir
from .history import HistoryStrip
from .panel import Studio
from .regionlist import RegionList
from .runner import Runner
from .start import Start, StartControls

__all__ = ["Autosave", "BoxCanvas", "Edits", "HistoryStrip", "RegionList", "RunControls", "Runner", "Start",
           "StartControls", "Studio", "default_autosave_dir"]
