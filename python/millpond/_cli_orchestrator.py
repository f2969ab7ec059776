"""The `serve` and `runs` commands, and the run store of `millpond run --store`.

`millpond serve TARGET` loads an Orchestrator (or a function returning one)
and serves it until SIGINT or SIGTERM; it then stops scheduling, lets running
jobs finish within `--grace` seconds, records the rest as canceled, closes
the store and exits 0. `millpond runs` prints the runs of a store as a table or as JSON, and
`millpond runs --repair` repairs a damaged FileStore. `millpond._cli_store`
parses the --store value: a FileStore path, a sqlite: URL or a postgresql:// URL.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

from millpond._cli_store import (
    DEFAULT_STORE,
    STORE_ENV,
    STORE_FORMS,
    ClosableStore,
    StoreKind,
    StoreLocation,
    StoreOptionError,
    database_errors,
    describe_error,
    error_text,
    open_store,
    parse_store,
    store_exists,
    store_location,
)
from millpond._pure.file_store import _folder_of, _is_writable, _not_writable
from millpond._store_errors import StoreCorruptError
from millpond._target import TargetError, loaded_module, parse_target, resolve
from millpond.orchestrator import FileStore, Orchestrator, PostgresStore, RunRecord, RunStatus
from millpond.orchestrator._orchestrator import DEFAULT_GRACE_SECONDS
from millpond.orchestrator._recorder import RunRecorder
from millpond.orchestrator._records import record_to_fields

__all__ = [
    "DEFAULT_RUNS_LIMIT",
    "RunNotRecordedError",
    "add_runs_command",
    "add_serve_command",
    "add_store_option",
    "recorded_run",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2

DEFAULT_RUNS_LIMIT: Final = 20
_ERROR_WIDTH: Final = 60

logger = logging.getLogger("millpond.cli")

_STORE_HELP: Final = (
    f"the store to list: {STORE_FORMS} (default: ${STORE_ENV}, else ./{DEFAULT_STORE})"
)


class RunNotRecordedError(Exception):
    """A `running` record that `millpond run --store` could not store; the run did not start."""


# -- argument parsers ---------------------------------------------------------


def add_store_option(run: argparse.ArgumentParser) -> None:
    """Add `--store STORE` to the `run` command."""
    run.add_argument(
        "--store",
        metavar="STORE",
        help=(
            "record the run in STORE: a running record before the pipeline starts and the "
            f"final record after it ends. STORE is {STORE_FORMS}"
        ),
    )


def add_serve_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    verbose: argparse.ArgumentParser,
) -> None:
    """Add `millpond serve TARGET [--grace SECONDS]`."""
    serve = commands.add_parser(
        "serve",
        parents=[verbose],
        help="fire the pipelines of an Orchestrator on their schedules until stopped",
        description=(
            "Load an Orchestrator and fire its pipelines on their schedules, logging each "
            "fire, completion, retry and skip to stderr. SIGTERM or Ctrl-C stops scheduling "
            "and lets running jobs finish within --grace seconds; jobs still running then "
            "are cancelled and recorded as canceled. The command then closes the store "
            "and exits 0. A second signal cancels the running jobs at once. Exit status: "
            "0 after a stop, 2 the TARGET cannot be loaded."
        ),
    )
    serve.add_argument(
        "target",
        metavar="TARGET",
        help=(
            "path/to/file.py[:name] or package.module[:name], naming an Orchestrator or a "
            "function that takes no arguments and returns one; without :name the module "
            "must define exactly one Orchestrator"
        ),
    )
    serve.add_argument(
        "--grace",
        metavar="SECONDS",
        type=_seconds,
        default=DEFAULT_GRACE_SECONDS,
        help=(
            "how long running jobs may take to finish after the stop signal, in seconds "
            f"(default {DEFAULT_GRACE_SECONDS:g})"
        ),
    )
    serve.set_defaults(handler=_serve_command, service=True)


def add_runs_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    verbose: argparse.ArgumentParser,
) -> None:
    """Add `millpond runs [--store STORE] [--pipeline NAME] [--status S] [--limit N] [--json]`."""
    runs = commands.add_parser(
        "runs",
        parents=[verbose],
        help="list the recorded runs of a store, newest first",
        description=(
            "List the runs recorded in a FileStore, SQLiteStore or PostgresStore, newest "
            "first: start time (UTC), pipeline, status, duration, slot, run id and error. "
            "Exit status: 0 success, 1 the store is damaged (see --repair) or cannot be "
            "read, 2 bad input, no store at the path or in the database (runs never creates "
            "one), or a store that cannot be opened."
        ),
    )
    runs.add_argument("--store", metavar="STORE", help=_STORE_HELP)
    runs.add_argument("--pipeline", metavar="NAME", help="show only the runs of this pipeline")
    runs.add_argument(
        "--status",
        choices=[status.value for status in RunStatus],
        help="show only runs with this status",
    )
    runs.add_argument(
        "--limit",
        metavar="N",
        type=_count,
        default=DEFAULT_RUNS_LIMIT,
        help=f"show the newest N runs (default {DEFAULT_RUNS_LIMIT}; 0 shows all)",
    )
    runs.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of records, with the store's field names, instead of a table",
    )
    runs.add_argument(
        "--repair",
        action="store_true",
        help=(
            "repair a damaged FileStore instead of listing it: move damaged files aside and "
            "keep every record that parses, then print what was kept and moved"
        ),
    )
    runs.set_defaults(handler=_runs_command)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid number of seconds {text!r}: expected a number >= 0 such as 30"
        ) from None
    if math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"invalid number of seconds {text!r}: expected a number >= 0 such as 30"
        )
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid count {text!r}: expected a whole number >= 0"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: expected a whole number >= 0")
    return value


# -- serve ----------------------------------------------------------------------


def _serve_command(args: argparse.Namespace) -> int:
    verbose: bool = args.verbose
    try:
        target = parse_target(args.target)
        with loaded_module(target) as module:
            orchestrator = resolve(module, target, Orchestrator)
            return _serve(orchestrator, target=str(target), grace=args.grace)
    except TargetError as error:
        _error(str(error), error, verbose=verbose)
        return EXIT_USAGE


def _serve(orchestrator: Orchestrator, *, target: str, grace: float) -> int:
    names = orchestrator.pipelines
    logger.info(
        "serving %s: %d pipelines (%s), store %s",
        target,
        len(names),
        ", ".join(names) or "none",
        _describe_store(orchestrator),
    )
    if not names:
        logger.warning("%s registers no pipelines; nothing will fire", target)

    orchestrator.serve(grace=grace)

    leftover = orchestrator.unfinished_runs()
    if leftover:
        # These jobs ignored cancellation and are recorded as canceled. The
        # runner would wait for them at interpreter exit, so exit now.
        logger.error(
            "exiting while %d jobs still run after ignoring cancellation: %s",
            len(leftover),
            ", ".join(leftover),
        )
        # Their final records are stored already, so the store can close.
        # NOTE: a stuck job that ends during the close would find the store
        # closed, and its late record would be logged as not stored.
        _close_store(orchestrator)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_OK)
    _close_store(orchestrator)
    logger.info("stopped")
    return EXIT_OK


def _close_store(orchestrator: Orchestrator) -> None:
    """Close the orchestrator's store if it has a close() method, logging an Exception from it.

    A database store deletes its instance row and stops its heartbeat, and
    a FileStore compacts its journal.
    """
    store = orchestrator.store
    close = getattr(store, "close", None)
    if not callable(close):
        return
    try:
        close()
    # The stop is complete, so a failed close changes only the log, not the exit status.
    except Exception as error:
        logger.error(  # noqa: TRY400 (the traceback shows only under -v)
            "could not close the store %s: %s: %s",
            _describe_store(orchestrator),
            type(error).__name__,
            error_text(error),
            exc_info=error if logger.isEnabledFor(logging.DEBUG) else None,
        )


def _describe_store(orchestrator: Orchestrator) -> str:
    store = orchestrator.store
    if store is None:
        return "none (runs are not recorded)"
    if isinstance(store, PostgresStore):
        # Host, port, database, user and instance id; never the password.
        return repr(store)
    path = getattr(store, "path", None)
    return str(path) if path is not None else type(store).__name__


# -- runs -----------------------------------------------------------------------


def _runs_command(args: argparse.Namespace) -> int:
    verbose: bool = args.verbose
    try:
        location = store_location(args.store)
    except StoreOptionError as error:
        _error(str(error), error, verbose=verbose)
        return EXIT_USAGE
    if not args.repair:
        return _print_runs(location, args)
    if location.kind is not StoreKind.FILE:
        _error(
            f"--repair applies only to a FileStore, and {location.display} is a "
            f"{location.kind.value}",
            None,
            verbose=verbose,
        )
        return EXIT_USAGE
    return _repair(Path(location.target), verbose=verbose)


def _print_runs(location: StoreLocation, args: argparse.Namespace) -> int:
    verbose: bool = args.verbose
    if not store_exists(location):
        _error(
            f"no run store at {location.display}: pass --store STORE or set {STORE_ENV} "
            f"to {STORE_FORMS}",
            None,
            verbose=verbose,
        )
        return EXIT_USAGE
    try:
        store = open_store(location, create=False)
    except StoreOptionError as error:
        _error(str(error), error, verbose=verbose)
        return EXIT_USAGE

    try:
        records = _list_runs(store, location, args, verbose=verbose)
    finally:
        # Closing a FileStore compacts its journal, and listing runs never
        # writes, so only the database stores are closed here.
        if location.kind is not StoreKind.FILE:
            store.close()
    if records is None:
        return EXIT_FAILED

    if args.json:
        rows = [_json_row(record) for record in records]
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    elif records:
        sys.stdout.write(_table(records) + "\n")
    else:
        sys.stderr.write(f"millpond: no runs match in {location.display}\n")
    return EXIT_OK


def _list_runs(
    store: ClosableStore, location: StoreLocation, args: argparse.Namespace, *, verbose: bool
) -> list[RunRecord] | None:
    """Return the runs that the options select, or None after printing why they cannot be read."""
    try:
        return store.list_runs(
            pipeline=args.pipeline, status=args.status, limit=args.limit or None
        )
    except StoreCorruptError as error:
        _error(
            f"{error}; run 'millpond runs --repair --store {location.display}' to move the "
            "damaged file aside and keep every record that parses",
            error,
            verbose=verbose,
        )
    except _store_errors() as error:
        _error(
            f"cannot read the runs in {location.display}: {describe_error(location, error)}",
            error,
            verbose=verbose,
        )
    return None


def _repair(path: Path, *, verbose: bool) -> int:
    try:
        report = FileStore.repair(path)
    except (OSError, ValueError, TypeError) as error:
        _error(f"cannot repair the run store {path}: {error_text(error)}", error, verbose=verbose)
        return EXIT_USAGE
    lines = [
        f"kept {report.kept} runs in {path}",
        f"dropped {report.dropped_lines} unreadable journal lines",
    ]
    lines += [f"moved aside: {moved}" for moved in report.moved]
    if not report.moved:
        lines.append("moved aside: nothing, the store was not damaged")
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


def _json_row(record: RunRecord) -> dict[str, object]:
    row: dict[str, object] = dict(record_to_fields(record))
    ended = record.ended_at
    row["duration_seconds"] = (
        None if ended is None else round((ended - record.started_at).total_seconds(), 6)
    )
    return row


def _table(records: list[RunRecord]) -> str:
    header = ("STARTED (UTC)", "PIPELINE", "STATUS", "DURATION", "SLOT (UTC)", "RUN ID", "ERROR")
    rows = [header]
    rows += [
        (
            _clock(record.started_at),
            record.pipeline_name,
            record.status.value,
            _duration(record),
            "-" if record.scheduled_for is None else _clock(record.scheduled_for),
            record.id,
            _one_line(record.error),
        )
        for record in records
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _clock(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _duration(record: RunRecord) -> str:
    if record.ended_at is None:
        return "-"
    seconds = (record.ended_at - record.started_at).total_seconds()
    if seconds < 60:
        return f"{seconds:.3f} s"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{rest:02d}s" if hours else f"{minutes}m{rest:02d}s"


def _one_line(error: str | None) -> str:
    if not error:
        return ""
    line = " ".join(error.split())
    if len(line) > _ERROR_WIDTH:
        return line[: _ERROR_WIDTH - 3] + "..."
    return line


# -- run --store ----------------------------------------------------------------


@contextmanager
def recorded_run(
    store_text: str | None, pipeline_name: str, run_id: str
) -> Iterator[Callable[[str, str | None], None]]:
    """Record one `millpond run` in the store that `store_text` names; a no-op when it is None.

    Stores a `running` record on entry and yields a function that takes the
    final status and error text. Leaving the block without calling it, or
    with an exception, records the run as failed (canceled for
    KeyboardInterrupt). Runs that exited processes left `running` are closed
    first. Raises StoreOptionError when the store cannot be opened, its
    folder is not writable or writing it is not permitted, and
    RunNotRecordedError when the `running` record cannot be stored for
    another reason. The store is closed on exit, which stops a database
    store's lease heartbeat.
    """
    if store_text is None:
        yield _ignore_outcome
        return
    location = parse_store(store_text)
    store = open_store(location)
    try:
        if location.kind is StoreKind.FILE:
            _check_writable_folder(location)
        with _recording(store, location, pipeline_name, run_id) as record_outcome:
            yield record_outcome
    finally:
        store.close()


@contextmanager
def _recording(
    store: ClosableStore, location: StoreLocation, pipeline_name: str, run_id: str
) -> Iterator[Callable[[str, str | None], None]]:
    recorder = RunRecorder(store)
    started = RunRecord(
        id=run_id,
        pipeline_name=pipeline_name,
        job_id=uuid.uuid4().hex,
        status=RunStatus.RUNNING,
        started_at=datetime.now(timezone.utc),
        ended_at=None,
        error=None,
    )
    outcome: list[tuple[str, str | None]] = []
    try:
        try:
            recorder.recover_once()
            recorder.begin(started)
        except PermissionError as error:
            raise StoreOptionError(
                f"cannot record the run in {location.display}, so it did not start: "
                f"{error_text(error)}"
            ) from error
        except _store_errors() as error:
            raise RunNotRecordedError(
                f"cannot record the run in {location.display}, so it did not start: "
                f"{describe_error(location, error)}"
            ) from error
        try:
            yield lambda status, error: outcome.append((status, error))
        except KeyboardInterrupt:
            outcome.append(("canceled", "interrupted by KeyboardInterrupt"))
            raise
        except BaseException as error:
            outcome.append(("failed", f"{type(error).__name__}: {error}"))
            raise
        finally:
            status, message = outcome[0] if outcome else ("failed", "ended without a result")
            recorder.finish(_final(started, status, message))
            recorder.flush()
    finally:
        recorder.close()


def _check_writable_folder(location: StoreLocation) -> None:
    """Raise StoreOptionError when the folder of a FileStore cannot be written.

    A FileStore opens read-only in such a folder, but recording a run
    writes the journal and the owner lease beside the snapshot.
    """
    try:
        folder = _folder_of(str(Path(location.target).absolute()))
        if not _is_writable(folder):
            raise _not_writable(folder)
    except OSError as error:
        raise StoreOptionError(
            f"cannot record the run in {location.display}: {error_text(error)}"
        ) from error


def _store_errors() -> tuple[type[Exception], ...]:
    """Return the errors a store raises when its file or database fails."""
    return (OSError, *database_errors())


def _ignore_outcome(status: str, error: str | None) -> None:
    pass


def _final(record: RunRecord, status: str, error: str | None) -> RunRecord:
    return RunRecord(
        id=record.id,
        pipeline_name=record.pipeline_name,
        job_id=record.job_id,
        status=status,
        started_at=record.started_at,
        ended_at=max(datetime.now(timezone.utc), record.started_at),
        error=error,
    )


def _error(message: str, error: BaseException | None, *, verbose: bool) -> None:
    if verbose and error is not None:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    sys.stderr.write(f"millpond: error: {message}\n")
