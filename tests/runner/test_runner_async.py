"""Awaiting a Handle from asyncio."""

from __future__ import annotations

import asyncio

from runner_support import WAIT, Blocker, quick_job

from millpond.runner import Status


def test_await_does_not_block_loop(runner):
    blocker = Blocker()
    handle = runner.start(blocker.job())

    async def release_later():
        # Runs only if awaiting the handle left the event loop free.
        await asyncio.sleep(0)
        blocker.release.set()

    async def main():
        result, _ = await asyncio.gather(handle, release_later())
        return result

    result = asyncio.run(main())
    assert result.status is Status.SUCCEEDED
    assert result is handle.result(0)


def test_await_finished_handle(runner):
    handle = runner.start(quick_job())
    result = handle.result(WAIT)

    async def main():
        return await handle

    assert asyncio.run(main()) is result


def test_await_from_several_tasks(runner):
    blocker = Blocker()
    handle = runner.start(blocker.job())

    async def main():
        waiters = [asyncio.ensure_future(handle) for _ in range(3)]
        await asyncio.sleep(0)
        blocker.release.set()
        return await asyncio.gather(*waiters)

    results = asyncio.run(main())
    assert results == [handle.result(0)] * 3


def test_cancelled_await_leaves_run_going(runner):
    blocker = Blocker()
    handle = runner.start(blocker.job())

    async def main():
        try:
            await asyncio.wait_for(handle, 0.01)
        except asyncio.TimeoutError:
            pass
        else:
            raise AssertionError("the blocked run finished early")
        assert not handle.done()
        blocker.release.set()
        return await handle

    result = asyncio.run(main())
    assert result.status is Status.SUCCEEDED


def test_await_after_loop_closed(runner):
    # A loop that stops awaiting before the run ends must not break the worker.
    blocker = Blocker()
    handle = runner.start(blocker.job())

    async def abandon():
        task = asyncio.ensure_future(handle)
        await asyncio.sleep(0)
        return task

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(abandon())
    finally:
        loop.close()
    blocker.release.set()
    assert handle.result(WAIT).status is Status.SUCCEEDED
    assert runner.start(quick_job()).result(WAIT).status is Status.SUCCEEDED
