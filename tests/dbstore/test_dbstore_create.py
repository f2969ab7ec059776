"""`create=False`: open only a database that has the millpond tables, and create nothing."""

from __future__ import annotations

import sqlite3

import pytest
from dbstore_support import Database, make_record

from millpond.orchestrator import SQLiteStore


def table_names(database: Database) -> list[str]:
    if database.kind == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    else:
        sql = (
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name"
        )
    return [row[0] for row in database.query(sql)]


def test_create_false_without_tables_raises(database: Database):
    database.execute("CREATE TABLE other (x integer)")

    with pytest.raises(LookupError) as caught:
        database.open(create=False)

    message = str(caught.value)
    assert "has no millpond tables" in message
    assert "create=False" in message
    assert table_names(database) == ["other"]


def test_create_false_without_version_raises(database: Database):
    database.open().close()
    database.execute("DELETE FROM millpond_meta")

    with pytest.raises(LookupError, match="has no millpond tables"):
        database.open(create=False)

    assert database.query("SELECT key FROM millpond_meta") == []


def test_create_false_opens_existing_store(database: Database):
    with database.open() as store:
        store.upsert_run(make_record(1))

    with database.open(create=False) as store:
        assert store.list_runs() == [make_record(1)]
        store.upsert_run(make_record(2))
        assert store.get_run(make_record(2).id) == make_record(2)


@pytest.mark.parametrize("create", [0, None, "no"])
def test_create_must_be_bool(database: Database, create):
    with pytest.raises(TypeError, match=f"create must be a bool, not {type(create).__name__}"):
        database.open(create=create)


def test_sqlite_create_false_missing_file_raises(tmp_path):
    path = tmp_path / "runs.db"
    with pytest.raises(FileNotFoundError) as caught:
        SQLiteStore(path, create=False)

    assert caught.value.filename == str(path)
    assert "create=False" in caught.value.strerror
    assert list(tmp_path.iterdir()) == []


def test_sqlite_create_false_leaves_other_database_alone(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE other (x integer)")
    connection.close()
    before = path.read_bytes()

    with pytest.raises(LookupError, match=f"{path} has no millpond tables"):
        SQLiteStore(path, create=False)

    assert path.read_bytes() == before
    assert sorted(item.name for item in tmp_path.iterdir()) == ["other.db"]


def test_sqlite_create_false_empty_file_raises(tmp_path):
    path = tmp_path / "runs.db"
    path.write_bytes(b"")

    with pytest.raises(LookupError, match="has no millpond tables"):
        SQLiteStore(path, create=False)

    assert path.read_bytes() == b""
    assert sorted(item.name for item in tmp_path.iterdir()) == ["runs.db"]


def test_sqlite_create_false_non_database_raises(tmp_path):
    path = tmp_path / "runs.db"
    path.write_bytes(b"this is a text file, not a SQLite database\n" * 100)

    with pytest.raises(sqlite3.DatabaseError, match=f"{path} is not a usable SQLite database"):
        SQLiteStore(path, create=False)


def test_sqlite_create_false_path_with_uri_characters(tmp_path):
    # create=False opens a file: URI, so these characters must be escaped.
    path = tmp_path / "we?ird #%20 name.db"
    with SQLiteStore(path) as store:
        store.upsert_run(make_record(1))

    with SQLiteStore(path, create=False) as store:
        assert store.list_runs() == [make_record(1)]
    assert not (tmp_path / "we").exists()
