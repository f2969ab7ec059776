"""`PostgresStore`: run records and instance leases in a PostgreSQL database for several hosts.

psycopg 3 and psycopg-pool are optional dependencies (`millpond[postgres]`),
imported when the first PostgresStore is created.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from millpond._pure.store_format import is_blank
from millpond.orchestrator._file_store import _check_int
from millpond.orchestrator._records import RunRecord
from millpond.orchestrator._sql_common import (
    ABANDONED_PREFIX,
    ABANDONED_SUFFIX,
    DEFAULT_LEASE,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    UNLEASED_ERROR,
    SQLStore,
    StoreNotFoundError,
    check_create,
    check_schema_version,
    id_taken_error,
    list_query,
    restarted_error,
    slot_taken_error,
)
from millpond.orchestrator._store import Claim

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["CONNECT_TIMEOUT_SECONDS", "INSTALL_HINT", "PostgresStore"]

CONNECT_TIMEOUT_SECONDS: Final = 10
"""How long opening the store waits for a connection when the DSN sets no connect_timeout."""

INSTALL_HINT: Final = "pip install 'millpond[postgres]'"

_logger = logging.getLogger("millpond.orchestrator")

# PostgreSQL text cannot contain NUL. Text columns therefore store U+0001 as
# U+0001 U+0002 and NUL as U+0001 U+0001. Every other character is stored as
# it is, and the byte order of the stored text (COLLATE "C") is the code
# point order of the original, so ORDER BY id matches FileStore.
_ESCAPED: Final = re.compile("\x01[\x01\x02]")

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS millpond_meta (
        key text COLLATE "C" PRIMARY KEY,
        value text NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS millpond_runs (
        id text COLLATE "C" PRIMARY KEY,
        pipeline_name text COLLATE "C" NOT NULL,
        job_id text NOT NULL,
        status text NOT NULL
            CHECK (status IN ('running', 'succeeded', 'failed', 'canceled')),
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        error text,
        scheduled_for timestamptz,
        attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
        owner text COLLATE "C"
    )""",
    """CREATE UNIQUE INDEX IF NOT EXISTS millpond_runs_slot
        ON millpond_runs (pipeline_name, scheduled_for, attempt)
        WHERE scheduled_for IS NOT NULL""",
    """CREATE INDEX IF NOT EXISTS millpond_runs_pipeline_started
        ON millpond_runs (pipeline_name, started_at, id)""",
    "CREATE INDEX IF NOT EXISTS millpond_runs_started ON millpond_runs (started_at, id)",
    """CREATE INDEX IF NOT EXISTS millpond_runs_running
        ON millpond_runs (owner) WHERE status = 'running'""",
    """CREATE TABLE IF NOT EXISTS millpond_instances (
        id text COLLATE "C" PRIMARY KEY,
        host text NOT NULL,
        pid integer NOT NULL,
        started_at timestamptz NOT NULL,
        heartbeat_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
    )""",
)

_SCHEMA_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtext('millpond-schema'))"
_META_EXISTS: Final = "SELECT to_regclass('millpond_meta') IS NOT NULL"
_SELECT_VERSION: Final = "SELECT value FROM millpond_meta WHERE key = 'schema_version'"
_INSERT_VERSION: Final = (
    "INSERT INTO millpond_meta (key, value) VALUES ('schema_version', %s) "
    "ON CONFLICT (key) DO NOTHING"
)

_RETURNING: Final = (
    "RETURNING r.id, r.pipeline_name, r.job_id, r.status, r.started_at, r.ended_at, r.error, "
    "r.scheduled_for"
)

_UPSERT: Final = f"""
    INSERT INTO millpond_runs AS r ({RUN_COLUMNS}, owner)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (id) DO UPDATE SET
        pipeline_name = EXCLUDED.pipeline_name,
        job_id = EXCLUDED.job_id,
        status = EXCLUDED.status,
        started_at = EXCLUDED.started_at,
        ended_at = EXCLUDED.ended_at,
        error = EXCLUDED.error,
        scheduled_for = EXCLUDED.scheduled_for,
        owner = CASE WHEN EXCLUDED.status = 'running' THEN EXCLUDED.owner ELSE r.owner END
    WHERE r.status = 'running'
"""  # noqa: S608 (only constant column names are formatted in; values are bound)
_SELECT_RUN: Final = f"SELECT {RUN_COLUMNS} FROM millpond_runs WHERE id = %s"  # noqa: S608 (constant)

