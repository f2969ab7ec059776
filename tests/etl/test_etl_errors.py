"""Run-time failures: wrapping, messages, causes, and what passes through unwrapped."""

from __future__ import annotations

import pickle

import pytest
from etl_support import Collector, identity, numbers

from millpond.etl import (
    Cancelled,
    Pipeline,
    PipelineError,
    ReadError,
    StepError,
    WriteError,
)

# Every error test runs in memory and streaming, so both code paths are held
# to the same messages.
MODES = pytest.mark.parametrize("batch_size", [None, 2], ids=["in-memory", "streaming"])


def failing(error: BaseException):
    def fail(*args):
        raise error

    return fail


@MODES
def test_reader_call_failure_wrapped(collector, batch_size):
    original = OSError("disk gone")
    pipeline = Pipeline("p").read(failing(original)).write(collector, batch_size=batch_size)
    with pytest.raises(ReadError) as caught:
        pipeline.run()
    assert str(caught.value) == "read failed: OSError: disk gone"
    assert caught.value.__cause__ is original
    assert collector.batches == []


@MODES
def test_reader_iteration_failure_wrapped(collector, batch_size):
    def read(ctx):
        yield {"n": 1}
        raise KeyError("id")

    pipeline = Pipeline("p").read(read).write(collector, batch_size=batch_size)
    with pytest.raises(ReadError) as caught:
        pipeline.run()
    assert str(caught.value) == "read failed: KeyError: 'id'"
    assert isinstance(caught.value.__cause__, KeyError)


@MODES
def test_reader_error_without_message_names_type(collector, batch_size):
    pipeline = Pipeline("p").read(failing(RuntimeError())).write(collector, batch_size=batch_size)
    with pytest.raises(ReadError, match=r"^read failed: RuntimeError$"):
        pipeline.run()


@MODES
def test_reader_returning_non_iterable(collector, batch_size):
    pipeline = Pipeline("p").read(lambda ctx: 42).write(collector, batch_size=batch_size)
    with pytest.raises(ReadError) as caught:
        pipeline.run()
    message = str(caught.value)
    assert message.startswith("read failed: reader returned int 42")
    assert "not iterable" in message
    assert "must return an iterable of dicts" in message


@MODES
@pytest.mark.parametrize(
    ("result", "kind"),
    [({"id": 1}, "dict {'id': 1}"), ("abc", "str 'abc'"), (b"ab", "bytes b'ab'")],
)
def test_reader_returning_single_value(collector, batch_size, result, kind):
    # A dict, str or bytes is iterable, but iterating it yields keys or
    # characters; the error must name what the reader returned.
    pipeline = Pipeline("p").read(lambda ctx: result).write(collector, batch_size=batch_size)
    with pytest.raises(ReadError) as caught:
        pipeline.run()
    message = str(caught.value)
    assert message.startswith(f"read failed: reader returned {kind}")
    assert "must return an iterable of dicts" in message
    assert collector.batches == []


@MODES
def test_reader_returning_none(collector, batch_size):
    pipeline = Pipeline("p").read(lambda ctx: None).write(collector, batch_size=batch_size)
    with pytest.raises(ReadError, match="reader returned NoneType None"):
        pipeline.run()


@MODES
def test_reader_yielding_non_dict(collector, batch_size):
    pipeline = (
        Pipeline("p")
        .read(lambda ctx: [{"n": 0}, {"n": 1}, ("n", 2)])
        .write(collector, batch_size=batch_size)
    )
    with pytest.raises(ReadError) as caught:
        pipeline.run()
    message = str(caught.value)
    assert message.startswith("read failed: record 2 is tuple ('n', 2)")
    assert "must yield dicts" in message


def test_long_bad_record_is_shortened(collector):
    pipeline = Pipeline("p").read(lambda ctx: ["x" * 10_000]).write(collector)
    with pytest.raises(ReadError) as caught:
        pipeline.run()
    assert len(str(caught.value)) < 300


@MODES
def test_transform_failure_wrapped_with_index(collector, batch_size):
    original = ZeroDivisionError("division by zero")
    pipeline = (
        Pipeline("p")
        .read(numbers(3))
        .transform(identity)
        .filter(lambda ctx, r: True)
        .transform(failing(original))
        .write(collector, batch_size=batch_size)
    )
    with pytest.raises(StepError) as caught:
        pipeline.run()
    assert str(caught.value) == "step[2] failed: ZeroDivisionError: division by zero"
    assert caught.value.step == 2
    assert caught.value.__cause__ is original
    assert collector.batches == []


@MODES
def test_filter_failure_wrapped_with_index(collector, batch_size):
    pipeline = (
        Pipeline("p")
        .read(numbers(3))
        .filter(lambda ctx, r: r["missing"])
        .write(collector, batch_size=batch_size)
    )
    with pytest.raises(StepError) as caught:
        pipeline.run()
    assert str(caught.value) == "step[0] failed: KeyError: 'missing'"
    assert caught.value.step == 0


