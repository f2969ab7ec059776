"""Cancel contexts when their deadlines pass, from one background thread.

Record loops then check one flag per record instead of reading the clock. The
thread is a daemon, started by the first deadline that is set, and sleeps
until the earliest deadline. It holds contexts through weak references, so a
context that is dropped before its deadline costs one heap entry until the
entry is pruned.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["watch"]

# The heap is rebuilt without dead or cancelled entries when it grows past
# this size, and the limit then doubles from the entries kept.
_MIN_PRUNE_SIZE = 1024


class Expirable(Protocol):
    """The part of `Context` that the watcher uses."""

    @property
    def cancelled(self) -> bool: ...

    def _expire(self) -> None: ...


_Entry = tuple[float, int, "weakref.ref[Expirable]"]


class _Watcher:
    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._heap: list[_Entry] = []
        self._sequence = itertools.count()
        self._prune_size = _MIN_PRUNE_SIZE
        self._thread: threading.Thread | None = None

    def watch(self, expires: float, context: Expirable) -> None:
        """Call `context._expire()` once the monotonic clock reaches `expires`."""
        entry = (expires, next(self._sequence), weakref.ref(context))
        with self._condition:
            if len(self._heap) >= self._prune_size:
                self._prune()
            heapq.heappush(self._heap, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="millpond-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0] is entry:
                # The new deadline is the earliest, so the thread must wake sooner.
                self._condition.notify()

    def _prune(self) -> None:
        kept = []
        for entry in self._heap:
            context = entry[2]()
            if context is not None and not context.cancelled:
                kept.append(entry)
        heapq.heapify(kept)
        self._heap = kept
        self._prune_size = max(_MIN_PRUNE_SIZE, 2 * len(kept))

    def _run(self) -> None:
        while True:
            with self._condition:
                due = self._pop_due()
                while not due:
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._condition.wait(timeout)
                    due = self._pop_due()

            # Expire outside the lock: it takes each context's own lock.
            for reference in due:
                context = reference()
                if context is not None:
                    context._expire()  # noqa: SLF001 (the watcher is part of Context)

    def _pop_due(self) -> list[weakref.ref[Expirable]]:
        now = time.monotonic()
        due = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap)[2])
        return due

    def _after_fork(self) -> None:
        # Only the forking thread survives in the child, and the lock may have
        # been held by another one, so both are replaced.
        # NOTE: in the child, deadlines set before the fork are enforced only
        # after the next watch() call starts a thread. Until then, loops miss
        # them, while Context.cancelled still compares the clock.
        self._condition = threading.Condition(threading.Lock())
        self._thread = None


_watcher = _Watcher()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_watcher._after_fork)  # noqa: SLF001

watch: Callable[[float, Expirable], None] = _watcher.watch
