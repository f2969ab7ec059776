"""The `millpond` command line (also `python -m millpond`).

Exit codes: 0 success, 1 the pipeline failed, 2 bad input (a usage error, a
TARGET that cannot be loaded, a pipeline without a reader or writer, or a
--store that cannot be opened), 130 interrupted by Ctrl-C (SIGINT).

`millpond run TARGET --json` prints one JSON object on stdout with these keys:

- `pipeline`: the pipeline's name.
- `target`: TARGET as given on the command line.
- `run_id`: the id of the run's context.
- `status`: `succeeded`, `failed` or `canceled` (the values of the runner's `Status`).
- `read`, `written`, `dropped`: record counts, or null when the run did not finish.
- `duration_seconds`: wall time of the run as a float.
- `error`: the one-line error message, or null on success.

Bad input prints nothing on stdout, only the error on stderr.

`millpond next SCHEDULE` prints the next run times of a schedule written as
`parse_schedule` reads it (`every 5m`, `daily 02:00,14:30 mon-fri`,
`cron 0 2 * * *`, parts joined by `;`). Each line contains one time in ISO
8601 with its UTC offset, in the `--tz` zone, then the time from the start in
parentheses. `--json` prints a JSON list of the ISO 8601 strings instead. The
start is `--after`, or the current time truncated to whole seconds. A
schedule that ends before N times prints those it has plus a note on stderr,
and exits 0. Invalid input exits 2.

`millpond run TARGET --store STORE` also records the run in STORE, a
FileStore path, a `sqlite:` URL or a `postgresql://` URL (see
`millpond._cli_store`): a `running` record before the pipeline starts and
the final record after it ends. A store that cannot be opened (an unknown
URL scheme, a missing folder, psycopg not installed, a server that refuses
the connection) or that this user may not write (its folder or files) exits
2, and a `running` record that cannot be stored for another reason exits 1.
Neither runs the pipeline.

`millpond serve TARGET` and `millpond runs` are described in
`millpond._cli_orchestrator`.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from types import FrameType
from typing import Final

import millpond
from millpond._cli_orchestrator import (
    RunNotRecordedError,
    add_runs_command,
    add_serve_command,
    add_store_option,
    recorded_run,
)
from millpond._cli_store import StoreOptionError
from millpond._target import TargetError, loaded_module, parse_target, resolve
from millpond.etl import Cancelled, Context, Pipeline, PipelineConfigError, PipelineError
from millpond.scheduler import parse_schedule, upcoming

# `next` resolves --tz with the lookup that schedules use for `location`, so
# `every` results appear in the zone that `daily` and `cron` parts use.
from millpond.scheduler._location import resolve_location

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

DEFAULT_COUNT: Final = 5
MAX_COUNT: Final = 10_000

_UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)

# ISO 8601 extended format: a date, optionally a time after T or a space, and
# optionally an offset after the time (Z, +HH:MM, +HHMM or +HH).
_ISO_DATE_TIME: Final = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"(?:[Tt ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]{1,6}))?)?"
    r"(?P<offset>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_AFTER_FORMS: Final = (
    "expected an ISO 8601 date and time such as 2026-03-29T01:30+01:00 or "
    "2026-03-29T00:30Z, or a wall time in the --tz zone such as 2026-03-29T01:30 or 2026-03-29"
)

_SCHEDULE_SYNTAX: Final = """\
schedule syntax (keywords and day names are case-insensitive):
  every DURATION          elapsed time from the start: every 90s, every 5m,
                          every 1h30m, every 2d. Units w, d, h, m, s with whole
                          numbers, largest unit first; a bare number such as
                          "every 45" is rejected. 1d is 24 hours, even across a
                          daylight-saving change; use daily for wall-clock days.
  daily TIMES [WEEKDAYS]  wall-clock times in the --tz zone: daily 02:00,14:30
                          mon-fri. Times are H:MM or HH:MM, 0:00 to 23:59.
                          Weekdays are mon to sun or full names, ranges such as
                          mon-fri or sat-sun (no wrap-around), weekdays and
                          weekends, separated by commas; none means every day.
  cron EXPRESSION         five fields (minute hour day-of-month month
                          day-of-week) or a macro, in the --tz zone:
                          cron */15 9-17 * * 1-5, cron @daily.
  PART; PART ...          runs whenever any part runs: "daily 09:00; every 6h".
                          An every part counts from the previous run of any
                          part, so after its first 09:00 run that example
                          runs at 03:00, 09:00, 15:00 and 21:00.

A daily or cron time that the clock skips (spring forward) runs as late as the
gap is long. A time that occurs twice (fall back) runs once, at the first
occurrence, except in cron expressions whose hour field starts with '*'.

