"""Exceptions raised by pipeline runs."""

from __future__ import annotations

import reprlib
from typing import Final

__all__ = [
    "Cancelled",
    "PipelineConfigError",
    "PipelineError",
    "ReadError",
    "StepError",
    "WriteError",
]

# Messages quote bad records and results. A short repr keeps a huge record
# from flooding a log line.
_REPR: Final = reprlib.Repr()
_REPR.maxstring = 80
_REPR.maxother = 80


class PipelineError(Exception):
    """Base class of every error a pipeline run raises."""


class PipelineConfigError(PipelineError, ValueError):
    """A pipeline is missing a required part, found when it starts to run."""


class ReadError(PipelineError):
    """The reader failed, returned something that is not iterable, or yielded a non-dict."""


class StepError(PipelineError):
    """A transform or filter failed, or a transform returned something other than a dict.

    `step` is the zero-based position of the failing step among all transforms
    and filters, in the order they were added.
    """

    def __init__(self, step: int, message: str) -> None:
        super().__init__(message)
        self.step = step

    def __reduce__(self) -> tuple[type[StepError], tuple[int, str]]:
        return type(self), (self.step, str(self))


class WriteError(PipelineError):
    """The writer failed."""


class Cancelled(PipelineError):  # noqa: N818 (the public name is part of the API)
    """The run's context was cancelled or its deadline passed."""


def describe(error: BaseException) -> str:
    """Return `Type: message`, or only `Type` when the message is empty."""
    message = str(error)
    name = type(error).__name__
    return f"{name}: {message}" if message else name


def short_repr(value: object) -> str:
    """Return a repr of `value` cut to a length that fits in one log line."""
    return _REPR.repr(value)


def read_failed(error: BaseException) -> BaseException:
    """Wrap a reader error in ReadError, keeping `Cancelled` and non-Exceptions as they are."""
    if isinstance(error, Cancelled) or not isinstance(error, Exception):
        return error
    wrapped = ReadError(f"read failed: {describe(error)}")
    wrapped.__cause__ = error
    return wrapped


def step_failed(step: int, error: BaseException) -> BaseException:
    """Wrap a step error in StepError, keeping `Cancelled` and non-Exceptions as they are."""
    if isinstance(error, Cancelled) or not isinstance(error, Exception):
        return error
    wrapped = StepError(step, f"step[{step}] failed: {describe(error)}")
    wrapped.__cause__ = error
    return wrapped


def write_failed(error: BaseException) -> BaseException:
    """Wrap a writer error in WriteError, keeping `Cancelled` and non-Exceptions as they are."""
    if isinstance(error, Cancelled) or not isinstance(error, Exception):
        return error
    wrapped = WriteError(f"write failed: {describe(error)}")
    wrapped.__cause__ = error
    return wrapped


def not_iterable(result: object) -> ReadError:
    """Return the error for a reader whose result cannot be iterated."""
    return ReadError(
        f"read failed: reader returned {type(result).__name__} {short_repr(result)}, "
        "which is not iterable; a reader must return an iterable of dicts"
    )


def single_value(result: object) -> ReadError:
    """Return the error for a reader that returned one dict, str or bytes value."""
    return ReadError(
        f"read failed: reader returned {type(result).__name__} {short_repr(result)}; "
        "a reader must return an iterable of dicts, such as a list or a generator"
    )


def not_a_record(index: int, record: object) -> ReadError:
    """Return the error for a reader that yielded something other than a dict."""
    return ReadError(
        f"read failed: record {index} is {type(record).__name__} {short_repr(record)}; "
        "a reader must yield dicts"
    )


def not_a_dict_result(step: int, result: object) -> StepError:
    """Return the error for a transform that returned something other than a dict."""
    hint = " (does the transform end without `return record`?)" if result is None else ""
    return StepError(
        step,
        f"step[{step}] failed: transform returned {type(result).__name__} "
        f"{short_repr(result)}; a transform must return the record as a dict{hint}",
    )
