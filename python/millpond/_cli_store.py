"""The run store that `--store` (or $MILLPOND_STORE) names: a FileStore path or a database URL.

Accepted forms:

- a plain path such as `state.json`: a FileStore with that snapshot file;
- `sqlite:///ABSOLUTE/PATH.db` or `sqlite:RELATIVE/PATH.db`: a SQLiteStore,
  with the path taken as written (no percent-decoding);
- `postgresql://...` or `postgres://...`: a PostgresStore. The URL goes to
  libpq with its scheme in lowercase and otherwise unchanged, and messages
  show it with the password replaced by ***.

Scheme names are case-insensitive. Any other `SCHEME://...` text is
rejected, and so are a blank value and text that starts like libpq
key=value pairs (`NAME=`).
"""

from __future__ import annotations

import enum
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import unquote

from millpond.orchestrator import FileStore, ReadableStore
from millpond.orchestrator._sql_common import StoreNotFoundError

__all__ = [
    "DEFAULT_STORE",
    "STORE_ENV",
    "STORE_FORMS",
    "ClosableStore",
    "StoreKind",
    "StoreLocation",
    "StoreOptionError",
    "database_errors",
    "describe_error",
    "error_text",
    "mask_password",
    "open_store",
    "parse_store",
    "store_exists",
    "store_location",
]

STORE_ENV: Final = "MILLPOND_STORE"
DEFAULT_STORE: Final = "millpond-runs.json"

STORE_FORMS: Final = (
    "a FileStore path such as state.json, sqlite:///ABSOLUTE/PATH.db or "
    "sqlite:RELATIVE/PATH.db for a SQLiteStore, or postgresql://USER@HOST:PORT/DBNAME "
    "(also postgres://) for a PostgresStore"
)

POSTGRES_INSTALL_HINT: Final = "pip install 'millpond[postgres]'"

_MASK: Final = "***"
_URL_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# libpq ends a query value at the next '&' only, so a '#' belongs to the value.
_QUERY_PASSWORD: Final = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)
# libpq key=value pairs start with a keyword and '=', such as "host=db".
_KEY_VALUE: Final = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*=")
# A libpq value is a word without spaces, or single-quoted with backslash escapes.
_KEY_VALUE_PASSWORD: Final = re.compile(
    r"(\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|\S*)", re.IGNORECASE
)
# `sqlite:///C:/runs.db` names a Windows path: drop the slash before the drive.
_WINDOWS_DRIVE: Final = re.compile(r"/[A-Za-z]:[/\\]")


class StoreOptionError(Exception):
    """A --store value that names no usable store; the message names it and the fix."""


class StoreKind(enum.Enum):
    """The store class that a --store value selects."""

    FILE = "FileStore"
    SQLITE = "SQLiteStore"
    POSTGRES = "PostgresStore"


@dataclass(frozen=True)
class StoreLocation:
    """A parsed --store value.

    `target` is the path (FileStore, SQLiteStore) or the URL (PostgresStore)
    passed to the store's constructor. `display` is the text for messages,
    with any password replaced by ***.
    """

    kind: StoreKind
    target: str
    display: str


class ClosableStore(ReadableStore, Protocol):
    """A store that `open_store` returns: readable, and closed when the command ends."""

    def close(self) -> None: ...


def store_location(option: str | None) -> StoreLocation:
    """Parse the option, else $MILLPOND_STORE, else ./millpond-runs.json.

    An empty $MILLPOND_STORE counts as unset, but an empty option raises
    StoreOptionError, so that `--store "$UNSET"` does not read another store.
    """
    if option is not None:
        return parse_store(option)
    from_env = os.environ.get(STORE_ENV)
    if not from_env:
        return parse_store(DEFAULT_STORE)
    try:
        return parse_store(from_env)
    except StoreOptionError as error:
        raise StoreOptionError(f"invalid ${STORE_ENV}: {error}") from error


def parse_store(text: str) -> StoreLocation:
    """Parse a --store value; raise StoreOptionError for an unsupported or malformed URL."""
    if not text.strip():
        raise StoreOptionError(
            f"--store is empty: pass {STORE_FORMS}, or leave --store out to use "
            f"${STORE_ENV}, else ./{DEFAULT_STORE}"
        )
    lowered = text.lower()
    if lowered.startswith("sqlite:"):
        return StoreLocation(StoreKind.SQLITE, _sqlite_path(text), text)
    if lowered.startswith(("postgresql:", "postgres:")):
        if _URL_SCHEME.match(text) is None:
            raise StoreOptionError(
                f"invalid PostgreSQL URL {mask_password(text)!r}: expected "
                "postgresql://USER@HOST:PORT/DBNAME"
            )
        # libpq reads a URL only with a lowercase scheme.
        name, separator, rest = text.partition("://")
        return StoreLocation(
            StoreKind.POSTGRES, name.lower() + separator + rest, mask_password(text)
        )
    if _KEY_VALUE.match(text) is not None:
        raise StoreOptionError(
            f"invalid store {_mask_key_value_password(text)!r}: it looks like libpq "
            "key=value pairs, but --store takes a postgresql:// URL such as "
            "postgresql://USER:PASSWORD@HOST:PORT/DBNAME. A FileStore path that starts "
            "with NAME= needs a folder in front, such as ./"
        )
    scheme = _URL_SCHEME.match(text)
    if scheme is not None:
        raise StoreOptionError(
            f"unsupported store URL {mask_password(text)!r} (scheme {scheme.group(1)!r}): "
            f"expected {STORE_FORMS}"
        )
    return StoreLocation(StoreKind.FILE, text, text)


def _mask_key_value_password(text: str) -> str:
    return _KEY_VALUE_PASSWORD.sub(lambda match: match.group(1) + _MASK, text)