--after takes YYYY-MM-DD[THH:MM[:SS[.ffffff]][OFFSET]], where a space may
replace the T and OFFSET is Z, +HH:MM, +HHMM or +HH. Without an offset it is
a wall time in the --tz zone. A wall time that the zone skips or repeats at
that moment is rejected, so add the offset to choose.

exit status: 0 success, also when the schedule ends early (a note on stderr
says so); 2 invalid input.

examples:
  millpond next "daily 02:00,14:30 mon-fri" --tz Europe/Berlin
  millpond next "every 5m" -n 3 --json
  millpond next "cron @daily" --tz America/New_York --after 2026-11-01T00:00
"""

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
    with _stderr_logging(verbose=verbose, service=getattr(args, "service", False)):
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
        description=(
            "Run and schedule millpond pipelines, list their recorded runs and preview schedules."
        ),
        epilog=(
            "Schedules for 'next' are written as 'every 5m', 'daily 02:00,14:30 mon-fri' "
            "or 'cron 0 2 * * *', with parts joined by ';'. "
            "Run 'millpond next --help' for the full syntax."
        ),
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
            "1 the pipeline failed or its running record could not be stored, 2 the TARGET "
            "or the --store cannot be loaded, 130 interrupted. "
            "The first Ctrl-C cancels the run between records; a second one stops at once. "
            "A run that finishes before its next check still exits 0. A SIGINT that was "
            "ignored when millpond started (a background job of a script) stays ignored."
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
    add_store_option(run)
    run.set_defaults(handler=_run_command)

    _add_next_command(commands, verbose)
    add_serve_command(commands, verbose)
    add_runs_command(commands, verbose)
    return parser


def _add_next_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    verbose: argparse.ArgumentParser,
) -> None:
    preview = commands.add_parser(
        "next",
        parents=[verbose],
        help="print the next run times of a schedule",
        description=(
            "Print the next run times of SCHEDULE, one per line: the time in ISO 8601\n"
            "with its UTC offset, then the time from the start (now, or --after)."
        ),
        epilog=_SCHEDULE_SYNTAX,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    preview.add_argument(
        "schedule",
        metavar="SCHEDULE",
        help='the schedule, quoted as one argument, such as "every 5m" (syntax below)',
    )
    preview.add_argument(
        "-n",
        "--count",
        metavar="N",
        default=str(DEFAULT_COUNT),
        help=f"how many run times to print, 1-{MAX_COUNT} (default {DEFAULT_COUNT})",
    )
    preview.add_argument(
        "--tz",
        metavar="ZONE",
        help=(
            "IANA time zone such as Europe/Berlin or UTC: the zone of daily and cron "
            "times and of the output (default: the system's local zone)"
        ),
    )
    preview.add_argument(
        "--after",
        metavar="ISO",
        help=(
            "list the run times after this ISO 8601 date and time instead of after now, "
            "such as 2026-03-29T01:30+01:00 or 2026-03-29T01:30 in the --tz zone "
            "(forms below)"
        ),
    )
    preview.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of ISO 8601 strings instead of lines",
    )
    preview.set_defaults(handler=_next_command)


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
    except StoreOptionError as error:
        _error(str(error), error, verbose=verbose)
        return EXIT_USAGE
    except RunNotRecordedError as error:
        _error(str(error), error, verbose=verbose)
        return EXIT_FAILED


def _run_pipeline(pipeline: Pipeline, args: argparse.Namespace) -> int:
    verbose: bool = args.verbose
    ctx = Context(pipeline_name=pipeline.name)
    interrupted = threading.Event()

    with recorded_run(args.store, pipeline.name, ctx.run_id) as record_outcome:
        logger.info("starting pipeline %r, run id %s", pipeline.name, ctx.run_id)
        outcome, error = _run_once(pipeline, ctx, interrupted)
        record_outcome(outcome.status, outcome.error)
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
        except SystemExit as error:
            # sys.exit() inside a callback ends the run, not the command: the
            # summary still prints and the exit code stays 1.
            message = f"SystemExit: {error.code!r}"
            return _Outcome("failed", duration=_since(started), error=message), error
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


def _next_command(args: argparse.Namespace) -> int:
    verbose: bool = args.verbose
    try:
        count = _parse_count(args.count)
        zone = resolve_location(args.tz).tzinfo
        schedule = parse_schedule(args.schedule, args.tz)
        start = _now(zone) if args.after is None else _parse_after(args.after, zone)
    except ValueError as error:
        _error(str(error), error, verbose=verbose)
        return EXIT_USAGE
    logger.debug("listing %d run times of %r after %s", count, schedule, start.isoformat())

    times = upcoming(schedule, start, count)
    if args.json:
        sys.stdout.write(json.dumps([time.isoformat() for time in times]) + "\n")
    else:
        for time in times:
            elapsed = _format_elapsed(_since_epoch(time) - _since_epoch(start))
            sys.stdout.write(f"{time.isoformat()}  (in {elapsed})\n")

    if len(times) < count:
        last = times[-1] if times else start
        sys.stderr.write(
            f"millpond: the schedule has no runs after {last.isoformat()}; "
            f"printed {len(times)} of {count}\n"
        )
    return EXIT_OK


def _parse_count(text: str) -> int:
    digits = text.lstrip("0")
    valid = text.isascii() and text.isdigit() and len(digits) <= len(str(MAX_COUNT))
    if not valid or not 1 <= int(text) <= MAX_COUNT:
        raise ValueError(
            f"invalid count {text!r} for -n: expected a whole number from 1 to {MAX_COUNT}"
        )
    return int(text)


def _now(zone: tzinfo) -> datetime:
    # Truncating to whole seconds keeps `every` results readable. The first
    # result is still in the future, because schedules return only times after
    # the start.
    return datetime.now(zone).replace(microsecond=0)


def _parse_after(text: str, zone: tzinfo) -> datetime:
    """Parse --after, reading a time without an offset as a wall time in `zone`."""
    # A pattern of its own, because datetime.fromisoformat() takes any
    # character as the date-time separator, so it reads 2026-01-01+02:00 as a
    # naive 02:00. Its accepted forms also differ between Python 3.10 and 3.11.
    match = _ISO_DATE_TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"invalid --after {text!r}: {_AFTER_FORMS}")
    try:
        parsed = _date_time_of(match)
    except ValueError as error:
        raise ValueError(f"invalid --after {text!r}: {error}") from error

    if parsed.tzinfo is None:
        return _localize(parsed, zone, text)
    try:
        return parsed.astimezone(zone)
    except OverflowError as error:
        raise ValueError(
            f"invalid --after {text!r}: the time is outside the range of dates in {zone}"
        ) from error


def _date_time_of(match: re.Match[str]) -> datetime:
    """Build the datetime that an `_ISO_DATE_TIME` match names; ValueError if out of range."""
    fraction = match["fraction"] or ""
    return datetime(
        int(match["year"]),
        int(match["month"]),
        int(match["day"]),
        int(match["hour"] or 0),
        int(match["minute"] or 0),
        int(match["second"] or 0),
        int(fraction.ljust(6, "0")),
        tzinfo=_utc_offset(match["offset"]),
    )


def _utc_offset(text: str | None) -> timezone | None:
    if text is None:
        return None
    if text in ("Z", "z"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    hours = int(text[1:3])
    minutes = int(text[-2:]) if len(text) > 3 else 0
    if hours > 23 or minutes > 59:
        raise ValueError(f"invalid UTC offset {text}: expected hours 00-23 and minutes 00-59")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _localize(wall: datetime, zone: tzinfo, text: str) -> datetime:
    """Attach `zone` to a naive wall time, rejecting one that the zone skips or repeats."""
    earlier = wall.replace(tzinfo=zone, fold=0)
    later = wall.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() == later.utcoffset():
        return earlier

    # After a round trip through UTC, a wall time inside a gap comes back
    # changed, and one inside a repeated hour comes back unchanged.
    round_trip = earlier.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None)
    problem = "occurs twice" if round_trip == wall else "does not exist"
    raise ValueError(
        f"invalid --after {text!r}: {wall.isoformat()} {problem} in {zone} because the "
        f"zone's UTC offset changes then; add the offset to choose an instant, such as "
        f"{earlier.isoformat()} or {later.isoformat()}"
    )


def _since_epoch(time: datetime) -> timedelta:
    # Subtracting across tzinfo objects compares instants. Two datetimes in the
    # same ZoneInfo would subtract wall clocks instead.
    return time - _UNIX_EPOCH


def _format_elapsed(elapsed: timedelta) -> str:
    """Format a positive timedelta as days, hours, minutes and seconds, such as "1d 2h 5m"."""
    seconds = elapsed // timedelta(seconds=1)
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts) or "<1s"


def _error(message: str, error: BaseException | None, *, verbose: bool) -> None:
    if verbose and error is not None:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    sys.stderr.write(f"millpond: error: {message}\n")


@contextmanager
def _stderr_logging(*, verbose: bool, service: bool = False) -> Iterator[None]:
    """Send log records to stderr for the duration of one command.

    A handler is added only when the root logger has none, so an application
    that embeds `main()` keeps its own handlers. A long-running `service`
    command logs at INFO with timestamps. The handler and the level are undone
    at exit.
    """
    root = logging.getLogger()
    previous_level = root.level
    handler: logging.Handler | None = None
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        layout = "%(levelname)s %(name)s: %(message)s"
        handler.setFormatter(logging.Formatter(f"%(asctime)s {layout}" if service else layout))
        root.addHandler(handler)
    if verbose:
        root.setLevel(logging.DEBUG)
    elif service:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.setLevel(previous_level)
        if handler is not None:
            root.removeHandler(handler)
