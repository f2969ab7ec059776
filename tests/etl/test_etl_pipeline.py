"""Pipeline: builder validation and in-memory runs."""

from __future__ import annotations

from collections import OrderedDict
from datetime import timedelta

import pytest
from etl_support import Collector, identity, numbers, reader_of

from millpond.etl import Context, Pipeline, PipelineConfigError, PipelineError, RunStats


def test_name_is_read_only():
    pipeline = Pipeline("orders")
    assert pipeline.name == "orders"
    with pytest.raises(AttributeError):
        pipeline.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("name", ["", "   ", None])
def test_name_must_be_non_empty(name):
    with pytest.raises(ValueError, match="non-empty string"):
        Pipeline(name)


@pytest.mark.parametrize("name", [5, b"orders", ["orders"]])
def test_name_must_be_str(name):
    with pytest.raises(TypeError, match=repr(name).replace("[", r"\[").replace("]", r"\]")):
        Pipeline(name)


def test_builder_methods_return_pipeline(collector):
    pipeline = Pipeline("p")
    assert pipeline.read(numbers(1)) is pipeline
    assert pipeline.transform(identity) is pipeline
    assert pipeline.filter(lambda ctx, r: True) is pipeline
    assert pipeline.write(collector) is pipeline
    assert pipeline.hook(None) is pipeline


@pytest.mark.parametrize(
    ("method", "role"),
    [("read", "reader"), ("transform", "transform"), ("filter", "filter"), ("write", "writer")],
)
def test_non_callable_rejected_with_value(method, role):
    with pytest.raises(TypeError, match=rf"{role}.* must be callable, got int: 42"):
        getattr(Pipeline("p"), method)(42)


@pytest.mark.parametrize("batch_size", [1.5, "10", True])
def test_batch_size_must_be_int(collector, batch_size):
    with pytest.raises(TypeError, match="batch_size"):
        Pipeline("p").write(collector, batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [0, -5])
def test_batch_size_must_be_positive(collector, batch_size):
    with pytest.raises(
        ValueError, match=f"batch_size must be a positive int or None, got {batch_size}"
    ):
        Pipeline("p").write(collector, batch_size=batch_size)


def test_missing_reader_raises_config_error(collector):
    pipeline = Pipeline("p").write(collector)
    with pytest.raises(PipelineConfigError) as caught:
        pipeline.run()
    assert str(caught.value) == "reader must be set via read()"
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, PipelineError)


def test_missing_writer_raises_config_error():
    with pytest.raises(PipelineConfigError) as caught:
        Pipeline("p").read(numbers(1)).run()
    assert str(caught.value) == "writer must be set via write()"


def test_run_rejects_non_context(collector):
    pipeline = Pipeline("p").read(numbers(1)).write(collector)
    with pytest.raises(TypeError, match=r"ctx must be a millpond\.etl\.Context"):
        pipeline.run("ctx")  # type: ignore[arg-type]


def test_steps_apply_in_order(collector):
    pipeline = (
        Pipeline("p")
        .read(reader_of({"v": 1}, {"v": 2}))
        .transform(lambda ctx, r: {**r, "v": r["v"] + 10})
        .transform(lambda ctx, r: {**r, "v": r["v"] * 2})
        .write(collector)
    )
    stats = pipeline.run()
    assert collector.records == [{"v": 22}, {"v": 24}]
    assert stats.read == 2
    assert stats.written == 2
    assert stats.dropped == 0


def test_filter_drops_and_skips_later_steps(collector):
    seen_by_last_step: list[int] = []

    def remember(ctx, record):
        seen_by_last_step.append(record["n"])
        return record

    pipeline = (
        Pipeline("p")
        .read(numbers(6))
        .filter(lambda ctx, r: r["n"] % 2 == 0)
        .transform(remember)
        .write(collector)
    )
    stats = pipeline.run()
    assert seen_by_last_step == [0, 2, 4]
    assert [r["n"] for r in collector.records] == [0, 2, 4]
    assert stats == RunStats(read=6, written=3, dropped=3, duration=stats.duration)


