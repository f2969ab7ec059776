"""Kept results: keep_results drops the oldest finished runs first."""

from __future__ import annotations

from runner_support import WAIT, Blocker, quick_job

from millpond.runner import Runner, Status


def test_oldest_results_dropped():
    with Runner(max_workers=1, keep_results=2) as runner:
        handles = [runner.start(quick_job()) for _ in range(3)]
        results = [handle.result(WAIT) for handle in handles]
        assert runner.result(handles[0].id) is None
        assert runner.result(handles[1].id) is results[1]
        assert runner.result(handles[2].id) is results[2]
        # The handle keeps its own result.
        assert handles[0].result(0).status is Status.SUCCEEDED


def test_keep_results_zero():
    with Runner(keep_results=0) as runner:
        handle = runner.start(quick_job())
        assert handle.result(WAIT).status is Status.SUCCEEDED
        assert runner.result(handle.id) is None
        assert runner.keep_results == 0


def test_keep_results_none_keeps_all():
    with Runner(max_workers=2, keep_results=None) as runner:
        handles = [runner.start(quick_job()) for _ in range(50)]
        results = [handle.result(WAIT) for handle in handles]
        assert [runner.result(handle.id) for handle in handles] == results
        assert runner.keep_results is None


def test_drop_follows_finish_order():
    # Results are kept in the order runs finish, not the order they started.
    blocker = Blocker()
    with Runner(max_workers=2, keep_results=1) as runner:
        slow = runner.start(blocker.job())
        assert blocker.started.wait(WAIT)
        fast = runner.start(quick_job())
        fast.result(WAIT)
        blocker.release.set()
        slow.result(WAIT)
        assert runner.result(fast.id) is None
        assert runner.result(slow.id) is not None
