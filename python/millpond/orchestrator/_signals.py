"""Catch SIGINT and SIGTERM while `Orchestrator.serve()` runs."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["StopSignals", "stop_signals"]

_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


class StopSignals:
    """The stop signals received so far: the first requests a stop, a second one forces it."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.force = threading.Event()
        self.received: list[int] = []

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        # Only set flags here: logging from a signal handler can deadlock on
        # the logging module's locks.
        self.received.append(signum)
        if self.requested.is_set():
            self.force.set()
        self.requested.set()

    def wait(self, slice_seconds: float) -> None:
        """Block until the first signal, waking every `slice_seconds` so handlers run."""
        while not self.requested.wait(slice_seconds):
            pass

    @property
    def first_name(self) -> str:
        """The name of the first signal received, such as SIGTERM."""
        if not self.received:
            return "no signal"
        return signal.Signals(self.received[0]).name


@contextmanager
def stop_signals() -> Iterator[StopSignals]:
    """Route SIGINT and SIGTERM to a StopSignals; restore the previous handlers at exit.

    A SIGINT that the process ignores, as a shell does for background jobs,
    stays ignored. Call from the main thread only.
    """
    signals = StopSignals()
    previous: dict[signal.Signals, _Handler] = {}
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        if stop_signal == signal.SIGINT and signal.getsignal(stop_signal) is signal.SIG_IGN:
            continue
        previous[stop_signal] = signal.signal(stop_signal, signals.handle)
    try:
        yield signals
    finally:
        for stop_signal, handler in previous.items():
            # None means a handler installed from outside Python; the default
            # action is the closest one to restore.
            signal.signal(stop_signal, signal.SIG_DFL if handler is None else handler)
