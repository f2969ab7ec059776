"""`Pipeline`: the builder that assembles a reader, steps and a writer, and runs them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from millpond.etl._context import Context
from millpond.etl._dispatch import PipelineTargets, require_hook
from millpond.etl._errors import PipelineConfigError
from millpond.etl._hooks import NoopPipelineHook, PipelineInfo
from millpond.etl._run import RunPlan, RunStats, execute

if TYPE_CHECKING:
    from millpond.etl._hooks import PipelineHook
    from millpond.etl._types import Predicate, Reader, Transform, Writer

__all__ = ["Pipeline"]


def _require_callable(role: str, value: object) -> None:
    if not callable(value):
        raise TypeError(
            f"{role} must be callable, got {type(value).__name__}: {value!r}; "
            "pass a function taking the run context first"
        )


class Pipeline:
    """A reader, transforms and filters applied in order, and a writer.

    Builder methods return the pipeline, so calls chain. `read()`, `write()`
    and `hook()` replace what an earlier call set; `transform()` and
    `filter()` append a step. `run()` works on a snapshot, so the pipeline
    may be changed or run again, also from other threads, while a run is in
    progress.
    """

    __slots__ = (
        "_batch_size",
        "_hook",
        "_hook_targets",
        "_kinds",
        "_name",
        "_reader",
        "_steps",
        "_writer",
    )

    def __init__(self, name: str) -> None:
        if name is None:
            raise ValueError("pipeline name must be a non-empty string, got None")
        if not isinstance(name, str):
            raise TypeError(
                f"pipeline name must be a non-empty string, got {type(name).__name__}: {name!r}"
            )
        if not name.strip():
            raise ValueError(f"pipeline name must be a non-empty string, got {name!r}")
        self._name = name
        self._reader: Reader | None = None
        self._steps: list[Callable[..., Any]] = []
        self._kinds: list[bool] = []
        self._writer: Writer | None = None
        self._batch_size: int | None = None
        self._hook: PipelineHook = NoopPipelineHook()
        self._hook_targets = PipelineTargets()

    @property
    def name(self) -> str:
        """The pipeline's name, as given to the constructor."""
        return self._name

    def read(self, reader: Reader) -> Pipeline:
        """Set the reader, replacing any earlier one. Raises TypeError if it is not callable."""
        _require_callable("reader", reader)
        self._reader = reader
        return self

    def transform(self, fn: Transform) -> Pipeline:
        """Append a step that maps each record to a record (a dict).

        Raises TypeError if `fn` is not callable.
        """
        _require_callable("transform", fn)
        self._steps.append(fn)
        self._kinds.append(True)
        return self

    def filter(self, predicate: Predicate) -> Pipeline:
        """Append a step that drops each record for which `predicate` returns a false value.

        A dropped record skips the remaining steps and is counted in
        `RunStats.dropped`. Raises TypeError if `predicate` is not callable.
        """
        _require_callable("filter predicate", predicate)
        self._steps.append(predicate)
        self._kinds.append(False)
        return self

    def write(self, writer: Writer, batch_size: int | None = None) -> Pipeline:
        """Set the writer, replacing any earlier one, and choose in-memory or streaming mode.

        With `batch_size=None` the reader is drained first and the writer is
        called once with every kept record, or with [] when none is kept. With
        a positive `batch_size` the reader is consumed lazily and the writer
        gets lists of at most `batch_size` kept records. It is also called
        once with [] when no record is kept at all. Raises TypeError for a
        non-callable writer or a non-int `batch_size`, and ValueError for a
        `batch_size` below 1.
        """
        _require_callable("writer", writer)
        if batch_size is not None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, int):
                raise TypeError(
                    f"batch_size must be a positive int or None, "
                    f"got {type(batch_size).__name__}: {batch_size!r}"
                )
            if batch_size < 1:
                raise ValueError(
                    f"batch_size must be a positive int or None, got {batch_size!r}; "
                    "use None to write all records at once"
                )
        self._writer = writer
        self._batch_size = batch_size
        return self

    def hook(self, hook: PipelineHook | None) -> Pipeline:
        """Set the hook that receives this pipeline's events; None restores the no-op hook.

        Use `Hooks(a, b)` for several hooks. Which events the hook overrides is
        determined here, once, so methods changed on the hook's class later are
        not noticed. Raises TypeError if `hook` lacks a PipelineHook method.
        """
        if hook is None:
            hook = NoopPipelineHook()
        require_hook(hook, job=False)
        self._hook = hook
        self._hook_targets = PipelineTargets.of(hook)
        return self

    def run(self, ctx: Context | None = None) -> RunStats:
        """Run the pipeline once and return its counts and duration.

        `ctx=None` runs under a new root `Context` whose `pipeline_name` is
        this pipeline's name; a given context is used as it is. Raises
        PipelineConfigError before any hook event when the reader or writer is
        missing, ReadError, StepError or WriteError wrapping a failure, and
        Cancelled when the context is cancelled or its deadline passes.
        """
        if ctx is None:
            ctx = Context(pipeline_name=self._name)
        elif not isinstance(ctx, Context):
            raise TypeError(
                f"ctx must be a millpond.etl.Context or None, got {type(ctx).__name__}: {ctx!r}"
            )
        if self._reader is None:
            raise PipelineConfigError("reader must be set via read()")
        if self._writer is None:
            raise PipelineConfigError("writer must be set via write()")

        plan = RunPlan(
            info=PipelineInfo(self._name),
            reader=self._reader,
            steps=tuple(self._steps),
            kinds=tuple(self._kinds),
            writer=self._writer,
            batch_size=self._batch_size,
            hooks=self._hook_targets,
        )
        return execute(plan, ctx)

    def __repr__(self) -> str:
        mode = "in memory" if self._batch_size is None else f"batch_size={self._batch_size}"
        return f"<Pipeline {self._name!r}: {len(self._steps)} steps, {mode}>"
