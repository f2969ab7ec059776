"""Context: cancellation, deadlines, children, sleep and metadata."""

from __future__ import annotations

import gc
import math
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from millpond.etl import Cancelled, Context, PipelineError, _deadlines


def test_root_starts_not_cancelled():
    ctx = Context()
    assert not ctx.cancelled
    assert ctx.deadline is None
    ctx.raise_if_cancelled()


def test_cancel_sets_cancelled_and_is_idempotent():
    ctx = Context()
    ctx.cancel()
    ctx.cancel()
    assert ctx.cancelled
    with pytest.raises(Cancelled, match="was cancelled"):
        ctx.raise_if_cancelled()


def test_cancelled_is_pipeline_error():
    assert issubclass(Cancelled, PipelineError)


def test_root_run_id_is_random_hex():
    first, second = Context(), Context()
    assert len(first.run_id) == 32
    int(first.run_id, 16)
    assert first.run_id != second.run_id


def test_metadata_from_keywords():
    ctx = Context(run_id="run-1", pipeline_name="orders")
    assert ctx.run_id == "run-1"
    assert ctx.pipeline_name == "orders"
    assert Context().pipeline_name is None


def test_children_inherit_metadata():
    root = Context(run_id="run-1", pipeline_name="orders")
    for child in (root.with_cancel(), root.with_timeout(10), Context(parent=root)):
        assert child.run_id == "run-1"
        assert child.pipeline_name == "orders"


def test_child_keywords_override_metadata():
    root = Context(run_id="run-1", pipeline_name="orders")
    child = Context(parent=root, run_id="run-2", pipeline_name="invoices")
    assert child.run_id == "run-2"
    assert child.pipeline_name == "invoices"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"run_id": 5}, TypeError),
        ({"run_id": ""}, ValueError),
        ({"pipeline_name": b"x"}, TypeError),
        ({"pipeline_name": ""}, ValueError),
        ({"parent": "root"}, TypeError),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        Context(**kwargs)


def test_parent_cancel_reaches_grandchildren():
    root = Context()
    child = root.with_cancel()
    grandchild = child.with_timeout(60)
    root.cancel()
    assert child.cancelled
    assert grandchild.cancelled


def test_child_cancel_leaves_parent_running():
    root = Context()
    child = root.with_cancel()
    sibling = root.with_cancel()
    child.cancel()
    assert child.cancelled
    assert not root.cancelled
    assert not sibling.cancelled


def test_child_of_cancelled_parent_starts_cancelled():
    root = Context()
    root.cancel()
    assert root.with_cancel().cancelled
    assert root.with_timeout(60).cancelled


def test_deep_chain_cancels_without_recursion_error():
    root = Context()
    ctx = root
    for _ in range(5000):
        ctx = ctx.with_cancel()
    root.cancel()
    assert ctx.cancelled


def test_with_timeout_sets_aware_utc_deadline():
    before = datetime.now(timezone.utc)
    ctx = Context().with_timeout(30)
    after = datetime.now(timezone.utc)
    assert ctx.deadline is not None
    assert ctx.deadline.utcoffset() == timedelta(0)
    assert before + timedelta(seconds=30) <= ctx.deadline <= after + timedelta(seconds=30)


def test_child_deadline_never_later_than_parent():
    parent = Context().with_timeout(1)
    child = parent.with_timeout(100)
    assert child.deadline == parent.deadline
    assert parent.with_cancel().deadline == parent.deadline
    sooner = parent.with_timeout(0.5)
    assert sooner.deadline is not None
    assert parent.deadline is not None
    assert sooner.deadline < parent.deadline


def test_expired_deadline_counts_as_cancelled():
    ctx = Context().with_timeout(0)
    assert ctx.cancelled
    with pytest.raises(Cancelled, match="timed out"):
        ctx.raise_if_cancelled()


def test_deadline_expires_after_timeout():
    ctx = Context().with_timeout(0.05)
    assert not ctx.cancelled
    assert ctx.sleep(5) is False
    assert ctx.cancelled


def test_parent_deadline_cancels_child():
    parent = Context().with_timeout(0.05)
    child = parent.with_cancel()
    assert child.sleep(5) is False
    assert child.cancelled


def test_timeout_does_not_cancel_parent():
    root = Context()
    child = root.with_timeout(0)
    assert child.cancelled
    assert not root.cancelled


@pytest.mark.parametrize("seconds", [-1, -(10**400), math.nan, math.inf, 1e300, 10**400])
def test_with_timeout_rejects_bad_values(seconds):
    with pytest.raises(ValueError, match="with_timeout"):
        Context().with_timeout(seconds)


@pytest.mark.parametrize("seconds", ["1", None, True, timedelta(seconds=1)])
def test_with_timeout_rejects_non_numbers(seconds):
    with pytest.raises(TypeError, match="number of seconds"):
        Context().with_timeout(seconds)


