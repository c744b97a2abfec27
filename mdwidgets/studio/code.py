"""Copy as code: the Python script that renders a Studio's layout and settings with
:func:`~mdwidgets.compose`, so the work in a panel becomes a reproducible script. No widgets."""

from __future__ import annotations

import pprint

from ..layout import Layout
from ..settings import Settings


def script(layout: Layout, settings: Settings, model: str | None, start_label: str | None = None) -> str:
    """A runnable script: load ``model`` (``None``: a pipeline the user passed, left for them to
    load), rebuild the layout from its dict (Python literals: any prompt text is safe) and render
    it with ``settings``. A start picture is not in the script: ``start_label`` adds a comment."""
    load = f"load_pipeline({model!r})" if model else "load_pipeline(...)  # the pipeline you passed to Studio"
    changed = {k: v for k, v in settings.to_dict().items() if v != getattr(Settings, k, None)}
    lines = [
        "from mdwidgets import Layout, Settings, compose, load_pipeline",
        "",
        f"pipe = {load}",
        f"layout = Layout.from_dict({pprint.pformat(layout.to_dict(), sort_dicts=False, width=100)})",
        f"settings = Settings(**{pprint.pformat(changed, sort_dicts=False, width=100)})",
        "result = compose(pipe, layout, settings=settings)",
        'result.image.save("mdwidgets.png")',
    ]
    if start_label:
        lines.insert(5, f"# the Studio started from a picture ({start_label}): pass it as init_image=, strength=")
    return "\n".join(lines) + "\n"
