"""The status line and progress bar. Every text is escaped: messages carry names from files."""

from __future__ import annotations

import html

import ipywidgets as w

ERROR_COLOUR, TEXT_COLOUR = "#b00020", "#333"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class StatusBar:
    def __init__(self) -> None:
        self.progress = w.IntProgress(0, min=0, max=1, layout=w.Layout(width="200px"))
        self.label = w.Label("")
        self.line = w.HTML("")
        self.sticky: str | None = None  # an error that stays until cleared (a failed autosave)

    def say(self, message: str, error: bool = False) -> None:
        """Show ``message`` (an empty one shows the sticky error, if any)."""
        if not message and self.sticky:
            message, error = self.sticky, True
        colour = ERROR_COLOUR if error else TEXT_COLOUR
        text = html.escape(message, quote=False)
        self.line.value = f'<span style="color:{colour}">{text}</span>' if message else ""

    def keep(self, error: str | None) -> None:
        """Keep ``error`` in view until it is replaced (``None``: the problem is gone)."""
        if self.sticky != error:
            self.sticky = error
            self.say("")

    def start(self, total: int, what: str) -> None:
        """A run of ``total`` steps begins: the bar and label start from zero, not from the last run."""
        self.progress.max, self.progress.value = max(total, 1), 0
        self.label.value = f"{what}…"

    def step(self, done: int, total: int, elapsed: float, what: str = "step") -> None:
        self.progress.max, self.progress.value = max(total, 1), done
        eta = elapsed / done * (total - done) if done else 0.0
        self.label.value = f"{what} {done}/{total} · ETA {eta:.0f} s" if done < total else f"{what} {done}/{total}"

    def stop(self, done: int, total: int, cancelled: bool) -> None:
        self.label.value = f"cancelled after {plural(done, 'step')}" if cancelled else plural(total, "step")
