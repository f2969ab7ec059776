"""Many threads calling start, cancel and result on one runner at once."""

from __future__ import annotations

import threading
from collections import Counter

from runner_support import WAIT, Blocker, Recorder, job_of

from millpond.runner import Runner, Status

THREADS = 8
RUNS_PER_THREAD = 25


def test_concurrent_start_cancel_result():
    recorder = Recorder()
    blocker = Blocker()
    blocker.release.set()
    job = job_of(blocker, "shared")
    barrier = threading.Barrier(THREADS, timeout=WAIT)
    handles = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client(runner, number):
        try:
            barrier.wait()
            mine = []
            for index in range(RUNS_PER_THREAD):
                handle = runner.start(job, on_done=recorder)
                cancel = index % 2 == number % 2
                mine.append((handle, cancel))
                if cancel:
                    handle.cancel()
                runner.result(handle.id)
            with lock:
                handles.extend(mine)
        except BaseException as error:
            failures.append(error)

    with Runner(max_workers=4, keep_results=None) as runner:
        threads = [threading.Thread(target=client, args=(runner, n)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        assert failures == []
        results = [handle.result(WAIT) for handle, _ in handles]
        kept_results = [runner.result(handle.id) for handle, _ in handles]

    total = THREADS * RUNS_PER_THREAD
    assert len(handles) == total
    assert len({handle.id for handle, _ in handles}) == total
    assert kept_results == results

    # on_done ran exactly once per run, with the run's own result.
    counts = Counter(result.id for result in recorder.results)
    assert set(counts.values()) == {1}
    assert sorted(counts) == sorted(handle.id for handle, _ in handles)

    # A cancelled run may still succeed when its job finished before the cancel.
    for (_, cancel), result in zip(handles, results, strict=True):
        expected = {Status.SUCCEEDED, Status.CANCELED} if cancel else {Status.SUCCEEDED}
        assert result.status in expected
    assert len(set(blocker.threads)) <= 4


def test_concurrent_shutdown_and_start():
    runner = Runner(max_workers=2)
    barrier = threading.Barrier(5, timeout=WAIT)
    started = []
    rejected = []
    lock = threading.Lock()
    blocker = Blocker()
    blocker.release.set()

    def try_start():
        try:
            handle = runner.start(blocker.job())
        except RuntimeError:
            with lock:
                rejected.append(1)
        else:
            with lock:
                started.append(handle)

    def client():
        barrier.wait()
        for _ in range(20):
            try_start()

    def stopper():
        barrier.wait()
        runner.shutdown(wait=True)

    threads = [threading.Thread(target=client) for _ in range(4)]
    threads.append(threading.Thread(target=stopper))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    runner.shutdown(wait=True)

    assert len(started) + len(rejected) == 80
    # Every accepted run finished before the final shutdown returned.
    assert all(handle.done() for handle in started)
    assert all(handle.result(0).status is Status.SUCCEEDED for handle in started)