def _sqlite_path(text: str) -> str:
    rest = text[len("sqlite:") :]
    if rest.startswith("//"):
        if not rest.startswith("///"):
            raise StoreOptionError(
                f"invalid SQLite URL {text!r}: a SQLite database has no host; use "
                "sqlite:///ABSOLUTE/PATH.db or sqlite:RELATIVE/PATH.db"
            )
        rest = rest[2:]
        if _WINDOWS_DRIVE.match(rest):
            rest = rest[1:]
    if not rest or rest.endswith(("/", "\\")):
        raise StoreOptionError(
            f"invalid SQLite URL {text!r}: it names no database file; use "
            "sqlite:///ABSOLUTE/PATH.db or sqlite:RELATIVE/PATH.db"
        )
    if "?" in rest or "#" in rest:
        raise StoreOptionError(
            f"invalid SQLite URL {text!r}: query parameters and fragments are not supported"
        )
    return rest


def mask_password(url: str) -> str:
    """Return `url` with the password of its user part and any `password=` parameter as ***.

    The user part ends at the last `@` of the URL, so a password with an
    unescaped `/`, `?`, `#` or `@` is masked whole. A URL with an `@` in
    its query and a `:` before it is masked from that `:` on, more than
    needed but never less.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    userinfo, at, after = rest.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if at and colon:
        rest = f"{user}:{_MASK}@{after}"
    rest = _QUERY_PASSWORD.sub(lambda match: match.group(1) + _MASK, rest)
    return f"{scheme}://{rest}"


def _passwords(url: str) -> list[str]:
    """Return the password texts in `url`, as written and percent-decoded."""
    rest = url.partition("://")[2]
    found: list[str] = []
    userinfo, at, _after = rest.rpartition("@")
    _user, colon, password = userinfo.partition(":")
    if at and colon and password:
        found.append(password)
    found += [match.group(0).split("=", 1)[1] for match in _QUERY_PASSWORD.finditer(rest)]
    decoded = [unquote(text) for text in found]
    return [text for text in {*found, *decoded} if text]


def _scrub(message: str, url: str) -> str:
    # A driver message may quote the URL or its parts; never show the password.
    for password in sorted(_passwords(url), key=len, reverse=True):
        message = message.replace(password, _MASK)
    return message


def database_errors() -> tuple[type[Exception], ...]:
    """Return the error base classes of the database drivers that are loaded.

    A driver that was never imported cannot have raised, so this imports nothing.
    """
    errors: list[type[Exception]] = []
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is not None:
        errors.append(sqlite3.Error)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors.append(psycopg.Error)
    return tuple(errors)


def describe_error(location: StoreLocation, error: BaseException) -> str:
    """Return the error's message, with the store's password replaced by ***."""
    message = error_text(error)
    if location.kind is StoreKind.POSTGRES:
        message = _scrub(message, location.target)
    return message


def error_text(error: BaseException) -> str:
    """Return the message of `error`, an OSError as "<strerror>: <filename>" without [Errno N]."""
    if isinstance(error, OSError) and error.strerror:
        text = error.strerror
        if error.filename is not None:
            text += f": {_filename_text(error.filename)}"
        if error.filename2 is not None:
            text += f" -> {_filename_text(error.filename2)}"
        return text
    return str(error) or type(error).__name__


def _filename_text(filename: object) -> str:
    if isinstance(filename, bytes):
        return os.fsdecode(filename)
    return str(filename)


def open_store(location: StoreLocation, *, create: bool = True) -> ClosableStore:
    """Open the store at `location`; raise StoreOptionError naming it when that fails.

    With `create` False, a database store without the millpond tables
    raises StoreOptionError, and nothing is created. A FileStore creates
    its files only when it first writes, whatever `create` is.
    """
    try:
        if location.kind is StoreKind.FILE:
            return FileStore(location.target)
        if location.kind is StoreKind.SQLITE:
            from millpond.orchestrator import SQLiteStore  # noqa: PLC0415 (loads sqlite3)

            return SQLiteStore(location.target, create=create)
        return _open_postgres(location, create=create)
    except StoreOptionError:
        raise
    except StoreNotFoundError as error:
        raise StoreOptionError(
            f"no run store at {location.display}: the database has no millpond tables, and "
            "this command does not create them; check the database name"
        ) from error
    # Evaluated when an error is raised, so a driver that opening loaded counts.
    except _open_errors() as error:
        raise StoreOptionError(
            f"cannot open the run store {location.display}: {describe_error(location, error)}"
        ) from error


def _open_errors() -> tuple[type[Exception], ...]:
    return (OSError, ValueError, TypeError, *database_errors())


def _open_postgres(location: StoreLocation, *, create: bool) -> ClosableStore:
    try:
        import psycopg  # noqa: F401, PLC0415 (only checks that the driver is installed)
        import psycopg_pool  # noqa: F401, PLC0415 (same reason)
    except ImportError as error:
        raise StoreOptionError(
            f"the run store {location.display} needs psycopg 3 and psycopg-pool, which are "
            f"not installed ({error}); install them with: {POSTGRES_INSTALL_HINT}"
        ) from error
    from millpond.orchestrator import PostgresStore  # noqa: PLC0415 (loads psycopg)

    return PostgresStore(location.target, create=create)


def store_exists(location: StoreLocation) -> bool:
    """Tell whether a store already exists at a FileStore or SQLite location.

    A PostgreSQL database cannot be checked without connecting, so this
    returns True for it, and opening the store then reports a missing one.
    """
    if location.kind is StoreKind.FILE:
        return Path(location.target).exists() or Path(f"{location.target}.journal").exists()
    if location.kind is StoreKind.SQLITE:
        return Path(location.target).exists()
    return True