def test_sleep_returns_true_when_time_passes():
    ctx = Context()
    started = time.monotonic()
    assert ctx.sleep(0.02) is True
    assert time.monotonic() - started >= 0.02


def test_sleep_huge_int_waits_until_cancelled():
    ctx = Context()
    ctx.cancel()
    assert ctx.sleep(10**400) is False


def test_sleep_zero_returns_immediately():
    assert Context().sleep(0) is True


def test_sleep_when_cancelled_returns_false():
    ctx = Context()
    ctx.cancel()
    started = time.monotonic()
    assert ctx.sleep(10) is False
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(("seconds", "error"), [(-0.1, ValueError), (math.nan, ValueError)])
def test_sleep_rejects_bad_values(seconds, error):
    with pytest.raises(error, match="sleep"):
        Context().sleep(seconds)


def test_cancel_from_thread_wakes_sleep():
    ctx = Context()
    results: list[bool] = []
    waiter = threading.Thread(target=lambda: results.append(ctx.sleep(30)))
    started = time.monotonic()
    waiter.start()
    ctx.cancel()
    waiter.join(5)
    assert not waiter.is_alive()
    assert results == [False]
    assert time.monotonic() - started < 5


def test_parent_cancel_wakes_child_sleep():
    root = Context()
    child = root.with_cancel().with_cancel()
    results: list[bool] = []
    waiter = threading.Thread(target=lambda: results.append(child.sleep(math.inf)))
    waiter.start()
    root.cancel()
    waiter.join(5)
    assert not waiter.is_alive()
    assert results == [False]


def test_children_created_during_cancel_are_all_cancelled():
    # Threads keep adding children while another thread cancels the root; no
    # child may miss the cancellation, whichever side wins the race.
    root = Context()
    children: list[Context] = []
    lock = threading.Lock()
    start = threading.Barrier(5)

    def spawn() -> None:
        start.wait()
        for _ in range(300):
            child = root.with_cancel()
            with lock:
                children.append(child)

    def cancel() -> None:
        start.wait()
        root.cancel()

    threads = [threading.Thread(target=spawn) for _ in range(4)]
    threads.append(threading.Thread(target=cancel))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(children) == 1200
    assert all(child.cancelled for child in children)


def test_repr_names_run_and_state():
    ctx = Context(run_id="abc", pipeline_name="orders")
    assert "abc" in repr(ctx)
    assert "orders" in repr(ctx)
    assert "cancelled=False" in repr(ctx)


# The deadline thread: it sets the flag that record loops check, so a run
# stops at a deadline without reading the clock per record.


def wait_for_flag(ctx: Context, timeout: float = 5) -> bool:
    """Poll the flag the record loops read until it is set or `timeout` passes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if ctx._cancelled:
            return True
        time.sleep(0.002)
    return False


def test_deadline_thread_sets_flag():
    ctx = Context().with_timeout(0.02)
    assert not ctx._cancelled
    assert wait_for_flag(ctx)
    with pytest.raises(Cancelled, match="timed out: its deadline"):
        ctx.raise_if_cancelled()


def test_deadline_thread_expires_in_any_order():
    root = Context()
    contexts = [root.with_timeout(seconds) for seconds in (0.05, 0.01, 0.03, 0.02, 0.04)]
    assert all(wait_for_flag(ctx) for ctx in contexts)
    assert not root.cancelled


def test_earlier_deadline_wakes_thread_sooner():
    # The thread sleeps until a far deadline; a nearer one added later must
    # still expire on time.
    far = Context().with_timeout(3600)
    near = Context().with_timeout(0.02)
    started = time.monotonic()
    assert wait_for_flag(near)
    assert time.monotonic() - started < 2
    assert not far.cancelled


def test_expired_parent_times_out_children():
    parent = Context(run_id="r1").with_timeout(0.02)
    child = parent.with_cancel()
    assert wait_for_flag(child)
    with pytest.raises(Cancelled, match="run r1 timed out"):
        child.raise_if_cancelled()
    late_child = parent.with_cancel()
    assert late_child._cancelled
    with pytest.raises(Cancelled, match="timed out"):
        late_child.raise_if_cancelled()


def test_cancel_before_deadline_says_cancelled():
    ctx = Context(run_id="r1").with_timeout(0.02)
    ctx.cancel()
    assert not ctx.sleep(0.05)
    with pytest.raises(Cancelled, match="run r1 was cancelled"):
        ctx.raise_if_cancelled()


def test_dropped_contexts_are_pruned_from_deadline_heap():
    for _ in range(5000):
        Context().with_timeout(3600)
    gc.collect()
    Context().with_timeout(3600)
    assert len(_deadlines._watcher._heap) < 2 * _deadlines._MIN_PRUNE_SIZE
