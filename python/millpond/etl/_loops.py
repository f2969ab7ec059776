"""Record loops generated per step layout, so a run pays no per-step dispatch.

The steps of a pipeline are known before it runs, so the loop that applies
them is written out as Python source once per layout and compiled. Each step
becomes an inline call with its own `try`. A generic inner loop over a list
of steps would cost about as much per record as three trivial step calls
(measured on CPython 3.11 with benchmarks/pipeline_overhead.py).

Loops never let a step's or writer's exception escape: they catch it, wrap it
and return it as `failure`, so anything that escapes the `for` statement of a
loop over a reader came from the reader's iterator.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from millpond.etl._errors import not_a_dict_result, not_a_record, read_failed, step_failed

if TYPE_CHECKING:
    from millpond.etl._context import Context
    from millpond.etl._types import Record

__all__ = ["Loop", "Mode", "StepEmitters", "compiled_loop"]

# (emit on_step_start, emit on_step_end, the info passed to both)
StepEmitters: TypeAlias = tuple[Callable[..., None], Callable[..., None], object]
Flush: TypeAlias = Callable[[list[dict[str, Any]]], None]

# What a loop consumes and returns:
# - "drain": the reader's iterator; returns every record, checked to be a dict.
# - "steps": the list a drain returned; applies the steps and returns the kept
#   records. Its read count is 0.
# - "stream": the reader's iterator; checks and applies the steps to each
#   record, passes every full batch to `flush` and returns the last, partial one.
Mode: TypeAlias = Literal["drain", "steps", "stream"]

# loop(ctx, source, steps, emitters, batch_size, flush) -> (records read, records, failure)
Loop: TypeAlias = Callable[
    [
        "Context",
        Iterable["Record"],
        tuple[Callable[..., Any], ...],
        "StepEmitters | None",
        int,
        "Flush | None",
    ],
    tuple[int, list["Record"], "BaseException | None"],
]


def _seconds_since(started: float) -> timedelta:
    return timedelta(seconds=time.perf_counter() - started)


_NAMESPACE: Final[dict[str, object]] = {
    "_dict": dict,
    "_isinstance": isinstance,
    "_perf_counter": time.perf_counter,
    "_seconds_since": _seconds_since,
    "_not_a_dict_result": not_a_dict_result,
    "_not_a_record": not_a_record,
    "_read_failed": read_failed,
    "_step_failed": step_failed,
}

# `record.__class__ is _dict` settles the common case without the cost of an
# isinstance() call; subclasses of dict still pass through the second test.
_NOT_A_DICT: Final = "record.__class__ is not _dict and not _isinstance(record, _dict)"


def _step_lines(index: int, is_transform: bool, hooked: bool) -> list[str]:
    """Return the lines that apply step `index` to `record`, indented to depth 0."""
    call = f"step{index}(ctx, record)"
    if hooked:
        end = f"emit_end(ctx, info, {index}, failure, _seconds_since(started))"
        lines = [
            f"emit_start(ctx, info, {index})",
            "started = _perf_counter()",
            "try:",
            f"    record = {call}" if is_transform else f"    keep = bool({call})",
            "except BaseException as error:",
            f"    failure = _step_failed({index}, error)",
            f"    {end}",
            "    break",
        ]
        if is_transform:
            lines += [
                f"if {_NOT_A_DICT}:",
                f"    failure = _not_a_dict_result({index}, record)",
                f"    {end}",
                "    break",
                f"emit_end(ctx, info, {index}, None, _seconds_since(started))",
            ]
        else:
            lines += [
                f"emit_end(ctx, info, {index}, None, _seconds_since(started))",
                "if not keep:",
                "    continue",
            ]
        return lines

    if not is_transform:
        return [
            "try:",
            f"    if not {call}:",
            "        continue",
            "except BaseException as error:",
            f"    failure = _step_failed({index}, error)",
            "    break",
        ]
    return [
        "try:",
        f"    record = {call}",
        "except BaseException as error:",
        f"    failure = _step_failed({index}, error)",
        "    break",
        f"if {_NOT_A_DICT}:",
        f"    failure = _not_a_dict_result({index}, record)",
        "    break",
    ]


def _loop_source(kinds: tuple[bool, ...], mode: Mode, hooked: bool) -> str:
    """Return the source of the loop for one step layout (see `Loop`)."""
    reads = mode != "steps"
    head = ["def loop(ctx, source, steps, emitters, batch_size, flush):"]
    if kinds:
        head.append("    " + ", ".join(f"step{i}" for i in range(len(kinds))) + ", = steps")
    if hooked:
        head.append("    emit_start, emit_end, info = emitters")
    head += [
        "    records = []",
        "    append = records.append",
        "    read = 0",
        "    failure = None",
    ]

    body: list[str] = []
    if mode == "stream":
        body.append("read += 1")
    if reads:
        index = "read - 1" if mode == "stream" else "len(records)"
        body += [
            f"if {_NOT_A_DICT}:",
            f"    failure = _not_a_record({index}, record)",
            "    break",
        ]
    body += ["if ctx._cancelled:", "    failure = ctx._cancelled_error()", "    break"]
    for step, is_transform in enumerate(kinds):
        body += _step_lines(step, is_transform, hooked)
    body.append("append(record)")
    if mode == "stream":
        body += [
            "if len(records) >= batch_size:",
            "    try:",
            "        flush(records)",
            "    except BaseException as error:",
            "        failure = error",
            "        break",
            "    records = []",
            "    append = records.append",
        ]

    if reads:
        loop = ["    try:", "        for record in source:"]
        loop += ["            " + line for line in body]
        loop += ["    except BaseException as error:", "        failure = _read_failed(error)"]
    else:
        loop = ["    for record in source:"]
        loop += ["        " + line for line in body]
    if mode == "drain":
        loop.append("    read = len(records)")

    return "\n".join([*head, *loop, "    return read, records, failure", ""])


@functools.lru_cache(maxsize=256)
def compiled_loop(kinds: tuple[bool, ...], *, mode: Mode, hooked: bool) -> Loop:
    """Return the loop for steps of `kinds` (True: transform, False: filter), compiled once.

    `hooked` emits step events with durations. See `Mode` for `mode`.
    """
    source = _loop_source(kinds, mode, hooked)
    namespace = dict(_NAMESPACE)
    layout = "".join("T" if is_transform else "F" for is_transform in kinds)
    # The source is built above from fixed fragments and step indices only;
    # no user-supplied text reaches exec().
    exec(compile(source, f"<millpond.etl {mode} loop {layout}>", "exec"), namespace)  # noqa: S102
    loop: Loop = namespace["loop"]  # type: ignore[assignment]
    return loop