def test_filter_uses_truthiness(collector):
    pipeline = Pipeline("p").read(numbers(4)).filter(lambda ctx, r: r["n"] % 2).write(collector)
    pipeline.run()
    assert [r["n"] for r in collector.records] == [1, 3]


def test_writer_called_once_with_all_records(collector):
    simple = Pipeline("p").read(numbers(1000)).transform(identity).write(collector)
    simple.run()
    assert len(collector.batches) == 1
    assert len(collector.batches[0]) == 1000


def test_writer_called_once_with_empty_list(collector):
    Pipeline("p").read(lambda ctx: []).write(collector).run()
    assert collector.batches == [[]]


def test_all_dropped_writes_empty_list(collector):
    stats = Pipeline("p").read(numbers(5)).filter(lambda ctx, r: False).write(collector).run()
    assert collector.batches == [[]]
    assert stats.dropped == 5


def test_reader_may_return_list_or_tuple(collector):
    Pipeline("p").read(lambda ctx: [{"a": 1}]).write(collector).run()
    Pipeline("p").read(lambda ctx: ({"a": 2},)).write(collector).run()
    assert collector.records == [{"a": 1}, {"a": 2}]


def test_dict_subclasses_are_records(collector):
    pipeline = (
        Pipeline("p")
        .read(lambda ctx: [OrderedDict(a=1)])
        .transform(lambda ctx, r: OrderedDict(r, b=2))
        .write(collector)
    )
    pipeline.run()
    assert collector.records == [{"a": 1, "b": 2}]


def test_callbacks_receive_the_given_context(collector):
    seen: list[Context] = []

    def read(ctx):
        seen.append(ctx)
        return [{"a": 1}]

    def step(ctx, record):
        seen.append(ctx)
        return record

    def write(ctx, records):
        seen.append(ctx)

    ctx = Context(run_id="r1")
    Pipeline("p").read(read).transform(step).filter(lambda c, r: seen.append(c) or True).write(
        write
    ).run(ctx)
    assert len(seen) == 4
    assert all(item is ctx for item in seen)


def test_default_context_carries_pipeline_name():
    names: list[str | None] = []
    Pipeline("orders").read(lambda ctx: names.append(ctx.pipeline_name) or []).write(
        lambda ctx, r: None
    ).run()
    assert names == ["orders"]


def test_stats_duration_is_timedelta(collector):
    stats = Pipeline("p").read(numbers(10)).write(collector).run()
    assert isinstance(stats.duration, timedelta)
    assert stats.duration >= timedelta(0)


def test_pipeline_runs_again_with_fresh_records(collector):
    pipeline = Pipeline("p").read(numbers(3)).write(collector)
    pipeline.run()
    pipeline.run()
    assert collector.batches == [[{"n": 0}, {"n": 1}, {"n": 2}]] * 2


def test_builder_replaces_reader_and_writer():
    first, second = Collector(), Collector()
    pipeline = Pipeline("p").read(numbers(1)).read(numbers(2)).write(first).write(second)
    pipeline.run()
    assert first.batches == []
    assert second.records == [{"n": 0}, {"n": 1}]


def test_many_steps_mixed(collector):
    pipeline = Pipeline("p").read(numbers(100)).write(collector)
    for _ in range(20):
        pipeline.transform(lambda ctx, r: {**r, "n": r["n"] + 1})
        pipeline.filter(lambda ctx, r: r["n"] % 7 != 0)
    stats = pipeline.run()
    expected = []
    for start in range(100):
        n = start
        for _ in range(20):
            n += 1
            if n % 7 == 0:
                break
        else:
            expected.append(n)
    assert [r["n"] for r in collector.records] == expected
    assert stats.written == len(expected)
    assert stats.dropped == 100 - len(expected)


def test_repr_names_pipeline():
    assert "orders" in repr(Pipeline("orders"))
