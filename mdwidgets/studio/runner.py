"""Background runs for the Studio: one at a time, cancellable, replaceable. No widgets.

A job is ``job(cancelled)``: it runs in a worker thread and checks ``cancelled()`` (the sampler's
step callback does, so a cancel lands within one step). :meth:`Runner.start` refuses while a job
runs; :meth:`Runner.replace` (live mode) cancels the running job and starts the new one as soon
as the old one has stopped, keeping only the newest request when edits come faster than runs.

At interpreter exit (a script's end, a kernel shutdown) every runner's job is cancelled and awaited
for up to ``EXIT_WAIT_SECONDS``: a worker thread still inside torch when the interpreter tears down
aborts the process ("terminate called without an active exception").
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable

Job = Callable[[Callable[[], bool]], None]
EXIT_WAIT_SECONDS = 30.0  # a cancel lands within one step; a slow model's step on a CPU can take seconds
_RUNNERS: weakref.WeakSet = weakref.WeakSet()


class Runner:
    def __init__(self, on_idle: Callable[[], None] = lambda: None) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._next: Job | None = None  # the newest job waiting for the running one to stop
        self._on_idle = on_idle
        _RUNNERS.add(self)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def start(self, job: Job) -> threading.Thread | None:
        """Run ``job`` now, or return ``None`` when a job is running."""
        with self._lock:
            if self.running or self._next is not None:
                return None
            return self._launch(job)

    def replace(self, job: Job) -> None:
        """Cancel what runs and run ``job`` next (a newer ``replace`` before it starts wins)."""
        with self._lock:
            if not self.running:
                self._launch(job)
                return
            self._next = job
            self._cancel.set()

    def cancel(self) -> None:
        """Stop the running job after its current step, and forget a waiting one."""
        with self._lock:
            self._next = None
            self._cancel.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait until no job runs or waits (for scripts and tests), at most ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            thread = self._thread
            if thread is None:
                return
            thread.join(None if deadline is None else max(deadline - time.monotonic(), 0))
            with self._lock:
                if self._thread is thread and not thread.is_alive():
                    return
            if deadline is not None and time.monotonic() >= deadline:
                return

    def _launch(self, job: Job) -> threading.Thread:
        self._cancel = cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(job, cancel), daemon=True)
        self._thread.start()
        return self._thread

    def _run(self, job: Job, cancel: threading.Event) -> None:
        try:
            job(cancel.is_set)
        finally:
            with self._lock:
                follow, self._next = self._next, None
                if follow is not None:
                    self._launch(follow)
            if follow is None:
                self._on_idle()


@atexit.register
def _stop_all_runners() -> None:
    runners = list(_RUNNERS)
    for runner in runners:
        runner.cancel()
    for runner in runners:
        runner.join(EXIT_WAIT_SECONDS)
