"""The `millpond` command line (also `python -m millpond`).

Exit codes: 0 success, 1 the pipeline failed, 2 bad input (a usage error, a
TARGET that cannot be loaded, or a pipeline without a reader or writer), 130
interrupted by Ctrl-C (SIGINT).

`millpond run TARGET --json` prints one JSON object on stdout with these keys:

- `pipeline`: the pipeline's name.
- `target`: TARGET as given on the command line.
- `run_id`: the id of the run's context.
- `status`: `succeeded`, `failed` or `canceled` (the values of the runner's `Status`).
- `read`, `written`, `dropped`: record counts, or null when the run did not finish.
- `duration_seconds`: wall time of the run as a float.
- `error`: the one-line error message, or null on success.

Bad input prints nothing on stdout, only the error on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import Final

import millpond
from millpond._target import TargetError, loaded_module, parse_target, resolve
from millpond.etl import Cancelled, Context, Pipeline, PipelineConfigError, PipelineError

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

logger = logging.getLogger("millpond.cli")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: `sys.argv[1:]`) and return the exit code."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        # argparse exits for --help, --version and usage errors; report its code.
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE

    # -v may be absent from the namespace: see _build_parser.
    args.verbose = getattr(args, "verbose", False)
    verbose: bool = args.verbose
    with _stderr_logging(verbose=verbose):
        try:
            code: int = args.handler(args)
        except KeyboardInterrupt:
            _error("interrupted", None, verbose=verbose)
            return EXIT_INTERRUPTED
        return code


def _build_parser() -> argparse.ArgumentParser:
    # -v is accepted both before and after the subcommand. Its default is
    # SUPPRESS, so the subparser cannot overwrite a -v given before it; main()
    # fills in False when neither gave it.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log at DEBUG level to stderr and print tracebacks on errors",
    )

    parser = argparse.ArgumentParser(
        prog="millpond",
        description="Run millpond pipelines.",
        parents=[verbose],
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"millpond {millpond.__version__} ({millpond.BACKEND} backend)",
    )
    commands = parser.add_subparsers(title="commands", dest="command", required=True)

    run = commands.add_parser(
        "run",
        parents=[verbose],
        help="run one pipeline once and print a summary",
        description=(
            "Run one pipeline once and print a summary. Exit status: 0 success, "
            "1 the pipeline failed, 2 the TARGET cannot be loaded, 130 interrupted. "
            "The first Ctrl-C cancels the run between records; a second one stops at once."
        ),
    )
    run.add_argument(
        "target",
        metavar="TARGET",
        help=(
            "path/to/file.py[:name] or package.module[:name], naming a Pipeline or a "
            "function that takes no arguments and returns one; without :name the module "
            "must define exactly one Pipeline"
        ),
    )
    run.add_argument(
        "--json",
        action="store_true",
        help="print the summary as one JSON object on stdout",
    )
    run.set_defaults(handler=_run_command)
    return parser


@dataclass
class _Outcome:
    status: str
    read: int | None = None
    written: int | None = None
    dropped: int | None = None
    duration: timedelta = timedelta(0)
    error: str | None = None


def _run_command(args: argparse.Namespace) -> int:
    verbose: bool = args.verbose
    try:
        target = parse_target(args.target)
    except TargetError as error:
        _error(str(error), error, verbose=verbose)
        return EXIT_USAGE

    try:
        with loaded_module(target) as module:
            pipeline = resolve(module, target, Pipeline)
            logger.debug("loaded pipeline %r from %s", pipeline.name, target)
            return _run_pipeline(pipeline, args)
    except TargetError as error:
        _error(str(error), error, verbose=verbose)
        return EXIT_USAGE
    except PipelineConfigError as error:
        # Raised before the run starts: the target names an incomplete pipeline.
        _error(f"{target} cannot run: {error}", error, verbose=verbose)
        return EXIT_USAGE


def _run_pipeline(pipeline: Pipeline, args: argparse.Namespace) -> int:
    verbose: bool = args.verbose
    ctx = Context(pipeline_name=pipeline.name)
    interrupted = threading.Event()
    logger.info("starting pipeline %r, run id %s", pipeline.name, ctx.run_id)

    outcome, error = _run_once(pipeline, ctx, interrupted)
    logger.info(
        "pipeline %r, run id %s: %s in %s",
        pipeline.name,
        ctx.run_id,
        outcome.status,
        outcome.duration,
    )
    if error is not None:
        _error(outcome.error or type(error).__name__, error, verbose=verbose)
    if args.json:
        _print_json(pipeline, ctx, args.target, outcome)
    else:
        _print_summary(pipeline, ctx, outcome)

    if outcome.status == "succeeded":
        return EXIT_OK
    # A Cancelled that no Ctrl-C caused (a deadline inside the pipeline's own
    # code, for instance) is a failure of the run, not an interruption.
    if outcome.status == "canceled" and interrupted.is_set():
        return EXIT_INTERRUPTED
    return EXIT_FAILED


def _run_once(
    pipeline: Pipeline, ctx: Context, interrupted: threading.Event
) -> tuple[_Outcome, BaseException | None]:
    started = time.perf_counter()
    with _cancel_on_sigint(ctx, interrupted):
        try:
            stats = pipeline.run(ctx)
        except PipelineConfigError:
            raise
        except Cancelled as error:
            return _Outcome("canceled", duration=_since(started), error=str(error)), error
        except PipelineError as error:
            return _Outcome("failed", duration=_since(started), error=str(error)), error
        except KeyboardInterrupt as error:
            # Usually the second Ctrl-C: the run stopped wherever it was.
            if interrupted.is_set():
                message = "interrupted by a second Ctrl-C"
            else:
                message = "interrupted by KeyboardInterrupt"
                interrupted.set()
            return _Outcome("canceled", duration=_since(started), error=message), error
    return _Outcome("succeeded", stats.read, stats.written, stats.dropped, stats.duration), None


def _since(started: float) -> timedelta:
    return timedelta(seconds=time.perf_counter() - started)


@contextmanager
def _cancel_on_sigint(ctx: Context, interrupted: threading.Event) -> Iterator[None]:
    """Cancel `ctx` on the first SIGINT and restore the default behaviour for the next."""
    # Signal handlers can only be installed from the main thread. An ignored
    # SIGINT (a background job of a shell script inherits one) stays ignored,
    # as Python itself leaves it.
    on_main_thread = threading.current_thread() is threading.main_thread()
    if not on_main_thread or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield
        return

    def on_sigint(_signum: int, _frame: FrameType | None) -> None:
        interrupted.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.stderr.write(
            "millpond: interrupted; stopping after the current record "
            "(press Ctrl-C again to stop at once)\n"
        )
        # The handler runs between two bytecodes of the main thread, which may
        # hold a lock inside the context at that moment. Cancelling from
        # another thread waits for that lock instead of deadlocking on it.
        threading.Thread(target=ctx.cancel, name="millpond-cancel", daemon=True).start()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_summary(pipeline: Pipeline, ctx: Context, outcome: _Outcome) -> None:
    rows = [
        ("pipeline", pipeline.name),
        ("run id", ctx.run_id),
        ("status", outcome.status),
    ]
    if outcome.read is not None:
        rows += [
            ("read", str(outcome.read)),
            ("written", str(outcome.written)),
            ("dropped", str(outcome.dropped)),
        ]
    rows.append(("duration", f"{outcome.duration.total_seconds():.3f} s"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        sys.stdout.write(f"{label:<{width}}  {value}\n")


def _print_json(pipeline: Pipeline, ctx: Context, target: str, outcome: _Outcome) -> None:
    document = {
        "pipeline": pipeline.name,
        "target": target,
        "run_id": ctx.run_id,
        "status": outcome.status,
        "read": outcome.read,
        "written": outcome.written,
        "dropped": outcome.dropped,
        "duration_seconds": outcome.duration.total_seconds(),
        "error": outcome.error,
    }
    sys.stdout.write(json.dumps(document) + "\n")


def _error(message: str, error: BaseException | None, *, verbose: bool) -> None:
    if verbose and error is not None:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    sys.stderr.write(f"millpond: error: {message}\n")


@contextmanager
def _stderr_logging(*, verbose: bool) -> Iterator[None]:
    """Send log records to stderr for the duration of one command.

    A handler is added only when the root logger has none, so an application
    that embeds `main()` keeps its own handlers. The handler and the level that
    `--verbose` sets are undone at exit.
    """
    root = logging.getLogger()
    previous_level = root.level
    handler: logging.Handler | None = None
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    if verbose:
        root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.setLevel(previous_level)
        if handler is not None:
            root.removeHandler(handler)
