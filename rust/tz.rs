//! Time zones: UTC offsets of instants and instants of wall times.
//!
//! A [`Zone`] wraps a `jiff` time zone built from the `TZif` bytes that Python's
//! `zoneinfo` reads for the same key, or a fixed offset. Instants and wall
//! times are whole seconds here: instants from the Unix epoch, wall times from
//! 1970-01-01T00:00 on the zone's clock (see [`crate::calendar`]).

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use jiff::Timestamp;

use crate::calendar::{self, SECONDS_PER_DAY};
use crate::schedule::{MAX_US, MIN_US};

/// Largest absolute UTC offset a zone can have, in seconds. `jiff` limits
/// offsets to 25:59:59; the tz database stays within 16 hours.
pub const MAX_OFFSET: i64 = 93_599;

/// Largest accepted absolute offset of [`Zone::fixed`], in seconds (exclusive),
/// the limit of Python's `datetime.timezone`.
const FIXED_OFFSET_LIMIT: u32 = 86_400;

/// A time zone: a named `TZif` zone or a fixed offset from UTC.
#[derive(Clone, Debug)]
pub struct Zone {
    key: Option<String>,
    tz: TimeZone,
}

/// A stretch of time with one UTC offset: `offset` applies from `start`
/// (inclusive) to `until` (exclusive), both instants in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: i64,
    pub until: i64,
    pub offset: i64,
}

/// The last [`Span`] a search looked up, reused while the search stays in it.
///
/// Searches move forward in time, so most lookups hit the span before.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpanCache {
    last: Option<Span>,
}

impl Zone {
    /// Build a zone from `TZif` bytes; `key` is the IANA name they were read for.
    ///
    /// # Errors
    ///
    /// Returns a message naming the key when the bytes are not valid `TZif` data,
    /// including transition times out of the ascending order RFC 8536 requires.
    pub fn from_tzif(key: &str, data: &[u8]) -> Result<Zone, String> {
        let invalid = |problem: &dyn std::fmt::Display| {
            format!("invalid TZif data for zone '{key}': {problem}")
        };
        let tz = TimeZone::tzif(key, data).map_err(|error| invalid(&error))?;

        // jiff does not check the order of transitions, and its searches, like
        // the schedules' walk from one span to the next, rely on it.
        if !transitions_ascend(data) {
            return Err(invalid(
                &"transition times are not in strictly ascending order",
            ));
        }
        Ok(Zone {
            key: Some(key.to_owned()),
            tz,
        })
    }

    /// Build a zone whose offset is always `offset_seconds` east of UTC.
    ///
    /// # Errors
    ///
    /// Returns a message naming the offset unless `|offset_seconds| < 86400`.
    pub fn fixed(offset_seconds: i64) -> Result<Zone, String> {
        // Python's datetime.timezone accepts offsets strictly inside one day,
        // which is also inside jiff's range of +-25:59:59.
        let offset = i32::try_from(offset_seconds)
            .ok()
            .filter(|seconds| seconds.unsigned_abs() < FIXED_OFFSET_LIMIT)
            .and_then(|seconds| Offset::from_seconds(seconds).ok())
            .ok_or_else(|| invalid_fixed_offset(&offset_seconds))?;
        Ok(Zone {
            key: None,
            tz: TimeZone::fixed(offset),
        })
    }

    /// The IANA key of a `TZif` zone; `None` for a fixed offset.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Return the UTC offset in seconds at an instant given in microseconds.
    ///
    /// Instants outside Python's datetime range take the offset at the
    /// nearest end of the range.
    #[must_use]
    pub fn offset_at_micros(&self, instant_us: i64) -> i64 {
        // Offsets change on whole seconds, so the second that contains the
        // instant decides: round towards the past.
        let instant_us = instant_us.clamp(MIN_US, MAX_US);
        self.offset_at(instant_us.div_euclid(1_000_000))
    }

    /// Return the UTC offset in seconds at an instant in seconds.
    #[must_use]
    pub fn offset_at(&self, instant: i64) -> i64 {
        i64::from(self.tz.to_offset(jiff_timestamp(instant)).seconds())
    }

