"""RunRecord and RunStatus: validation, normalization and conversion to the stored strings."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from store_support import T0

from millpond.orchestrator import RunRecord, RunStatus
from millpond.orchestrator._records import (
    format_time,
    parse_time,
    record_from_fields,
    record_to_fields,
)


def record(**changes):
    fields = {
        "id": "run-1",
        "pipeline_name": "orders",
        "job_id": "job-1",
        "status": "running",
        "started_at": T0,
        "ended_at": None,
        "error": None,
    }
    fields.update(changes)
    return RunRecord(**fields)


def test_record_normalizes_status_and_times():
    berlin = ZoneInfo("Europe/Berlin")
    made = record(
        status="failed",
        started_at=datetime(2024, 7, 1, 4, 0, tzinfo=berlin),
        ended_at=datetime(2024, 7, 1, 4, 0, 1, tzinfo=berlin),
        scheduled_for=datetime(2024, 7, 1, 4, 0, tzinfo=berlin),
    )
    assert made.status is RunStatus.FAILED
    assert made.started_at == datetime(2024, 7, 1, 2, 0, tzinfo=timezone.utc)
    assert made.started_at.tzinfo is timezone.utc
    assert made.ended_at.tzinfo is timezone.utc
    assert made.scheduled_for.tzinfo is timezone.utc


def test_record_defaults_and_immutability():
    made = record()
    assert made.scheduled_for is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.status = RunStatus.FAILED
    assert made == record()
    assert hash(made) == hash(record())
    assert dataclasses.replace(made, status="succeeded").status is RunStatus.SUCCEEDED


@pytest.mark.parametrize("field", ["id", "pipeline_name", "job_id"])
@pytest.mark.parametrize("blank", ["", " ", "\t\n", "\u3000", "\u2028"])
def test_record_rejects_blank_names(field, blank):
    with pytest.raises(ValueError, match=rf"RunRecord\.{field} must not be blank"):
        record(**{field: blank})


@pytest.mark.parametrize("field", ["id", "pipeline_name", "job_id"])
def test_record_rejects_non_str_names(field):
    with pytest.raises(TypeError, match=rf"RunRecord\.{field} must be a str, not int"):
        record(**{field: 1})


def test_record_rejects_lone_surrogate_in_id():
    with pytest.raises(ValueError, match=r"RunRecord\.id contains a lone surrogate"):
        record(id="run-\ud800")


def test_record_keeps_control_characters_in_names():
    assert record(id="a\x00b\nc").id == "a\x00b\nc"


def test_record_rejects_unknown_status():
    with pytest.raises(
        ValueError, match=r"RunRecord\.status must be one of 'running', 'succeeded'"
    ):
        record(status="done")
    with pytest.raises(TypeError, match=r"RunRecord\.status must be a RunStatus or str, not int"):
        record(status=1)


def test_record_accepts_runner_status():
    from millpond.runner import Status  # noqa: PLC0415

    assert [member.value for member in Status] == [member.value for member in RunStatus]
    assert record(status=Status.CANCELED).status is RunStatus.CANCELED


def test_status_prints_its_value():
    assert str(RunStatus.SUCCEEDED) == "succeeded"
    assert f"{RunStatus.FAILED}" == "failed"


@pytest.mark.parametrize("field", ["started_at", "ended_at", "scheduled_for"])
def test_record_rejects_naive_and_non_datetime_times(field):
    with pytest.raises(ValueError, match=rf"RunRecord\.{field} must be timezone-aware"):
        record(**{field: datetime(2024, 1, 1)})  # noqa: DTZ001 - the invalid input under test
    with pytest.raises(TypeError, match=rf"RunRecord\.{field} must be a datetime, not date"):
        record(**{field: date(2024, 1, 1)})
    with pytest.raises(TypeError, match=rf"RunRecord\.{field} must be a datetime, not str"):
        record(**{field: "2024-01-01T00:00:00Z"})


def test_record_requires_started_at():
    with pytest.raises(TypeError, match=r"RunRecord\.started_at must be a datetime, not NoneType"):
        record(started_at=None)


def test_record_rejects_time_out_of_range_in_utc():
    early = datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(ValueError, match=r"RunRecord\.started_at is out of range in UTC"):
        record(started_at=early)


def test_error_text_replaces_lone_surrogates():
    made = record(error="a\ud800b\udc00c\ud83d\ude00d")
    assert made.error == "a\ufffdb\ufffdc\U0001f600d"
    assert record(error="\udc00\ud800").error == "\ufffd\ufffd"


def test_error_text_keeps_control_characters():
    text = "x\x00\x01\x1b[31m\x7f\u2028\r\n"
    assert record(error=text).error == text


def test_error_must_be_text():
    with pytest.raises(TypeError, match=r"RunRecord\.error must be a str or None, not bytes"):
        record(error=b"boom")


def test_fields_round_trip():
    made = record(
        status="succeeded",
        started_at=datetime(2024, 1, 1, 2, 0, 0, 1, tzinfo=timezone.utc),
        ended_at=datetime(2024, 1, 1, 2, 0, 1, tzinfo=timezone.utc),
        error="boom",
        scheduled_for=T0,
    )
    fields = record_to_fields(made)
    assert fields == {
        "id": "run-1",
        "pipeline_name": "orders",
        "job_id": "job-1",
        "status": "succeeded",
        "started_at": "2024-01-01T02:00:00.000001Z",
        "ended_at": "2024-01-01T02:00:01.000000Z",
        "error": "boom",
        "scheduled_for": "2024-01-01T02:00:00.000000Z",
    }
    assert record_from_fields(fields) == made


def test_time_format_pads_small_years():
    assert format_time(datetime(5, 3, 4, 1, 2, 3, tzinfo=timezone.utc)) == (
        "0005-03-04T01:02:03.000000Z"
    )
    assert parse_time("0005-03-04T01:02:03.000000Z") == datetime(
        5, 3, 4, 1, 2, 3, tzinfo=timezone.utc
    )
    with pytest.raises(ValueError, match="ending in 'Z'"):
        parse_time("2024-01-01T00:00:00.000000+00:00")
