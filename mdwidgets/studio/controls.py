"""Run controls: the sliders and menus that make a :class:`~mdwidgets.Settings`, and live mode.

``controls.settings`` is the Settings they show (fields without a control, such as ``eta`` and
``max_batch``, keep the value last applied); ``controls.apply(settings)`` shows one.
``on_change(fn)`` is called after the user changes any setting.
"""

from __future__ import annotations

import random

import ipywidgets as w

from ..catalog import default_bootstrap_steps, default_guidance, default_steps
from ..settings import METHODS, SCHEDULERS, Settings
from .hooks import Hook

DEFAULT_SCHEDULER = "model default"
WINDOW_MODES = {  # label: (window, circular)
    "whole canvas": (None, False),
    "native windows": ("native", False),
    "windows, 360° wrap": ("native", True),
}


class RunControls:
    on_change = Hook()  #: (): a setting changed

    def __init__(self, model: str | None, settings: Settings | None = None, live: bool = False) -> None:
        base = settings or Settings()  # model: a name or a family (catalog): its defaults
        steps = base.steps or default_steps(model)
        self.steps = w.IntSlider(steps, min=1, max=100, description="Steps",
                                 tooltip="denoising steps: more is slower and finer")
        self.guidance = w.FloatSlider(default_guidance(model), min=0.0, max=15.0, step=0.5, description="Guidance",
                                      tooltip="1 or less: unguided (one UNet row per prompt; Turbo models use 0)")
        self.bootstrap = w.IntSlider(default_bootstrap_steps(model, steps), min=0, max=steps, description="Bootstrap")
        self.bootstrap_note = w.HTML()
        self.seed = w.IntText(0, description="Seed", layout=w.Layout(width="200px"),
                              tooltip="the starting noise: the same seed and settings give the same picture")
        self.reseed = w.Button(icon="random", tooltip="random seed", layout=w.Layout(width="40px"))
        self.reseed.on_click(lambda _: setattr(self.seed, "value", random.randrange(2**31)))
        self.scheduler = w.Dropdown(options=[DEFAULT_SCHEDULER, *SCHEDULERS], description="Scheduler",
                                    tooltip="the sampler's step rule; 'model default' is the model's own")
        self.method = w.Dropdown(options=METHODS, value=base.method, description="Method",
                                 tooltip="how regions steer the model: fusion (a UNet row per prompt, firm boxes), "
                                         "attention (2 rows whatever the regions, softer placement) or hybrid "
                                         "(fusion while bootstrapping, attention after); Compare methods shows all")
        self.windows = w.Dropdown(options=list(WINDOW_MODES), description="Windows",
                                  tooltip="sliding windows of the model's native size for wide canvases and panoramas")
        self.stride = w.IntSlider(Settings.stride, min=1, max=64, description="Stride",
                                  tooltip="latent cells between windows: larger is faster, seams show sooner")
        self.live = w.Checkbox(live, description="Live", indent=False,
                               tooltip="render again after every edit (fast models)")
        self._base = base
        self._applying = False
        self._report()
        self.widget = w.VBox([
            self.scheduler, self.method, self.windows, self.stride,
            self.steps, self.guidance, self.bootstrap, self.bootstrap_note, w.HBox([self.seed, self.reseed]),
        ], layout=w.Layout(min_width="0"))
        self.apply(base, partial=settings is None)
        self._show_stride()
        self._explain_bootstrap()

    def _report(self) -> None:
        self.steps.observe(lambda c: setattr(self.bootstrap, "max", c["new"]), "value")
        self.steps.observe(lambda _: self._explain_bootstrap(), "value")
        self.bootstrap.observe(lambda _: self._explain_bootstrap(), "value")
        self.windows.observe(lambda _: self._show_stride(), "value")
        for control in (self.steps, self.guidance, self.bootstrap, self.seed, self.scheduler, self.method,
                        self.windows, self.stride):
            control.observe(lambda _: self._changed(), "value")

    def _explain_bootstrap(self) -> None:
        """Say what the Bootstrap slider does, with its value as "N of M steps"."""
        n, total = min(self.bootstrap.value, self.steps.value), self.steps.value
        text = f"first {n} of {total} steps: each box drawn alone on a flat colour (keeps objects in their boxes)"
        self.bootstrap.tooltip = f"{text}; 0 = plain MultiDiffusion"
        self.bootstrap_note.value = f'<div style="line-height:1.25;color:#555"><small>{text}</small></div>'

    def _show_stride(self) -> None:
        """The stride matters only with windows: hidden otherwise."""
        self.stride.layout.display = None if WINDOW_MODES[self.windows.value][0] else "none"

    def _changed(self) -> None:
        if not self._applying:
            self.on_change.emit()

    @property
    def settings(self) -> Settings:
        scheduler = self.scheduler.value
        window, circular = WINDOW_MODES[self.windows.value]
        if window == "native" and self._base.window is not None:
            window = self._base.window  # a PNG's own window size (in latent cells) is kept
        return self._base.replace(
            # round: the browser's slider sends float noise such as 5.000000000000001
            steps=self.steps.value, guidance_scale=round(self.guidance.value, 6),
            bootstrap_steps=min(self.bootstrap.value, self.steps.value), seed=self.seed.value,
            scheduler=None if scheduler == DEFAULT_SCHEDULER else scheduler,
            window=window, circular=circular, stride=self.stride.value, method=self.method.value,
        )

    def apply(self, settings: Settings, partial: bool = False) -> list[str]:
        """Show ``settings``; ``None`` fields (model defaults) leave their control as it is, and a
        slider widens to a value past its end (never clamps it). Returns what changed, e.g.
        ``["steps 25 → 150"]``. ``partial``: only remember the fields without a control."""
        before = self.settings.to_dict()
        self._base = settings
        if partial:
            return []
        self._applying = True
        try:
            for control, value in ((self.steps, settings.steps), (self.guidance, settings.guidance_scale),
                                   (self.bootstrap, settings.bootstrap_steps), (self.seed, settings.seed)):
                if value is not None:
                    if hasattr(control, "max") and value > control.max:
                        control.max = value  # a valid setting past the slider's usual range (a PNG's)
                    control.value = value
            self.scheduler.value = settings.scheduler if settings.scheduler in SCHEDULERS else DEFAULT_SCHEDULER
            self.method.value = settings.method
            windowed = settings.window is not None
            mode = ("native" if windowed else None, settings.circular and windowed)
            self.windows.value = next(label for label, value in WINDOW_MODES.items() if value == mode)
            if settings.stride:
                self.stride.max = max(self.stride.max, settings.stride)
                self.stride.value = settings.stride
        finally:
            self._applying = False
        after = self.settings.to_dict()
        return [f"{k} {before[k]} → {after[k]}" for k in after if after[k] != before.get(k)]
