"""FileStore's public behaviour: construction, bad input, queries, closing and threads."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from store_support import folder_bytes, make_record, run_child

from millpond.orchestrator import (
    FileStore,
    ReadableStore,
    RunStatus,
    Store,
)


def test_missing_folder_raises_at_construction(core_class, tmp_path):
    missing = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match="store folder does not exist") as caught:
        FileStore(missing / "state.json")
    assert caught.value.filename == str(missing)
    assert not (tmp_path / "no").exists()


def test_folder_that_is_a_file_raises(core_class, tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(NotADirectoryError, match="store folder is not a folder") as caught:
        FileStore(tmp_path / "plain" / "state.json")
    assert caught.value.filename == str(tmp_path / "plain")


def test_store_path_that_is_a_folder_raises(core_class, tmp_path):
    with pytest.raises(IsADirectoryError, match="store path is a folder") as caught:
        FileStore(tmp_path)
    assert caught.value.filename == str(tmp_path)


def test_folder_name_not_utf8(open_store, tmp_path):
    # On Linux a file name is bytes, and os.fsdecode gives a str with
    # surrogate escapes for one that is not UTF-8.
    folder = tmp_path / os.fsdecode(b"runs-\xff")
    folder.mkdir()
    store = open_store(folder / "state.json")
    store.upsert_run(make_record(1))
    store.compact()
    store.upsert_run(make_record(2))
    assert [record.id for record in open_store(folder / "state.json").list_runs()] == [
        "run-2",
        "run-1",
    ]
    assert sorted(os.fsencode(path.name) for path in folder.iterdir()) == [
        b"state.json",
        b"state.json.journal",
        b"state.json.lock",
    ]


READ_ONLY_CHILD = """
import os, sys
from datetime import datetime, timezone
from millpond.orchestrator import FileStore, RunRecord

if os.geteuid() == 0:
    # Root may write anywhere, so act as the unprivileged user "nobody".
    os.setgid(65534)
    os.setuid(65534)
store = FileStore(os.path.join(sys.argv[1], "state.json"))
print(*(record.id for record in store.list_runs()))
print(store.get_run("run-1").status)
started = datetime(2024, 1, 1, tzinfo=timezone.utc)
for write in (
    lambda: store.upsert_run(RunRecord("new", "p", "j", "running", started, None, None)),
    store.compact,
):
    try:
        write()
    except PermissionError as error:
        print("PermissionError", error.strerror, error.filename)
