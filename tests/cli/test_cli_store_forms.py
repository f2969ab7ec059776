"""The --store forms: which store each value selects, rejected URLs and masked passwords."""

from __future__ import annotations

import pytest

from millpond._cli_store import (
    StoreKind,
    StoreLocation,
    StoreOptionError,
    describe_error,
    mask_password,
    parse_store,
    store_location,
)


@pytest.mark.parametrize(
    ("text", "kind", "target"),
    [
        ("state.json", StoreKind.FILE, "state.json"),
        ("runs/state.json", StoreKind.FILE, "runs/state.json"),
        ("/var/lib/millpond/state.json", StoreKind.FILE, "/var/lib/millpond/state.json"),
        ("C:\\millpond\\state.json", StoreKind.FILE, "C:\\millpond\\state.json"),
        ("sqlite:///var/lib/millpond/runs.db", StoreKind.SQLITE, "/var/lib/millpond/runs.db"),
        ("sqlite:runs.db", StoreKind.SQLITE, "runs.db"),
        ("sqlite:data/runs.db", StoreKind.SQLITE, "data/runs.db"),
        ("SQLite:runs.db", StoreKind.SQLITE, "runs.db"),
        ("sqlite:///C:/millpond/runs.db", StoreKind.SQLITE, "C:/millpond/runs.db"),
        ("sqlite:///dir with space/runs%20x.db", StoreKind.SQLITE, "/dir with space/runs%20x.db"),
        ("postgresql://app@db.example:5432/runs", StoreKind.POSTGRES, None),
        ("postgres://db.example/runs", StoreKind.POSTGRES, None),
        ("postgresql:///runs", StoreKind.POSTGRES, None),
        # libpq accepts only lowercase schemes.
        (
            "PostgreSQL://db.example/runs?sslmode=require",
            StoreKind.POSTGRES,
            "postgresql://db.example/runs?sslmode=require",
        ),
        ("POSTGRES://App@db.example/Runs", StoreKind.POSTGRES, "postgres://App@db.example/Runs"),
    ],
)
def test_store_forms_select_kind(text, kind, target):
    location = parse_store(text)
    assert location.kind is kind
    # A lowercase PostgreSQL URL goes to libpq unchanged.
    assert location.target == (text if target is None else target)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mysql://app@db.example/runs", "unsupported store URL 'mysql://app@db.example/runs'"),
        ("file:///tmp/state.json", "(scheme 'file')"),
        ("sqlite://host/runs.db", "a SQLite database has no host"),
        ("sqlite:", "it names no database file"),
        ("sqlite:///", "it names no database file"),
        ("sqlite:runs/", "it names no database file"),
        ("sqlite:///runs.db?mode=ro", "query parameters and fragments are not supported"),
        ("postgresql:/db.example/runs", "expected postgresql://USER@HOST:PORT/DBNAME"),
        ("postgres:runs", "invalid PostgreSQL URL 'postgres:runs'"),
    ],
)
def test_store_forms_reject_bad_urls(text, message):
    with pytest.raises(StoreOptionError) as raised:
        parse_store(text)
    assert message in str(raised.value)


def test_unknown_scheme_lists_accepted_forms():
    with pytest.raises(StoreOptionError) as raised:
        parse_store("mysql://root:hunter2@db.example/runs")
    message = str(raised.value)
    assert "hunter2" not in message
    assert "mysql://root:***@db.example/runs" in message
    assert "state.json" in message
    assert "sqlite:///ABSOLUTE/PATH.db" in message
    assert "sqlite:RELATIVE/PATH.db" in message
    assert "postgresql://USER@HOST:PORT/DBNAME" in message


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:s3cret@db:5432/runs", "postgresql://app:***@db:5432/runs"),
        ("postgresql://app:@db/runs", "postgresql://app:***@db/runs"),
        ("postgresql://app:pa/ss@word@db/runs", "postgresql://app:***@db/runs"),
        ("postgresql://app:pa?ss@db/runs", "postgresql://app:***@db/runs"),
        ("postgresql://app:pa#ss@db/runs", "postgresql://app:***@db/runs"),
        ("postgresql://app:a/b?c@db/runs?sslmode=require", "postgresql://app:***@db/runs?sslmode=require"),
        ("postgresql://app@db/runs?password=a#b&sslmode=require", "postgresql://app@db/runs?password=***&sslmode=require"),
        ("postgresql://app@db/runs?application_name=a@b&password=x", "postgresql://app@db/runs?application_name=a@b&password=***"),
        ("postgresql://app:p%40ss@db/runs", "postgresql://app:***@db/runs"),
        (
            "postgresql://app@db/runs?password=s3cret&sslmode=require",
            "postgresql://app@db/runs?password=***&sslmode=require",
        ),
        ("postgresql://db/runs?sslmode=require&PASSWORD=x", "postgresql://db/runs?sslmode=require&PASSWORD=***"),
        ("postgresql://app@db/runs", "postgresql://app@db/runs"),
        ("postgresql://db:5432/runs", "postgresql://db:5432/runs"),
        ("state.json", "state.json"),
    ],
)  # fmt: skip
def test_mask_password(url, masked):
    assert mask_password(url) == masked


def test_postgres_display_masks_password():
    location = parse_store("postgresql://app:s3cret@db:5432/runs")
    assert location.target == "postgresql://app:s3cret@db:5432/runs"
    assert location.display == "postgresql://app:***@db:5432/runs"


def test_describe_error_scrubs_password():
    location = parse_store("postgresql://app:p%40ss-word@db/runs?password=other-secret")
    error = OSError("login as app with p@ss-word or p%40ss-word or other-secret failed")
    message = describe_error(location, error)
    assert message == "login as app with *** or *** or *** failed"


def test_describe_error_scrubs_password_with_question_mark():
    location = parse_store("postgresql://app:pa?ss-word@db/runs")
    assert location.display == "postgresql://app:***@db/runs"
    error = OSError("password pa?ss-word rejected")
    assert describe_error(location, error) == "password *** rejected"


def test_describe_error_keeps_file_messages():
    location = StoreLocation(StoreKind.FILE, "a:b@c", "a:b@c")
    assert describe_error(location, OSError("a:b@c is busy")) == "a:b@c is busy"


def test_store_location_default_order(monkeypatch):
    monkeypatch.setenv("MILLPOND_STORE", "sqlite:from-env.db")
    assert store_location("given.json").target == "given.json"
    assert store_location(None) == StoreLocation(
        StoreKind.SQLITE, "from-env.db", "sqlite:from-env.db"
    )
    monkeypatch.setenv("MILLPOND_STORE", "")
    assert store_location(None).target == "millpond-runs.json"
