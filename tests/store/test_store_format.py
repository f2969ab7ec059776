"""Exact bytes of the snapshot and journal, and round trips through the files."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from store_support import T0, padded

from millpond._pure.store_format import encode_journal_line, encode_snapshot, is_blank
from millpond.orchestrator import FileStore, RunRecord, RunStatus

PLUS_ONE = timezone(timedelta(hours=1))

FIRST = RunRecord(
    id="run-1",
    pipeline_name="orders",
    job_id="job-a",
    status=RunStatus.SUCCEEDED,
    started_at=T0,
    ended_at=T0 + timedelta(seconds=1, microseconds=500_000),
    error=None,
    scheduled_for=T0,
)
SECOND = RunRecord(
    id="run-2",
    pipeline_name="orders",
    job_id="job-a",
    status="failed",
    started_at=datetime(2024, 1, 1, 3, 0, 0, 250, tzinfo=PLUS_ONE),
    ended_at=datetime(2024, 1, 1, 3, 0, 2, tzinfo=PLUS_ONE),
    error='ValueError: bad "row"\n\tat line 3',
)
# Non-ASCII, quotes, backslash, every kind of JSON escape, DEL, U+2028/U+2029
# and a character outside the Basic Multilingual Plane.
ODD = RunRecord(
    id="ünï-✓",
    pipeline_name="café",
    job_id="job-b",
    status=RunStatus.RUNNING,
    started_at=T0,
    ended_at=None,
    error='é\x00\x01\x1f\x7f\u2028\u2029 "q" \\ /\b\f\r\t\n\U0001f600',
)

EXPECTED_SNAPSHOT = (
    "{\n"
    '  "runs": {\n'
    '    "run-1": {\n'
    '      "ended_at": "2024-01-01T02:00:01.500000Z",\n'
    '      "error": null,\n'
    '      "id": "run-1",\n'
    '      "job_id": "job-a",\n'
    '      "pipeline_name": "orders",\n'
    '      "scheduled_for": "2024-01-01T02:00:00.000000Z",\n'
    '      "started_at": "2024-01-01T02:00:00.000000Z",\n'
    '      "status": "succeeded"\n'
    "    },\n"
    '    "run-2": {\n'
    '      "ended_at": "2024-01-01T02:00:02.000000Z",\n'
    '      "error": "ValueError: bad \\"row\\"\\n\\tat line 3",\n'
    '      "id": "run-2",\n'
    '      "job_id": "job-a",\n'
    '      "pipeline_name": "orders",\n'
    '      "scheduled_for": null,\n'
    '      "started_at": "2024-01-01T02:00:00.000250Z",\n'
    '      "status": "failed"\n'
    "    },\n"
    '    "ünï-✓": {\n'
    '      "ended_at": null,\n'
    '      "error": "é\\u0000\\u0001\\u001f\x7f\u2028\u2029 '
    '\\"q\\" \\\\ /\\b\\f\\r\\t\\n\U0001f600",\n'
    '      "id": "ünï-✓",\n'
    '      "job_id": "job-b",\n'
    '      "pipeline_name": "café",\n'
    '      "scheduled_for": null,\n'
    '      "started_at": "2024-01-01T02:00:00.000000Z",\n'
    '      "status": "running"\n'
    "    }\n"
    "  },\n"
    '  "version": 1\n'
    "}\n"
).encode()

EXPECTED_JOURNAL = (
    '{"ended_at":"2024-01-01T02:00:01.500000Z","error":null,"id":"run-1","job_id":"job-a",'
    '"pipeline_name":"orders","scheduled_for":"2024-01-01T02:00:00.000000Z",'
    '"started_at":"2024-01-01T02:00:00.000000Z","status":"succeeded"}\n'
    '{"ended_at":"2024-01-01T02:00:02.000000Z","error":"ValueError: bad \\"row\\"\\n\\tat line 3",'
    '"id":"run-2","job_id":"job-a","pipeline_name":"orders","scheduled_for":null,'
    '"started_at":"2024-01-01T02:00:00.000250Z","status":"failed"}\n'
    '{"ended_at":null,"error":"é\\u0000\\u0001\\u001f\x7f\u2028\u2029 '
    '\\"q\\" \\\\ /\\b\\f\\r\\t\\n'
    '\U0001f600","id":"ünï-✓","job_id":"job-b","pipeline_name":"café","scheduled_for":null,'
    '"started_at":"2024-01-01T02:00:00.000000Z","status":"running"}\n'
).encode()


def test_journal_bytes_exact(open_store, store_path):
    store = open_store()
    for record in (FIRST, SECOND, ODD):
        store.upsert_run(record)
    assert store_path.with_name("state.json.journal").read_bytes() == padded(EXPECTED_JOURNAL)
    assert not store_path.exists()


def test_snapshot_bytes_exact(open_store, store_path):
    store = open_store()
    for record in (ODD, SECOND, FIRST):
        store.upsert_run(record)
    store.compact()
    assert store_path.read_bytes() == EXPECTED_SNAPSHOT
    assert store_path.with_name("state.json.journal").read_bytes() == b""


def test_snapshot_bytes_after_close(open_store, store_path):
    store = open_store()
    for record in (FIRST, SECOND, ODD):
        store.upsert_run(record)
    store.close()
    assert store_path.read_bytes() == EXPECTED_SNAPSHOT


def test_empty_store_snapshot_bytes(open_store, store_path):
    store = open_store()
    store.compact()
    assert store_path.read_bytes() == b'{\n  "runs": {},\n  "version": 1\n}\n'


def test_close_without_upserts_writes_nothing(open_store, store_path):
    open_store().close()
    assert sorted(entry.name for entry in store_path.parent.iterdir()) == ["state.json.lock"]


def test_records_round_trip_through_journal(open_store, store_path):
    writer = open_store()
    for record in (FIRST, SECOND, ODD):
        writer.upsert_run(record)
    reader = open_store()
    assert reader.get_run("run-1") == FIRST
    assert reader.get_run("run-2") == SECOND
    assert reader.get_run("ünï-✓") == ODD
    assert reader.get_run("run-3") is None


def test_records_round_trip_through_snapshot(open_store, store_path):
    with FileStore(store_path) as writer:
        for record in (FIRST, SECOND, ODD):
            writer.upsert_run(record)
    reader = open_store()
    # Newest first; FIRST and ODD started at the same instant, so the larger id comes first.
    assert reader.list_runs() == [SECOND, ODD, FIRST]
    assert reader.get_run("ünï-✓").error == ODD.error


def test_line_separator_stays_inside_journal_line(open_store, store_path):
    store = open_store()
    store.upsert_run(ODD)
    store.upsert_run(FIRST)
    journal = store_path.with_name("state.json.journal").read_bytes()
    assert journal.count(b"\n") == 2
    assert "\u2028".encode() in journal
    assert open_store().get_run(ODD.id) == ODD


def test_extreme_times_round_trip(open_store):
    store = open_store()
    earliest = datetime(1, 1, 1, tzinfo=timezone.utc)
    latest = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone.utc)
    record = RunRecord("edge", "p", "j", "succeeded", earliest, latest, None, latest)
    store.upsert_run(record)
    store.compact()
    assert open_store().get_run("edge") == record


text = st.text(st.characters(codec="utf-8"), max_size=30)
name = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12).filter(
    lambda value: not is_blank(value)
)
instant = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis adds the time zone
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001 - as above
    timezones=st.sampled_from(
        [timezone.utc, PLUS_ONE, timezone(timedelta(hours=-9, minutes=-30))]
    ),
)
records = st.builds(
    RunRecord,
    id=name,
    pipeline_name=name,
    job_id=name,
    status=st.sampled_from(list(RunStatus)),
    started_at=instant,
    ended_at=st.none() | instant,
    error=st.none() | text,
    scheduled_for=st.none() | instant,
)


@given(st.lists(records, max_size=6))
def test_encoding_matches_json_module(tmp_path_factory, batch):
    runs = {}
    for record in batch:
        fields = {
            "id": record.id,
            "pipeline_name": record.pipeline_name,
            "job_id": record.job_id,
            "status": record.status.value,
            "started_at": record.started_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "ended_at": None,
            "error": record.error,
            "scheduled_for": None,
        }
        runs[record.id] = fields
        expected_line = json.dumps(
            fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")
        ).encode()
        assert encode_journal_line(fields) == expected_line + b"\n"
    expected = json.dumps(
        {"version": 1, "runs": runs}, indent=2, sort_keys=True, ensure_ascii=False
    )
    assert encode_snapshot(runs) == (expected + "\n").encode()


@given(st.lists(records, max_size=6))
def test_store_round_trips_any_records(tmp_path_factory, batch):
    path = tmp_path_factory.mktemp("round-trip") / "state.json"
    expected = {}
    with FileStore(path, durable=False) as store:
        for record in batch:
            store.upsert_run(record)
            expected[record.id] = record
        assert {record.id: record for record in store.list_runs()} == expected
    with FileStore(path, durable=False) as store:
        assert {record.id: record for record in store.list_runs()} == expected
