"""Interval arithmetic: public behaviour and parity of the two backends."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from millpond.scheduler import Interval, every

MIN_US = -62_135_596_800_000_000
MAX_US = 253_402_300_799_999_999
UTC = timezone.utc


@given(
    after_us=st.integers(MIN_US, MAX_US),
    every_us=st.one_of(
        st.integers(-(10**12), 10**12), st.integers(-(2**63), 2**63 - 1), st.just(0)
    ),
)
def test_interval_next_parity(native, pure, after_us: int, every_us: int) -> None:
    assert native.interval_next(after_us, every_us) == pure.interval_next(after_us, every_us)


def test_range_constants_agree(native, pure) -> None:
    assert (native.MIN_US, native.MAX_US) == (pure.MIN_US, pure.MAX_US)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert pure.MIN_US == (datetime.min.replace(tzinfo=UTC) - epoch) // timedelta(microseconds=1)
    assert pure.MAX_US == (datetime.max.replace(tzinfo=UTC) - epoch) // timedelta(microseconds=1)


def test_interval_moves_elapsed_time_across_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    after = datetime(2024, 3, 28, 12, 0, tzinfo=berlin)
    result = every(timedelta(days=7)).next(after)
    assert result is not None
    # Seven days of elapsed time end at 13:00 local, one hour past the wall clock.
    assert result.astimezone(UTC) - after.astimezone(UTC) == timedelta(days=7)
    assert (result.hour, result.utcoffset()) == (13, timedelta(hours=2))
    assert result.tzinfo is berlin


def test_interval_result_in_after_zone() -> None:
    after = datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-5)))
    result = Interval(timedelta(minutes=90)).next(after)
    assert result == datetime(2024, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert result is not None
    assert result.tzinfo == after.tzinfo


def test_interval_inside_fold_is_exact() -> None:
    # 02:30 on 2024-10-27 occurs twice in Berlin; fold=0 is the first (CEST).
    berlin = ZoneInfo("Europe/Berlin")
    after = datetime(2024, 10, 27, 2, 30, tzinfo=berlin, fold=0)
    result = every(3600).next(after)
    assert result is not None
    assert result.astimezone(UTC) == datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    assert (result.hour, result.fold) == (2, 1)


@pytest.mark.parametrize("seconds", [0, -1, -0.5])
def test_interval_not_positive_has_no_next(seconds: float) -> None:
    assert every(seconds).next(datetime(2024, 1, 1, tzinfo=UTC)) is None


def test_interval_past_year_9999_is_none() -> None:
    after = datetime(9999, 12, 31, 23, tzinfo=UTC)
    assert every(timedelta(hours=2)).next(after) is None
    assert Interval(timedelta.max).next(after) is None
    assert Interval(timedelta.max).next(datetime(1, 1, 1, tzinfo=UTC)) is None


def test_interval_near_year_one_with_offset() -> None:
    after = datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    # 0001-01-01T00:30+01:00 is before the smallest UTC datetime, yet valid.
    result = every(3600).next(after)
    assert result == datetime(1, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=1)))


def test_every_accepts_numbers_and_timedelta() -> None:
    assert every(90) == Interval(timedelta(seconds=90))
    assert every(1.5) == Interval(timedelta(seconds=1.5))
    assert every(timedelta(hours=1)).every == timedelta(hours=1)
    assert repr(every(60)) == "Interval(datetime.timedelta(seconds=60))"


@pytest.mark.parametrize("value", [True, "5m", None, [1]])
def test_every_rejects_other_types(value: object) -> None:
    with pytest.raises(TypeError, match="timedelta or a number of seconds"):
        every(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", [1e300, float("nan"), float("inf"), -(10**20)])
def test_every_rejects_out_of_range_number(seconds: float) -> None:
    with pytest.raises(ValueError, match=re.escape(f"every() got {seconds!r} seconds")) as caught:
        every(seconds)
    assert "expected a finite number of seconds" in str(caught.value)
    assert "C int" not in str(caught.value)


def test_interval_rejects_number() -> None:
    with pytest.raises(TypeError, match=r"every\(\)"):
        Interval(60)  # type: ignore[arg-type]


def test_next_rejects_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        every(60).next(datetime(2024, 1, 1))  # noqa: DTZ001


def test_next_rejects_non_datetime() -> None:
    with pytest.raises(TypeError, match="datetime"):
        every(60).next("2024-01-01")  # type: ignore[arg-type]