@MODES
def test_ambiguous_filter_result_is_step_error(collector, batch_size):
    class Ambiguous:
        def __bool__(self):
            raise ValueError("truth value is ambiguous")

    pipeline = (
        Pipeline("p")
        .read(numbers(1))
        .filter(lambda ctx, r: Ambiguous())
        .write(collector, batch_size=batch_size)
    )
    with pytest.raises(StepError, match=r"step\[0\] failed: ValueError: truth value"):
        pipeline.run()


@MODES
def test_transform_returning_none(collector, batch_size):
    def forgets_return(ctx, record):
        record["x"] = 1

    pipeline = (
        Pipeline("p")
        .read(numbers(2))
        .transform(identity)
        .transform(forgets_return)
        .write(collector, batch_size=batch_size)
    )
    with pytest.raises(StepError) as caught:
        pipeline.run()
    message = str(caught.value)
    assert message.startswith("step[1] failed: transform returned NoneType None")
    assert "must return the record as a dict" in message
    assert "return record" in message
    assert caught.value.step == 1


@MODES
def test_transform_returning_non_dict(collector, batch_size):
    pipeline = (
        Pipeline("p")
        .read(numbers(2))
        .transform(lambda ctx, r: list(r.items()))
        .write(collector, batch_size=batch_size)
    )
    with pytest.raises(StepError) as caught:
        pipeline.run()
    message = str(caught.value)
    assert message.startswith("step[0] failed: transform returned list [('n', 0)]")
    assert "must return the record as a dict" in message


@MODES
def test_writer_failure_wrapped(batch_size):
    original = ConnectionError("database unreachable")
    pipeline = Pipeline("p").read(numbers(3)).write(failing(original), batch_size=batch_size)
    with pytest.raises(WriteError) as caught:
        pipeline.run()
    assert str(caught.value) == "write failed: ConnectionError: database unreachable"
    assert caught.value.__cause__ is original


@pytest.mark.parametrize("error_type", [ReadError, StepError, WriteError, Cancelled])
def test_errors_are_pipeline_errors(error_type):
    assert issubclass(error_type, PipelineError)
    assert issubclass(error_type, Exception)


@MODES
@pytest.mark.parametrize("stage", ["read", "step", "write"])
def test_cancelled_from_callback_passes_through(collector, batch_size, stage):
    raised = Cancelled("stop")
    pipeline = Pipeline("p").read(failing(raised) if stage == "read" else numbers(2))
    if stage == "step":
        pipeline.transform(failing(raised))
    pipeline.write(failing(raised) if stage == "write" else collector, batch_size=batch_size)
    with pytest.raises(Cancelled) as caught:
        pipeline.run()
    assert caught.value is raised


@MODES
@pytest.mark.parametrize("stage", ["read", "step", "write"])
def test_keyboard_interrupt_is_not_wrapped(collector, batch_size, stage):
    pipeline = Pipeline("p").read(failing(KeyboardInterrupt()) if stage == "read" else numbers(2))
    if stage == "step":
        pipeline.transform(failing(KeyboardInterrupt()))
    pipeline.write(
        failing(KeyboardInterrupt()) if stage == "write" else collector, batch_size=batch_size
    )
    with pytest.raises(KeyboardInterrupt):
        pipeline.run()


@MODES
def test_pipeline_error_from_nested_run_is_wrapped(collector, batch_size):
    inner = Pipeline("inner").read(failing(OSError("gone"))).write(Collector())

    def run_inner(ctx, record):
        inner.run()
        return record

    pipeline = (
        Pipeline("outer")
        .read(numbers(1))
        .transform(run_inner)
        .write(collector, batch_size=batch_size)
    )
    with pytest.raises(StepError) as caught:
        pipeline.run()
    assert str(caught.value) == "step[0] failed: ReadError: read failed: OSError: gone"


@MODES
@pytest.mark.parametrize("stage", ["step", "write"])
def test_reader_generator_closed_on_failure(batch_size, stage):
    closed: list[bool] = []

    def read(ctx):
        try:
            for n in range(100):
                yield {"n": n}
        finally:
            closed.append(True)

    pipeline = Pipeline("p").read(read)
    if stage == "step":
        pipeline.transform(lambda ctx, r: r if r["n"] < 5 else None)
    writer = failing(OSError("full")) if stage == "write" else Collector()
    pipeline.write(writer, batch_size=batch_size)
    with pytest.raises(PipelineError):
        pipeline.run()
    assert closed == [True]


def test_step_error_pickles_with_step():
    error = StepError(3, "step[3] failed: ValueError: bad")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (the test pickled it itself)
    assert copy.step == 3
    assert str(copy) == str(error)
