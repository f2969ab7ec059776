"""Orchestrator input checks: registration, policies, names and scheduler state."""

from __future__ import annotations

import threading

import pytest
from orch_support import noop_pipeline, wait_for

from millpond.orchestrator import (
    AlreadyRegisteredError,
    Orchestrator,
    Policy,
    SchedulerRunningError,
    UnknownPipelineError,
)
from millpond.runner import Runner, Status
from millpond.scheduler import Interval, every


def test_register_none_raises_value_error():
    with pytest.raises(ValueError, match=r"requires a millpond\.etl\.Pipeline, got None"):
        Orchestrator().register(None)  # type: ignore[arg-type]


def test_register_non_pipeline_names_type():
    with pytest.raises(TypeError, match="got str: 'orders'"):
        Orchestrator().register("orders")  # type: ignore[arg-type]


def test_register_same_name_twice():
    orchestrator = Orchestrator()
    orchestrator.register(noop_pipeline("orders"))
    with pytest.raises(AlreadyRegisteredError, match=r"'orders' is already registered"):
        orchestrator.register(noop_pipeline("orders"))
    assert issubclass(AlreadyRegisteredError, ValueError)


def test_register_rejects_object_without_next():
    with pytest.raises(TypeError, match=r"must be a Schedule.*got int: 5"):
        Orchestrator().register(noop_pipeline("orders"), 5)  # type: ignore[arg-type]


def test_register_parses_schedule_text():
    orchestrator = Orchestrator()
    orchestrator.register(noop_pipeline("orders"), "every 5m")
    assert orchestrator.pipelines == ("orders",)


def test_register_rejects_bad_schedule_text():
    with pytest.raises(ValueError, match="every"):
        Orchestrator().register(noop_pipeline("orders"), "every now and then")


def test_unknown_policy_lists_accepted_names():
    with pytest.raises(TypeError) as raised:
        Orchestrator().register(noop_pipeline("orders"), every(60), retires=3)  # type: ignore[call-arg]
    message = str(raised.value)
    assert "unknown policy option 'retires'" in message
    assert "retries" in message
    assert "misfire" in message


@pytest.mark.parametrize(
    ("options", "error", "fragment"),
    [
        ({"misfire": "later"}, ValueError, "invalid misfire policy 'later'.*'coalesce'"),
        ({"misfire": 1}, TypeError, "misfire .* must be one of"),
        ({"overlap": "never"}, ValueError, "invalid overlap policy 'never'.*'queue'"),
        ({"timeout": -1}, ValueError, "timeout .* > 0, got -1"),
        ({"timeout": 0}, ValueError, "timeout .* > 0, got 0"),
        ({"timeout": "10"}, TypeError, "timeout .* got str"),
        ({"timeout": float("nan")}, ValueError, "timeout"),
        ({"retries": -1}, ValueError, "retries .* >= 0, got -1"),
        ({"retries": 1.5}, TypeError, "retries .* must be an int"),
        ({"retries": True}, TypeError, "retries .* must be an int"),
        ({"retry_delay": -0.5}, ValueError, "retry_delay .* >= 0"),
        ({"retry_delay": 10, "retry_max_delay": 5}, ValueError, "retry_max_delay=5.0 .* below"),
        ({"misfire_grace": -1}, ValueError, "misfire_grace .* >= 0"),
        ({"max_catch_up": 0}, ValueError, "max_catch_up .* >= 1, got 0"),
        ({"max_queued": 0}, ValueError, "max_queued .* >= 1, got 0"),
        ({"misfire": "catch_up", "overlap": "skip"}, ValueError, "use overlap='queue'"),
    ],
)
def test_bad_policy_values(options, error, fragment):
    orchestrator = Orchestrator()
    with pytest.raises(error, match=fragment):
        orchestrator.register(noop_pipeline("orders"), every(60), **options)
    assert orchestrator.pipelines == ()


def test_policy_defaults_and_values():
    orchestrator = Orchestrator()
    orchestrator.register(noop_pipeline("a"), every(60))
    orchestrator.register(
        noop_pipeline("b"), every(60), misfire="catch_up", overlap="queue", timeout=5, retries=2
    )
    assert orchestrator.policy("a") == Policy()
    policy = orchestrator.policy("b")
    assert policy.misfire == "catch_up"
    assert policy.overlap == "queue"
    assert policy.timeout == 5.0
    assert policy.retries == 2


def test_retry_wait_doubles_up_to_cap():
    policy = Policy(retry_delay=1.0, retry_max_delay=5.0)
    assert [policy.retry_wait(attempt) for attempt in range(2, 7)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_run_pipeline_unknown_lists_known():
    orchestrator = Orchestrator()
    orchestrator.register(noop_pipeline("orders"))
    orchestrator.register(noop_pipeline("tz_atlas"))
    with pytest.raises(UnknownPipelineError) as raised:
        orchestrator.run_pipeline("order")
    assert "no pipeline named 'order'" in str(raised.value)
    assert "'orders', 'tz_atlas'" in str(raised.value)


def test_run_pipeline_without_store(make_orchestrator):
    orchestrator = make_orchestrator()
    orchestrator.register(noop_pipeline("orders"))
    result = orchestrator.run_pipeline("orders").result(timeout=10)
    assert result.status is Status.SUCCEEDED


def test_start_scheduler_twice_raises(make_orchestrator):
    orchestrator = make_orchestrator()
    orchestrator.start_scheduler()
    with pytest.raises(SchedulerRunningError, match="already running"):
        orchestrator.start_scheduler()
    orchestrator.stop()
    assert not orchestrator.running
    orchestrator.start_scheduler()
    assert orchestrator.running


def test_constructor_checks_types():
    with pytest.raises(TypeError, match="store must be a store"):
        Orchestrator(store="state.json")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"runner must be a millpond\.runner\.Runner"):
        Orchestrator(runner=4)  # type: ignore[arg-type]


def test_stop_timeout_checked():
    with pytest.raises(ValueError, match="timeout must be a number of seconds >= 0"):
        Orchestrator().stop(timeout=-1)


def test_context_manager_stops_scheduler(calls):
    with Orchestrator() as orchestrator:
        orchestrator.register(noop_pipeline("tick", calls), every(0.05))
        orchestrator.start_scheduler()
        calls.wait_count(1)
    assert not orchestrator.running
    count = calls.count()
    threading.Event().wait(0.2)
    assert calls.count() == count


def test_user_runner_not_shut_down(calls):
    with Runner(max_workers=2) as runner:
        orchestrator = Orchestrator(runner=runner)
        orchestrator.register(noop_pipeline("orders", calls))
        orchestrator.run_pipeline("orders").wait(10)
        orchestrator.stop()
        # The runner still accepts runs: the orchestrator did not own it.
        orchestrator.run_pipeline("orders").wait(10)
    assert calls.count() == 2


def test_serve_off_main_thread_raises():
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            Orchestrator().serve()
        except RuntimeError as error:
            errors.append(error)

    thread = threading.Thread(target=serve)
    thread.start()
    thread.join(10)
    assert len(errors) == 1
    assert "main thread" in str(errors[0])


def test_interval_schedule_object_accepted(make_orchestrator, calls):
    orchestrator = make_orchestrator()
    orchestrator.register(noop_pipeline("tick", calls), Interval(every(0.05).every))
    orchestrator.start_scheduler()
    wait_for(lambda: calls.count() >= 2, "two runs")