store.close()
print(*(record.id for record in FileStore(os.path.join(sys.argv[1], "state.json")).list_runs()))
"""


@pytest.mark.parametrize("lock_file", [True, False], ids=["lock-file", "no-lock-file"])
@pytest.mark.parametrize("pure", [True, False], ids=["pure", "native"])
def test_read_only_folder_reads_but_rejects_writes(lock_file, pure):
    # The folder is outside pytest's private temp folder, which "nobody" cannot enter.
    folder = Path(tempfile.mkdtemp(prefix="millpond-read-only-"))
    try:
        with FileStore(folder / "state.json") as store:
            store.upsert_run(make_record(1))
        FileStore(folder / "state.json").upsert_run(make_record(2))
        if not lock_file:
            (folder / "state.json.lock").unlink()
        before = sorted(path.name for path in folder.iterdir()), folder_bytes(folder)
        folder.chmod(0o555)

        result = run_child(READ_ONLY_CHILD, str(folder), pure=pure)
        assert result.stderr == ""
        assert result.stdout.splitlines() == [
            "run-2 run-1",
            "succeeded",
            f"PermissionError store folder is not writable {folder}",
            f"PermissionError store folder is not writable {folder}",
            "run-2 run-1",
        ]
        assert (sorted(path.name for path in folder.iterdir()), folder_bytes(folder)) == before
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"durable": 1}, TypeError, "durable must be a bool, not int"),
        ({"keep_last": 0}, ValueError, "keep_last must be at least 1, got 0"),
        ({"keep_last": 2.5}, TypeError, "keep_last must be an int or None, not float"),
        ({"keep_last": True}, TypeError, "keep_last must be an int or None, not bool"),
        ({"max_age": 60}, TypeError, "max_age must be a timedelta or None, not int"),
        ({"max_age": timedelta(0)}, ValueError, "max_age must be positive"),
        ({"compact_bytes": -1}, ValueError, "compact_bytes must be at least 0, got -1"),
        ({"compact_bytes": None}, TypeError, "compact_bytes must be an int, not NoneType"),
    ],
)
def test_invalid_options_raise(core_class, store_path, options, error, message):
    with pytest.raises(error, match=message):
        FileStore(store_path, **options)
    assert not store_path.with_name("state.json.lock").exists()


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        (b"state.json", TypeError, "path must be a str or os.PathLike, not bytes"),
        (None, TypeError, "path must be a str or os.PathLike, not NoneType"),
        ("", ValueError, "path must not be empty"),
    ],
)
def test_invalid_path_raises(core_class, path, error, message):
    with pytest.raises(error, match=message):
        FileStore(path)


def test_options_are_keyword_only(core_class, store_path):
    with pytest.raises(TypeError):
        FileStore(store_path, False)  # noqa: FBT003 - the positional call under test


def test_relative_path_becomes_absolute(core_class, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with FileStore("state.json") as store:
        assert store.path == tmp_path / "state.json"
        assert store.durable is True
        assert repr(store) == f"FileStore({str(tmp_path / 'state.json')!r}, durable=True)"


@pytest.mark.parametrize("bad", [None, {"id": "run-1"}, "run-1", ("run-1", "orders")])
def test_upsert_rejects_non_records(open_store, store_path, bad):
    store = open_store()
    store.upsert_run(make_record(1))
    before = folder_bytes(store_path.parent)
    with pytest.raises(TypeError, match="upsert_run\\(\\) expects a RunRecord"):
        store.upsert_run(bad)
    assert folder_bytes(store_path.parent) == before
    assert store.list_runs() == [make_record(1)]


def test_core_rejects_invalid_fields(core_class, store_path):
    core = core_class(str(store_path))
    valid = {
        "id": "run-1",
        "pipeline_name": "orders",
        "job_id": "job-1",
        "status": "running",
        "started_at": "2024-01-01T02:00:00.000000Z",
        "ended_at": None,
        "error": None,
        "scheduled_for": None,
    }
    cases = [
        ({**valid, "id": " "}, 'invalid run record: field "id" must not be blank'),
        ({**valid, "error": "a\ud800"}, 'field "error" contains a lone surrogate'),
        ({**valid, "status": "done"}, 'field "status" must be "running"'),
        ({**valid, "extra": None}, 'unexpected field "extra"'),
    ]
    for fields, message in cases:
        with pytest.raises(ValueError, match=message):
            core.upsert(fields)
    with pytest.raises(TypeError, match="record must be a dict, not list"):
        core.upsert([])
    assert core.upsert(valid) > 0
    assert core.records() == [valid]
    core.close()


def test_get_run_rejects_non_str(open_store):
    with pytest.raises(TypeError, match="run_id must be a str, not int"):
        open_store().get_run(1)


def test_list_runs_order_and_filters(open_store):
    store = open_store()
    same_start = make_record(5).started_at
    records = [
        make_record(1, pipeline="a", status="running"),
        make_record(3, pipeline="b", status="failed"),
        make_record(2, pipeline="a", status="succeeded"),
        make_record(7, pipeline="a", started_at=same_start),
        make_record(5, pipeline="b", status="canceled"),
    ]
    for record in records:
        store.upsert_run(record)

    ids = [record.id for record in store.list_runs()]
    assert ids == ["run-7", "run-5", "run-3", "run-2", "run-1"]
    assert [r.id for r in store.list_runs(pipeline="a")] == ["run-7", "run-2", "run-1"]
    assert [r.id for r in store.list_runs(status="failed")] == ["run-3"]
    assert [r.id for r in store.list_runs(status=RunStatus.RUNNING)] == ["run-1"]
    assert [r.id for r in store.list_runs(pipeline="b", status="canceled")] == ["run-5"]
    assert [r.id for r in store.list_runs(limit=2)] == ["run-7", "run-5"]
    assert [r.id for r in store.list_runs(pipeline="a", limit=1)] == ["run-7"]
    assert store.list_runs(limit=0) == []
    assert store.list_runs(pipeline="missing") == []


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"limit": -1}, ValueError, "limit must be at least 0, got -1"),
        ({"limit": True}, TypeError, "limit must be an int or None, not bool"),
        ({"limit": 1.0}, TypeError, "limit must be an int or None, not float"),
        ({"status": "done"}, ValueError, "status must be one of 'running'"),
        ({"status": 3}, TypeError, "status must be a RunStatus, str or None, not int"),
        ({"pipeline": 3}, TypeError, "pipeline must be a str or None, not int"),
    ],
)
def test_list_runs_rejects_bad_arguments(open_store, arguments, error, message):
    with pytest.raises(error, match=message):
        open_store().list_runs(**arguments)


def test_closed_store_raises(open_store, store_path):
    store = open_store()
    store.upsert_run(make_record(1))
    store.close()
    store.close()
    for call in (
        lambda: store.upsert_run(make_record(2)),
        lambda: store.get_run("run-1"),
        store.list_runs,
        store.compact,
    ):
        with pytest.raises(ValueError, match="is closed"):
            call()
    assert open_store().list_runs() == [make_record(1)]


def test_context_manager_compacts_on_exit(core_class, store_path):
    with FileStore(store_path) as store:
        store.upsert_run(make_record(1))
    assert store_path.with_name("state.json.journal").read_bytes() == b""
    assert b'"run-1"' in store_path.read_bytes()
    with pytest.raises(ValueError, match="is closed"):
        store.list_runs()


def test_file_store_satisfies_protocols(open_store):
    store = open_store()
    assert isinstance(store, Store)
    assert isinstance(store, ReadableStore)

    class WriteOnly:
        def upsert_run(self, record):
            pass

    assert isinstance(WriteOnly(), Store)
    assert not isinstance(WriteOnly(), ReadableStore)


def test_threads_share_one_store(open_store):
    store = open_store(compact_bytes=20_000, durable=False)
    errors = []

    def upsert_many(thread):
        try:
            for number in range(thread * 1000, thread * 1000 + 150):
                store.upsert_run(make_record(number, pipeline=f"p{thread}"))
                if number % 50 == 0:
                    store.list_runs(pipeline=f"p{thread}", limit=5)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=upsert_many, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    runs = store.list_runs()
    assert len(runs) == 8 * 150
    assert len({run.id for run in runs}) == 8 * 150


FORK_CHILD = """
import os, sys
from datetime import datetime, timezone
from millpond.orchestrator import FileStore, RunRecord

def record(number):
    started = datetime(2024, 1, 1, number, tzinfo=timezone.utc)
    return RunRecord(f"run-{number}", "orders", "job", "succeeded", started, started, None)

store = FileStore(sys.argv[1])
store.upsert_run(record(1))
pid = os.fork()
if pid == 0:
    # The child reopens the lock file, so its lock excludes the parent's.
    store.upsert_run(record(2))
    os._exit(0 if len(store.list_runs()) == 2 else 1)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), [run.id for run in store.list_runs()])
"""


def test_store_survives_fork(store_path):
    result = run_child(FORK_CHILD, str(store_path))
    assert result.stderr == ""
    assert result.stdout == "0 ['run-2', 'run-1']\n"


def test_repair_logs_moved_files(store_path, caplog):
    store_path.write_bytes(b"{")
    with caplog.at_level(logging.WARNING, logger="millpond.orchestrator"):
        report = FileStore.repair(str(store_path))
    assert report.kept == 0
    assert f"repaired store {store_path}" in caplog.text
    assert str(report.moved[0]) in caplog.text