# The same lock key as hashtext('millpond:' || pipeline_name) in any other client.
_PIPELINE_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtext('millpond:' || %s::text))"
_LIVE_RUN_OF_PIPELINE: Final = """
    SELECT 1 FROM millpond_runs AS r JOIN millpond_instances AS i ON i.id = r.owner
    WHERE r.pipeline_name = %s AND r.status = 'running' AND i.expires_at >= now()
    LIMIT 1
"""
_INSERT_CLAIM: Final = f"""
    INSERT INTO millpond_runs ({RUN_COLUMNS}, attempt, owner)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT DO NOTHING
"""  # noqa: S608 (only constant column names are formatted in; values are bound)
_SELECT_SLOT: Final = """
    SELECT 1 FROM millpond_runs
    WHERE pipeline_name = %s AND scheduled_for = %s AND attempt = %s
"""

# One instance at a time closes abandoned runs, so that two such updates
# never lock the same rows in different orders.
_CLOSE_ABANDONED_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtext('millpond-close-abandoned'))"
_CLOSE_ABANDONED: Final = f"""
    UPDATE millpond_runs AS r SET
        status = 'failed',
        ended_at = GREATEST(now(), r.started_at),
        error = CASE WHEN r.owner IS NULL THEN %s::text
                     ELSE %s::text || r.owner || %s::text END
    WHERE r.status = 'running' AND (r.owner IS NULL OR NOT EXISTS (
        SELECT 1 FROM millpond_instances AS i WHERE i.id = r.owner AND i.expires_at >= now()
    ))
    {_RETURNING}
"""  # noqa: S608 (only constant column names are formatted in; values are bound)
_DELETE_EXPIRED: Final = "DELETE FROM millpond_instances WHERE expires_at < now() - %s"

_CLOSE_OWNED: Final = f"""
    UPDATE millpond_runs AS r SET
        status = 'failed', ended_at = GREATEST(now(), r.started_at), error = %s
    WHERE r.status = 'running' AND r.owner = %s
    {_RETURNING}
"""  # noqa: S608 (only constant column names are formatted in; values are bound)
_UPSERT_INSTANCE: Final = """
    INSERT INTO millpond_instances (id, host, pid, started_at, heartbeat_at, expires_at)
    VALUES (%s, %s, %s, now(), now(), now() + %s)
    ON CONFLICT (id) DO UPDATE SET
        host = EXCLUDED.host,
        pid = EXCLUDED.pid,
        started_at = EXCLUDED.started_at,
        heartbeat_at = EXCLUDED.heartbeat_at,
        expires_at = EXCLUDED.expires_at
"""
_SELECT_LIVE_LEASE: Final = """
    SELECT expires_at >= now() FROM millpond_instances WHERE id = %s FOR UPDATE
"""
_RENEW_INSTANCE: Final = """
    INSERT INTO millpond_instances (id, host, pid, started_at, heartbeat_at, expires_at)
    VALUES (%s, %s, %s, now(), now(), now() + %s)
    ON CONFLICT (id) DO UPDATE SET
        heartbeat_at = EXCLUDED.heartbeat_at,
        expires_at = EXCLUDED.expires_at
"""
_RELEASE_INSTANCE: Final = """
    DELETE FROM millpond_instances WHERE id = %s AND NOT EXISTS (
        SELECT 1 FROM millpond_runs WHERE status = 'running' AND owner = %s
    )
"""

_LAST_SLOTS: Final = """
    SELECT pipeline_name, MAX(scheduled_for) FROM millpond_runs
    WHERE scheduled_for IS NOT NULL GROUP BY pipeline_name
"""