    /// Return the span of constant offset that starts at `instant`.
    #[must_use]
    pub fn span_at(&self, instant: i64) -> Span {
        let timestamp = jiff_timestamp(instant);
        let offset = i64::from(self.tz.to_offset(timestamp).seconds());

        // A transition that does not change the offset still ends the span,
        // at the cost of one more lookup. Searches step from span to span, so
        // a span must end after its start. `following` could only break that
        // on unsorted data, which `from_tzif` rejects.
        let until = self
            .tz
            .following(timestamp)
            .next()
            .map_or(i64::MAX, |transition| transition.timestamp().as_second())
            .max(instant + 1);
        Span {
            start: instant,
            until,
            offset,
        }
    }

    /// Return the instant at which a wall time fires under the fixed-time rule.
    ///
    /// A wall time that exists once maps to that instant. One that a
    /// transition skips (a gap) maps to the instant computed with the offset
    /// in force before the transition, so it fires one gap length later on the
    /// new clock. One that occurs twice (a fold) maps to its first occurrence.
    /// This is `Disambiguation::Compatible` in `jiff`, and `fold=0` in Python.
    #[must_use]
    pub fn resolve(&self, wall: i64) -> i64 {
        let offset = match self.tz.to_ambiguous_timestamp(jiff_datetime(wall)).offset() {
            AmbiguousOffset::Unambiguous { offset }
            | AmbiguousOffset::Gap { before: offset, .. }
            | AmbiguousOffset::Fold { before: offset, .. } => offset,
        };
        wall - i64::from(offset.seconds())
    }
}

impl SpanCache {
    /// Return the span of constant offset that contains `instant`.
    pub fn span(&mut self, zone: &Zone, instant: i64) -> Span {
        if let Some(span) = self.last {
            if span.start <= instant && instant < span.until {
                return span;
            }
        }
        let span = zone.span_at(instant);
        self.last = Some(span);
        span
    }
}

/// Return whether the transition times of `TZif` data ascend strictly.
///
/// This reads the data block `jiff` reads: the 32-bit one of a version 1 file,
/// else the 64-bit one that follows it. Data too short to hold the block
/// passes, because `jiff` rejects it first.
fn transitions_ascend(data: &[u8]) -> bool {
    tzif_transition_times(data).is_none_or(|times| times.windows(2).all(|pair| pair[0] < pair[1]))
}

/// Return the transition times of the data block `jiff` reads, or `None`
/// when the data is too short.
fn tzif_transition_times(data: &[u8]) -> Option<Vec<i64>> {
    const HEADER_LEN: usize = 44;

    // Six big-endian counts end each header: isutcnt, isstdcnt, leapcnt,
    // timecnt, typecnt and charcnt.
    let count = |header: usize, index: usize| -> Option<usize> {
        let start = header + 20 + 4 * index;
        let bytes: [u8; 4] = data.get(start..start + 4)?.try_into().ok()?;
        usize::try_from(u32::from_be_bytes(bytes)).ok()
    };

    // Version 1 files have only the 32-bit block; later versions repeat the
    // data with 64-bit times after it, under a second header.
    let (header, time_len) = if *data.get(4)? == 0 {
        (0, 4)
    } else {
        let v1_block = count(0, 3)? * 5
            + count(0, 4)? * 6
            + count(0, 5)?
            + count(0, 2)? * 8
            + count(0, 1)?
            + count(0, 0)?;
        (HEADER_LEN + v1_block, 8)
    };
    let start = header + HEADER_LEN;
    let block = data.get(start..start + count(header, 3)? * time_len)?;
    block
        .chunks_exact(time_len)
        .map(|chunk| match *chunk {
            [a, b, c, d] => Some(i64::from(i32::from_be_bytes([a, b, c, d]))),
            _ => Some(i64::from_be_bytes(chunk.try_into().ok()?)),
        })
        .collect()
}

/// Return the message for a fixed offset outside -86399 to 86399 seconds.
pub fn invalid_fixed_offset(offset_seconds: &dyn std::fmt::Display) -> String {
    format!("invalid offset {offset_seconds} s: expected -86399 to 86399")
}

/// Convert an instant in seconds to a `jiff` timestamp, clamped to the range
/// `jiff` supports.
///
/// NOTE: `jiff` timestamps end at 9999-12-30T22:00:00Z, 26 hours before
/// Python's last instant. Instants after that take the offset in force then,
/// which is only wrong for a zone with a transition in the last day of 9999.
fn jiff_timestamp(instant: i64) -> Timestamp {
    let clamped = instant.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    // The clamp keeps the value inside the range `from_second` accepts.
    Timestamp::from_second(clamped).expect("clamped to jiff's timestamp range")
}

