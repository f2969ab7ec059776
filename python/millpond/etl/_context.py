"""`Context`: a run's cancellation signal, deadline and metadata."""

from __future__ import annotations

import math
import threading
import time
import uuid
import weakref
from datetime import datetime, timedelta, timezone

from millpond.etl._deadlines import watch
from millpond.etl._errors import Cancelled

__all__ = ["Context"]


def _require_seconds(name: str, seconds: object) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(
            f"{name} expects a number of seconds, got {type(seconds).__name__}: {seconds!r}"
        )
    try:
        value = float(seconds)
    except OverflowError:
        # An int too large for a float is longer than any representable wait.
        value = math.inf
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} expects a number of seconds >= 0, got {seconds!r}")
    return value


def _require_optional_str(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, got {type(value).__name__}: {value!r}")
    if not value:
        raise ValueError(f"{name} must not be empty; pass None to inherit or generate it")
    return value


class Context:
    """The cancellation signal, deadline and metadata of one run. Thread-safe.

    `Context()` creates a root that only its own `cancel()` cancels. Children
    come from `with_cancel()`, `with_timeout(seconds)` or `Context(parent=...)`.
    Cancelling a context cancels all its descendants, never its parent. A
    passed deadline counts as cancelled, and a child's deadline is never later
    than its parent's. A daemon thread, started by the first `with_timeout()`,
    cancels each context with a deadline when it passes.

    `run_id` and `pipeline_name` are set at creation with keyword arguments.
    A child inherits each one that it is not given. A root without `run_id`
    gets a random 32-character hex id. `pipeline_name` stays None unless a
    creator sets it. `Pipeline.run(None)` and `Job.run(None)` set it to the
    pipeline's name, but a context passed to `run()` is used unchanged.
    """

    # The record loops read `_cancelled` directly, because a method call per
    # record would cost more than the check. A passed deadline sets it too,
    # from the thread in _deadlines.py.
    __slots__ = (
        "__weakref__",
        "_cancelled",
        "_children",
        "_deadline",
        "_deadline_monotonic",
        "_event",
        "_lock",
        "_parent",
        "_pipeline_name",
        "_run_id",
        "_timed_out",
    )

    def __init__(
        self,
        *,
        run_id: str | None = None,
        pipeline_name: str | None = None,
        parent: Context | None = None,
    ) -> None:
        run_id = _require_optional_str("run_id", run_id)
        pipeline_name = _require_optional_str("pipeline_name", pipeline_name)
        if parent is not None and not isinstance(parent, Context):
            raise TypeError(
                f"parent must be a Context or None, got {type(parent).__name__}: {parent!r}"
            )

        self._lock = threading.Lock()
        self._event = threading.Event()
        self._cancelled = False
        self._timed_out = False
        self._children: weakref.WeakSet[Context] = weakref.WeakSet()
        self._deadline: datetime | None = None
        self._deadline_monotonic: float | None = None
        # A parent keeps only weak references to its children, so each child
        # keeps its parent alive: a chain of contexts lives as long as its leaf.
        self._parent = parent

        if parent is None:
            self._run_id = run_id if run_id is not None else uuid.uuid4().hex
            self._pipeline_name = pipeline_name
            return

        self._run_id = run_id if run_id is not None else parent.run_id
        self._pipeline_name = pipeline_name if pipeline_name is not None else parent.pipeline_name
        self._deadline = parent.deadline
        self._deadline_monotonic = parent._deadline_monotonic  # noqa: SLF001 (same class)
        parent._adopt(self)  # noqa: SLF001 (same class)

    @property
    def run_id(self) -> str:
        """The id of the run this context belongs to."""
        return self._run_id

    @property
    def pipeline_name(self) -> str | None:
        """The name of the pipeline being run, or None when the creator did not set it."""
        return self._pipeline_name

    @property
    def deadline(self) -> datetime | None:
        """The aware UTC instant after which the context counts as cancelled, or None."""
        return self._deadline

    @property
    def cancelled(self) -> bool:
        """Whether `cancel()` was called here or on an ancestor, or the deadline passed."""
        if self._cancelled:
            return True
        expires = self._deadline_monotonic
        return expires is not None and time.monotonic() >= expires

    def cancel(self) -> None:
        """Cancel this context and all its descendants. Calling it again does nothing."""
        self._cancel_tree(timed_out=False)

    def raise_if_cancelled(self) -> None:
        """Raise `Cancelled` if the context is cancelled or its deadline has passed."""
        if self.cancelled:
            raise self._cancelled_error()

    def sleep(self, seconds: float) -> bool:
        """Wait up to `seconds` and return True, or return False as soon as cancelled.

        A deadline that falls inside the wait ends it at the deadline, with
        False. `math.inf` waits until the context is cancelled. Raises
        TypeError for a non-number and ValueError for a negative or NaN value.
        """
        seconds = _require_seconds("sleep()", seconds)
        end = time.monotonic() + seconds
        while True:
            if self._cancelled:
                return False
            now = time.monotonic()
            expires = self._deadline_monotonic
            if expires is not None and now >= expires:
                return False
            if now >= end:
                return True
            wait = end - now if expires is None else min(end, expires) - now
            self._event.wait(min(wait, threading.TIMEOUT_MAX))

    def with_cancel(self) -> Context:
        """Return a child that is cancelled with this context or by its own `cancel()`."""
        return Context(parent=self)

    def with_timeout(self, seconds: float) -> Context:
        """Return a child whose deadline is `seconds` from now, or the parent's if earlier.

        Zero gives a context that is already past its deadline. Raises
        TypeError for a non-number and ValueError for a negative, NaN, infinite
        or out-of-range value. Use `with_cancel()` for a child without a deadline.
        """
        seconds = _require_seconds("with_timeout()", seconds)
        try:
            deadline = datetime.now(timezone.utc) + timedelta(seconds=seconds)
        except OverflowError:
            raise ValueError(
                f"with_timeout() got {seconds!r} seconds, which puts the deadline past "
                "year 9999; use with_cancel() for a child without a deadline"
            ) from None
        expires = time.monotonic() + seconds

        # A child that keeps the parent's earlier deadline needs no watch: the
        # parent expires first and cancels it.
        child = Context(parent=self)
        if child._deadline_monotonic is None or expires < child._deadline_monotonic:
            child._deadline = deadline
            child._deadline_monotonic = expires
            if seconds == 0:
                child._expire()
            else:
                watch(expires, child)
        return child

    def _adopt(self, child: Context) -> None:
        """Register `child` for cancellation, or cancel it now if this context is cancelled."""
        # Under the lock, a concurrent cancel() either finds the child in
        # `_children` or has already set the flag that is checked here.
        with self._lock:
            if not self._cancelled:
                self._children.add(child)
                return
            timed_out = self._timed_out
        child._cancel_tree(timed_out=timed_out)

    def _expire(self) -> None:
        """Cancel this context and its descendants because the deadline passed."""
        self._cancel_tree(timed_out=True)

    def _cancel_tree(self, *, timed_out: bool) -> None:
        # An explicit stack instead of recursion, so a deep chain of children
        # cannot hit the recursion limit.
        pending = [self]
        while pending:
            pending.extend(pending.pop()._mark_cancelled(timed_out=timed_out))  # noqa: SLF001

    def _mark_cancelled(self, *, timed_out: bool) -> list[Context]:
        """Set the cancelled state and return the children still to cancel.

        Returns [] when the state was already set, because then so were the children's.
        """
        with self._lock:
            if self._cancelled:
                return []
            self._cancelled = True
            self._timed_out = timed_out
            children = list(self._children)
            self._children.clear()
        self._event.set()
        return children

    def _cancelled_error(self) -> Cancelled:
        """Return the `Cancelled` error for this context, saying whether it timed out."""
        # Without the flag, `cancelled` was true because the clock passed the deadline.
        deadline = self._deadline
        timed_out = self._timed_out if self._cancelled else deadline is not None
        if not timed_out or deadline is None:
            return Cancelled(f"run {self._run_id} was cancelled")
        return Cancelled(
            f"run {self._run_id} timed out: its deadline {deadline.isoformat()} passed"
        )

    def __repr__(self) -> str:
        return (
            f"Context(run_id={self._run_id!r}, pipeline_name={self._pipeline_name!r}, "
            f"deadline={self._deadline!r}, cancelled={self.cancelled})"
        )