class PostgresStore(SQLStore):
    """Run records in a PostgreSQL database that orchestrator instances on several hosts share.

    `dsn` is a libpq connection string, a URI such as
    `postgresql://user@host:5432/dbname` or `key=value` pairs. Each scheduled
    slot is claimed through a unique key, and each instance holds a lease
    renewed by a heartbeat thread. Leases use the database server's clock,
    so hosts whose clocks disagree still agree on which lease has expired.
    The tables live in the first schema of the connection's `search_path`.

    Connections come from a `psycopg_pool.ConnectionPool` of `min_size` to
    `max_size` connections, each in the UTC time zone and UTF8 client
    encoding. Needs psycopg 3 and psycopg-pool: `pip install
    'millpond[postgres]'`, and raises ImportError saying so without them.

    The tables are created when missing. With `create=False`, a database
    without them raises `StoreNotFoundError`, a LookupError, and nothing is
    created.

    Raises `psycopg.OperationalError` naming the host, port and database
    (never the password) when no connection can be made, and ValueError for
    a database that is not UTF8 or has a newer schema than this millpond
    reads.
    """

    def __init__(  # noqa: PLR0913 (keyword-only options of the store)
        self,
        dsn: str,
        *,
        instance_id: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        min_size: int = 1,
        max_size: int = 4,
        create: bool = True,
    ) -> None:
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] | None = None
        if not isinstance(dsn, str):
            raise TypeError(f"dsn must be a str, not {type(dsn).__name__}")
        if is_blank(dsn):
            raise ValueError(
                "dsn must not be blank: pass a connection string such as "
                "'postgresql://user@host:5432/dbname'"
            )
        _check_url_at_signs(dsn)
        _check_int("min_size", min_size, minimum=0, optional=False)
        _check_int("max_size", max_size, minimum=max(1, min_size), optional=False)
        check_create(create)
        super().__init__(instance_id, lease)

        psycopg_module, pool_module = _import_driver()
        params = _parse_dsn(psycopg_module, dsn)
        self._target = _describe_target(params)
        connect_options: dict[str, Any] = {"client_encoding": "UTF8"}
        connect_timeout = _connect_timeout(params)
        if "connect_timeout" not in params:
            connect_options["connect_timeout"] = connect_timeout

        try:
            connection = psycopg_module.connect(dsn, autocommit=True, **connect_options)
        except psycopg_module.OperationalError as error:
            raise psycopg_module.OperationalError(
                f"could not connect to PostgreSQL at {self._target}: {error}"
            ) from error
        with connection:
            _configure(connection)
            self._target = _describe_connection(connection)
            _create_schema(connection, self._target, create=create)

        pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = pool_module.ConnectionPool(
            dsn,
            kwargs=connect_options,
            min_size=min_size,
            max_size=max_size,
            open=False,
            configure=_configure,
            check=pool_module.ConnectionPool.check_connection,
            name="millpond-store",
        )
        try:
            pool.open(wait=True, timeout=connect_timeout)
        except pool_module.PoolTimeout as error:
            pool.close()
            raise psycopg_module.OperationalError(
                f"could not open {min_size} connections to PostgreSQL at {self._target}: {error}"
            ) from error
        self._pool = pool
        self._min_size = min_size
        self._max_size = max_size
        _logger.info(
            "opened PostgreSQL store %s: instance %s, lease %.3g s, pool of %d to %d connections",
            self._target,
            self.instance_id,
            self.lease.total_seconds(),
            min_size,
            max_size,
        )

    def __repr__(self) -> str:
        return f"PostgresStore({self._target!r}, instance_id={self.instance_id!r})"

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        pool = self._pool
        if pool is None:
            raise ValueError(f"{self!r} is closed")
        with pool.connection() as connection, connection.transaction():
            yield connection

    # -- the lease ----------------------------------------------------------

    def _register(self) -> list[RunRecord]:
        instance = self._instance
        with self._transaction() as connection:
            rows = connection.execute(
                _CLOSE_OWNED,
                (_encode_text(restarted_error(instance.id)), _encode_text(instance.id)),
            ).fetchall()
            connection.execute(
                _UPSERT_INSTANCE,
                (_encode_text(instance.id), _encode_text(instance.host), instance.pid, self.lease),
            )
        return [_record_from_row(row) for row in rows]

    def _renew(self) -> bool:
        instance = self._instance
        with self._transaction() as connection:
            row = connection.execute(_SELECT_LIVE_LEASE, (_encode_text(instance.id),)).fetchone()
            connection.execute(
                _RENEW_INSTANCE,
                (_encode_text(instance.id), _encode_text(instance.host), instance.pid, self.lease),
            )
        return row is not None and bool(row[0])

    def _release_lease(self) -> None:
        owner = _encode_text(self.instance_id)
        with self._transaction() as connection:
            connection.execute(_RELEASE_INSTANCE, (owner, owner))

    # -- runs ---------------------------------------------------------------

    def _upsert(self, record: RunRecord) -> RunRecord | None:
        import psycopg  # noqa: PLC0415 (optional dependency, loaded by the constructor)

        params = (*_run_params(record), _encode_text(self.instance_id))
        try:
            with self._transaction() as connection:
                cursor = connection.execute(_UPSERT, params)
                if cursor.rowcount > 0:
                    return None
                row = connection.execute(_SELECT_RUN, (_encode_text(record.id),)).fetchone()
        except psycopg.errors.UniqueViolation as error:
            raise slot_taken_error(record) from error
        return None if row is None else _record_from_row(row)

    def _claim(self, record: RunRecord, attempt: int, *, exclusive: bool) -> Claim:
        pipeline = _encode_text(record.pipeline_name)
        with self._transaction() as connection:
            connection.execute(_PIPELINE_LOCK, (pipeline,))
            if exclusive:
                live = connection.execute(_LIVE_RUN_OF_PIPELINE, (pipeline,)).fetchone()
                if live is not None:
                    return Claim.BUSY
            cursor = connection.execute(
                _INSERT_CLAIM, (*_run_params(record), attempt, _encode_text(self.instance_id))
            )
            if cursor.rowcount > 0:
                return Claim.CLAIMED
            slot = (pipeline, record.scheduled_for, attempt)
            if connection.execute(_SELECT_SLOT, slot).fetchone() is not None:
                return Claim.TAKEN
        raise id_taken_error(record)

    def _close_abandoned(self) -> list[RunRecord]:
        with self._transaction() as connection:
            connection.execute(_CLOSE_ABANDONED_LOCK)
            rows = connection.execute(
                _CLOSE_ABANDONED, (UNLEASED_ERROR, ABANDONED_PREFIX, ABANDONED_SUFFIX)
            ).fetchall()
            connection.execute(_DELETE_EXPIRED, (self.lease,))
        return [_record_from_row(row) for row in rows]

    def _get(self, run_id: str) -> RunRecord | None:
        with self._transaction() as connection:
            row = connection.execute(_SELECT_RUN, (_encode_text(run_id),)).fetchone()
        return None if row is None else _record_from_row(row)

    def _list(
        self, pipeline: str | None, status: str | None, limit: int | None
    ) -> list[RunRecord]:
        stored_pipeline = None if pipeline is None else _encode_text(pipeline)
        query, params = list_query("%s", stored_pipeline, status, limit)
        with self._transaction() as connection:
            rows = connection.execute(query, params).fetchall()
        return [_record_from_row(row) for row in rows]

    def _last_slots(self) -> dict[str, datetime]:
        with self._transaction() as connection:
            rows = connection.execute(_LAST_SLOTS).fetchall()
        return {_decode_text(name): slot for name, slot in rows}

    def _disconnect(self) -> None:
        pool = self._pool
        self._pool = None
        if pool is not None:
            pool.close()