/// Convert a wall time in seconds to a `jiff` civil datetime.
///
/// # Panics
///
/// Panics outside the years -9999 to 9999; the searches only ask for wall
/// times in years 1 to 9999.
fn jiff_datetime(wall: i64) -> DateTime {
    let day = wall.div_euclid(SECONDS_PER_DAY);
    let second_of_day = wall - day * SECONDS_PER_DAY;
    let date = calendar::date_of(day);

    // The casts cannot truncate: month, day, hour, minute and second are
    // small, and the year is checked by `DateTime::new`.
    let year = i16::try_from(date.year).expect("wall time within years -9999 to 9999");
    DateTime::new(
        year,
        date.month as i8,
        date.day as i8,
        (second_of_day / 3600) as i8,
        (second_of_day / 60 % 60) as i8,
        (second_of_day % 60) as i8,
        0,
    )
    .expect("wall time within years -9999 to 9999")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::calendar::{day_number, Date};

    /// Load a zone from the system's tz database, or `None` when it is absent.
    pub(crate) fn system_zone(key: &str) -> Option<Zone> {
        let path = format!("/usr/share/zoneinfo/{key}");
        let Ok(data) = std::fs::read(path) else {
            eprintln!("skipped: /usr/share/zoneinfo/{key} is absent");
            return None;
        };
        Some(Zone::from_tzif(key, &data).expect("system TZif data parses"))
    }

    /// Return the wall time of a local date and clock time, in seconds.
    pub(crate) fn wall(year: i64, month: u32, day: u32, hour: i64, minute: i64) -> i64 {
        day_number(Date { year, month, day }) * SECONDS_PER_DAY + hour * 3600 + minute * 60
    }

    /// Return the transitions of a zone from `start` up to `end`, in seconds.
    pub(crate) fn transitions(zone: &Zone, start: i64, end: i64) -> Vec<i64> {
        let mut found = Vec::new();
        let mut instant = start;
        loop {
            instant = zone.span_at(instant).until;
            if instant >= end {
                return found;
            }
            found.push(instant);
        }
    }

    /// Return the instant of a UTC date and clock time, in seconds.
    pub(crate) fn utc(year: i64, month: u32, day: u32, hour: i64, minute: i64) -> i64 {
        wall(year, month, day, hour, minute)
    }

    #[test]
    fn fixed_zone_has_one_offset() {
        let zone = Zone::fixed(-12_600).unwrap();
        assert_eq!(zone.key(), None);
        assert_eq!(zone.offset_at(0), -12_600);
        assert_eq!(zone.resolve(0), 12_600);
        assert_eq!(zone.span_at(5).until, i64::MAX);
    }

    #[test]
    fn fixed_zone_rejects_a_day() {
        assert!(Zone::fixed(86_399).is_ok());
        assert!(Zone::fixed(-86_399).is_ok());
        let error = Zone::fixed(86_400).unwrap_err();
        assert!(error.contains("86400"), "{error}");
        assert!(Zone::fixed(i64::MIN).is_err());
    }

    #[test]
    fn tzif_rejects_garbage() {
        let error = Zone::from_tzif("Mars/Olympus", b"not a zone").unwrap_err();
        assert!(error.contains("Mars/Olympus"), "{error}");
    }

    #[test]
    fn tzif_rejects_unsorted_transitions() {
        let Ok(mut data) = std::fs::read("/usr/share/zoneinfo/Europe/Berlin") else {
            return;
        };
        assert!(Zone::from_tzif("Europe/Berlin", &data).is_ok());
        let times = tzif_transition_times(&data).unwrap();
        assert!(times.len() > 10);

        // Move the second 64-bit transition time after the third. The 64-bit
        // times start right after the second header, which is 44 bytes long.
        let second_header = data.windows(4).rposition(|bytes| bytes == b"TZif").unwrap();
        let second = second_header + 44 + 8;
        data[second..second + 8].copy_from_slice(&(times[2] + 1).to_be_bytes());
        let error = Zone::from_tzif("Europe/Berlin", &data).unwrap_err();
        assert!(error.contains("ascending"), "{error}");
        assert!(error.contains("'Europe/Berlin'"), "{error}");
    }

    #[test]
    fn berlin_gap_fires_after_gap() {
        let Some(zone) = system_zone("Europe/Berlin") else {
            return;
        };
        // 2024-03-31 02:30 does not exist in Berlin: clocks jump from 02:00
        // CET to 03:00 CEST, so it fires at 03:30 CEST, 01:30 UTC.
        assert_eq!(
            zone.resolve(wall(2024, 3, 31, 2, 30)),
            utc(2024, 3, 31, 1, 30)
        );
        assert_eq!(
            zone.resolve(wall(2024, 3, 31, 1, 59)),
            utc(2024, 3, 31, 0, 59)
        );
        assert_eq!(
            zone.resolve(wall(2024, 3, 31, 3, 0)),
            utc(2024, 3, 31, 1, 0)
        );
    }

    #[test]
    fn berlin_fold_fires_first_occurrence() {
        let Some(zone) = system_zone("Europe/Berlin") else {
            return;
        };
        // 2024-10-27 02:30 occurs at 00:30 UTC (CEST) and 01:30 UTC (CET).
        assert_eq!(
            zone.resolve(wall(2024, 10, 27, 2, 30)),
            utc(2024, 10, 27, 0, 30)
        );
        assert_eq!(
            zone.resolve(wall(2024, 10, 27, 3, 0)),
            utc(2024, 10, 27, 2, 0)
        );
    }

    #[test]
    fn lord_howe_half_hour_shift() {
        let Some(zone) = system_zone("Australia/Lord_Howe") else {
            return;
        };
        // 2024-10-06 02:00 +10:30 became 02:30 +11:00; 02:15 is in the gap and
        // fires at 02:45 +11:00, which is 15:45 UTC the day before.
        assert_eq!(
            zone.resolve(wall(2024, 10, 6, 2, 15)),
            utc(2024, 10, 5, 15, 45)
        );
        // 2024-04-07 02:00 +11:00 fell back to 01:30 +10:30; 01:45 occurs
        // twice and fires first at 14:45 UTC the day before.
        assert_eq!(
            zone.resolve(wall(2024, 4, 7, 1, 45)),
            utc(2024, 4, 6, 14, 45)
        );
        assert_eq!(zone.offset_at(utc(2024, 4, 6, 15, 15)), 37_800);
    }

    #[test]
    fn apia_skipped_a_whole_day() {
        let Some(zone) = system_zone("Pacific/Apia") else {
            return;
        };
        // Samoa went from 2011-12-29 23:59:59 -10:00 to 2011-12-31 00:00 +14:00;
        // 2011-12-30 10:00 fires one day later on the new clock.
        let skipped = zone.resolve(wall(2011, 12, 30, 10, 0));
        assert_eq!(skipped, zone.resolve(wall(2011, 12, 31, 10, 0)));
        assert_eq!(skipped, utc(2011, 12, 30, 20, 0));
    }

    #[test]
    fn span_ends_at_next_transition() {
        let Some(zone) = system_zone("America/New_York") else {
            return;
        };
        let span = zone.span_at(utc(2024, 1, 15, 0, 0));
        assert_eq!(span.offset, -18_000);
        assert_eq!(span.until, utc(2024, 3, 10, 7, 0));

        let mut cache = SpanCache::default();
        assert_eq!(cache.span(&zone, utc(2024, 2, 1, 0, 0)).offset, -18_000);
        assert_eq!(cache.span(&zone, utc(2024, 3, 10, 7, 0)).offset, -14_400);
        let later = cache.span(&zone, utc(2024, 3, 11, 0, 0));
        assert_eq!(later.offset, -14_400);
        assert_eq!(later.until, utc(2024, 11, 3, 6, 0));
    }

    #[test]
    fn offsets_with_seconds_before_standard_time() {
        let Some(zone) = system_zone("Europe/Amsterdam") else {
            return;
        };
        // Amsterdam kept local mean time, +00:19:32, until 1937.
        assert_eq!(zone.offset_at(utc(1900, 1, 1, 0, 0)), 1_172);
        assert_eq!(
            zone.offset_at_micros(utc(1900, 1, 1, 0, 0) * 1_000_000 - 1),
            1_172
        );
    }

    #[test]
    fn clamps_instants_past_jiff_range() {
        let zone = Zone::fixed(3_600).unwrap();
        assert_eq!(zone.offset_at(i64::MAX / 2), 3_600);
        assert_eq!(zone.offset_at(i64::MIN / 2), 3_600);
    }
}