def _import_driver() -> tuple[Any, Any]:
    try:
        import psycopg  # noqa: PLC0415 (optional dependency)
        import psycopg_pool  # noqa: PLC0415 (optional dependency)
    except ImportError as error:
        raise ImportError(
            f"PostgresStore needs psycopg 3 and psycopg-pool ({error}); "
            f"install them with: {INSTALL_HINT}"
        ) from error
    return psycopg, psycopg_pool


def _check_url_at_signs(dsn: str) -> None:
    """Raise ValueError for a URL with more than one '@' before its query.

    libpq ends the user part at the first '@', so an unencoded '@' in a
    password turns the rest of the password into the host name, which
    error messages then show. The query starts at the first '?' after the
    first '/' that follows the scheme, because a password may contain '?'.
    """
    scheme, separator, rest = dsn.partition("://")
    if not separator or scheme.lower() not in {"postgresql", "postgres"}:
        return
    slash = rest.find("/")
    query = -1 if slash < 0 else rest.find("?", slash)
    before_query = rest if query < 0 else rest[:query]
    if before_query.count("@") > 1:
        raise ValueError(
            "dsn is a URL with more than one '@' before its query. Percent-encode each "
            "'@' in the user name, password or database name as %40, because libpq ends "
            "the user part at the first '@'"
        )


def _parse_dsn(psycopg_module: Any, dsn: str) -> dict[str, Any]:
    try:
        params: dict[str, Any] = psycopg_module.conninfo.conninfo_to_dict(dsn)
    except psycopg_module.ProgrammingError:
        scheme, separator, _rest = dsn.partition("://")
        if separator and scheme.lower() in {"postgresql", "postgres"}:
            raise ValueError(
                f"dsn is not a valid PostgreSQL connection string: libpq reads a URL only "
                f"with the lowercase scheme {scheme.lower()}://, not {scheme}://"
            ) from None
        # The parser's message quotes parts of the DSN, which may include the password.
        raise ValueError(
            "dsn is not a valid PostgreSQL connection string: pass a URI such as "
            "'postgresql://user@host:5432/dbname' or key=value pairs such as "
            "'host=db.example port=5432 dbname=runs'"
        ) from None
    return params


def _describe_target(params: dict[str, Any]) -> str:
    """Return `host=... port=... dbname=... user=...` from parsed DSN `params`, no password."""
    return " ".join(
        f"{key}={params.get(key) or '(default)'}" for key in ("host", "port", "dbname", "user")
    )


def _connect_timeout(params: dict[str, Any]) -> float:
    """Return the DSN's connect_timeout in seconds, or the default when it sets none or 0."""
    try:
        seconds = float(params.get("connect_timeout") or 0)
    except ValueError:
        seconds = 0
    return seconds if seconds > 0 else float(CONNECT_TIMEOUT_SECONDS)


def _describe_connection(connection: psycopg.Connection[Any]) -> str:
    info = connection.info
    return f"host={info.host} port={info.port} dbname={info.dbname} user={info.user}"


def _configure(connection: psycopg.Connection[Any]) -> None:
    """Put a new connection in UTC, so timestamptz values of years 1 to 9999 load in Python."""
    connection.execute("SET TIME ZONE 'UTC'")
    connection.commit()


def _create_schema(connection: psycopg.Connection[Any], where: str, *, create: bool) -> None:
    """Create the tables unless they exist, then check the schema version (autocommit mode).

    With `create` False, raise StoreNotFoundError instead of creating them.
    """
    encoding = connection.execute("SHOW server_encoding").fetchone()
    if encoding is None or str(encoding[0]).upper() not in {"UTF8", "UTF-8"}:
        found = None if encoding is None else encoding[0]
        raise ValueError(
            f"{where} uses server encoding {found!r}; PostgresStore needs a UTF8 database, "
            "created for example with CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0"
        )
    # Without CREATE rights on the schema, existing tables are still usable.
    if _stored_version(connection) is None:
        if not create:
            raise StoreNotFoundError(where)
        with connection.transaction():
            # Concurrent CREATE TABLE IF NOT EXISTS can fail on the catalog's
            # unique keys, so processes that start at once take turns.
            connection.execute(_SCHEMA_LOCK)
            for statement in _SCHEMA:
                connection.execute(statement)
            connection.execute(_INSERT_VERSION, (str(SCHEMA_VERSION),))
    check_schema_version(_stored_version(connection), where)


def _stored_version(connection: psycopg.Connection[Any]) -> object:
    exists = connection.execute(_META_EXISTS).fetchone()
    if exists is None or not exists[0]:
        return None
    row = connection.execute(_SELECT_VERSION).fetchone()
    return None if row is None else row[0]


def _encode_text(value: str) -> str:
    if "\x00" not in value and "\x01" not in value:
        return value
    return value.replace("\x01", "\x01\x02").replace("\x00", "\x01\x01")


def _decode_text(value: str) -> str:
    if "\x01" not in value:
        return value
    return _ESCAPED.sub(lambda match: "\x00" if match.group()[1] == "\x01" else "\x01", value)


def _run_params(record: RunRecord) -> tuple[object, ...]:
    return (
        _encode_text(record.id),
        _encode_text(record.pipeline_name),
        _encode_text(record.job_id),
        record.status.value,
        record.started_at,
        record.ended_at,
        None if record.error is None else _encode_text(record.error),
        record.scheduled_for,
    )


def _record_from_row(row: Any) -> RunRecord:
    error = row[6]
    return RunRecord(
        id=_decode_text(row[0]),
        pipeline_name=_decode_text(row[1]),
        job_id=_decode_text(row[2]),
        status=row[3],
        started_at=row[4],
        ended_at=row[5],
        error=None if error is None else _decode_text(error),
        scheduled_for=row[7],
    )
