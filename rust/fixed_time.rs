//! The next instant of a set of local wall times under the fixed-time rule.
//!
//! A fixed-time schedule names wall times: some minutes of the day on some
//! local days. Each wall time fires once, at the instant [`Zone::resolve`]
//! gives it: a wall time in a gap fires one gap length later on the new clock,
//! and one in a fold fires at its first occurrence. Resolution can reorder
//! wall times (02:30 in a one-hour gap fires after 03:10) and merge them
//! (Pacific/Apia skipped 2011-12-30, whose times fire on 2011-12-31), so the
//! search never assumes that local order is instant order.

use crate::calendar::{FIRST_DAY, LAST_DAY, SECONDS_PER_DAY};
use crate::tz::{SpanCache, Zone, MAX_OFFSET};

/// The local days on which a fixed-time or cron schedule fires.
pub trait LocalDays {
    /// Return the first day number `>= day` on which the schedule fires, or
    /// `None` when there is none up to 9999-12-31.
    fn next_day(&self, day: i64) -> Option<i64>;
}

/// Return the first instant after `after` at which a wall time fires.
///
/// The wall times are `minutes` (minutes of the local day, sorted and
/// unique) on each day that `days` selects. Instants are in seconds.
pub fn next_fixed_time(
    zone: &Zone,
    cache: &mut SpanCache,
    days: &impl LocalDays,
    minutes: &[u16],
    after: i64,
) -> Option<i64> {
    let (Some(&first), Some(&last)) = (minutes.first(), minutes.last()) else {
        return None;
    };
    let first_minute = i64::from(first) * 60;
    let last_minute = i64::from(last) * 60;

    // A wall time W fires at W - offset, never later than W + MAX_OFFSET, so
    // no day whose last wall time is at or before after - MAX_OFFSET can fire
    // after `after`. Start at the day after the last such day.
    let mut day = ((after - MAX_OFFSET - last_minute).div_euclid(SECONDS_PER_DAY) + 1)
        .clamp(FIRST_DAY, LAST_DAY + 1);
    let mut best: Option<i64> = None;

    while let Some(found) = days.next_day(day) {
        day = found;
        let start = day * SECONDS_PER_DAY;

        // A wall time fires no earlier than W - MAX_OFFSET: once a whole day
        // lies past the best instant so far, no later day can beat it.
        if best.is_some_and(|best| start + first_minute - MAX_OFFSET >= best) {
            break;
        }

        let candidate = next_on_day(zone, cache, minutes, start, after);
        best = match (best, candidate) {
            (Some(best), Some(candidate)) => Some(best.min(candidate)),
            (best, candidate) => best.or(candidate),
        };
        day += 1;
    }
    best
}

/// Return the first instant after `after` at which one of `minutes` on the
/// local day starting at wall time `start` fires.
fn next_on_day(
    zone: &Zone,
    cache: &mut SpanCache,
    minutes: &[u16],
    start: i64,
    after: i64,
) -> Option<i64> {
    let wall = |minute: u16| start + i64::from(minute) * 60;

    // Only spans of constant offset that overlap these instants can hold the
    // day's wall times, because every offset is within MAX_OFFSET.
    let window_start = wall(*minutes.first()?) - MAX_OFFSET;
    let window_end = wall(*minutes.last()?) + MAX_OFFSET;

    // A span owns the wall times from its start to its end, each shown with
    // the larger of the two offsets that meet there, and fires them at
    // W - offset. So a gap's wall times belong to the span before it, and a
    // fold's to its first occurrence. Usually one span covers the window, and
    // one binary search finds the result.
    let mut span = cache.span(zone, window_start);
    let mut lower = i64::MIN;
    let mut best: Option<i64> = None;
    loop {
        let following = (span.until <= window_end).then(|| cache.span(zone, span.until));
        let upper = following.map_or(i64::MAX, |next| span.until + span.offset.max(next.offset));

        // The first owned wall time that fires after `after`; both conditions
        // hold from some minute on, so a binary search finds it.
        let index = minutes
            .partition_point(|&minute| wall(minute) < lower || wall(minute) - span.offset <= after);
        if let Some(&minute) = minutes.get(index).filter(|&&minute| wall(minute) < upper) {
            let instant = wall(minute) - span.offset;
            best = Some(best.map_or(instant, |best| best.min(instant)));
        }

        let Some(next) = following else {
            return best;
        };
        lower = upper;
        span = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tz::tests::{system_zone, transitions, utc, wall};

    /// Every local day.
    struct EveryDay;

    impl LocalDays for EveryDay {
        fn next_day(&self, day: i64) -> Option<i64> {
            (day <= LAST_DAY).then_some(day.max(FIRST_DAY))
        }
    }

    fn next(zone: &Zone, minutes: &[u16], after: i64) -> Option<i64> {
        next_fixed_time(zone, &mut SpanCache::default(), &EveryDay, minutes, after)
    }

    /// Return the smallest resolved wall time after `after` over the 10 local
    /// days around it, by brute force.
    fn brute_force(zone: &Zone, minutes: &[u16], after: i64) -> Option<i64> {
        let day = after.div_euclid(SECONDS_PER_DAY);
        (day - 4..day + 6)
            .flat_map(|day| {
                minutes
                    .iter()
                    .map(move |&minute| day * SECONDS_PER_DAY + i64::from(minute) * 60)
            })
            .map(|wall| zone.resolve(wall))
            .filter(|&instant| instant > after)
            .min()
    }

    #[test]
    fn no_minutes_never_fire() {
        let zone = Zone::fixed(0).unwrap();
        assert_eq!(next(&zone, &[], 0), None);
    }

    #[test]
    fn fixed_offset_fires_each_day() {
        let zone = Zone::fixed(3_600).unwrap();
        // 09:00 +01:00 is 08:00 UTC.
        assert_eq!(
            next(&zone, &[540], utc(2024, 5, 1, 7, 0)),
            Some(utc(2024, 5, 1, 8, 0))
        );
        assert_eq!(
            next(&zone, &[540], utc(2024, 5, 1, 8, 0)),
            Some(utc(2024, 5, 2, 8, 0))
        );
        assert_eq!(
            next(&zone, &[540, 1_200], utc(2024, 5, 1, 8, 0)),
            Some(utc(2024, 5, 1, 19, 0))
        );
    }

    #[test]
    fn gap_time_sorts_after_later_wall_times() {
        let Some(zone) = system_zone("Europe/Berlin") else {
            return;
        };
        // 02:30 falls in the 2024-03-31 gap and fires at 03:30 CEST, after
        // 03:10 CEST.
        let minutes = [150, 190];
        let after = utc(2024, 3, 30, 23, 0);
        assert_eq!(next(&zone, &minutes, after), Some(utc(2024, 3, 31, 1, 10)));
        assert_eq!(
            next(&zone, &minutes, utc(2024, 3, 31, 1, 10)),
            Some(utc(2024, 3, 31, 1, 30))
        );
        assert_eq!(
            next(&zone, &minutes, utc(2024, 3, 31, 1, 30)),
            Some(utc(2024, 4, 1, 0, 30))
        );
    }

    #[test]
    fn fold_time_fires_once() {
        let Some(zone) = system_zone("America/New_York") else {
            return;
        };
        // 01:30 occurs at 05:30 UTC (EDT) and 06:30 UTC (EST) on 2024-11-03.
        let first = utc(2024, 11, 3, 5, 30);
        assert_eq!(next(&zone, &[90], utc(2024, 11, 3, 0, 0)), Some(first));
        assert_eq!(next(&zone, &[90], first), Some(utc(2024, 11, 4, 6, 30)));
    }

    #[test]
    fn apia_skipped_day_merges_into_next() {
        let Some(zone) = system_zone("Pacific/Apia") else {
            return;
        };
        // 10:00 on the skipped 2011-12-30 and 10:00 on 2011-12-31 are the
        // same instant; it fires once.
        let after = utc(2011, 12, 29, 0, 0);
        let first = next(&zone, &[600], after).unwrap();
        assert_eq!(first, utc(2011, 12, 29, 20, 0));
        let second = next(&zone, &[600], first).unwrap();
        assert_eq!(second, utc(2011, 12, 30, 20, 0));
        assert_eq!(next(&zone, &[600], second), Some(utc(2011, 12, 31, 20, 0)));
    }

    #[test]
    fn matches_brute_force_around_transitions() {
        let keys = [
            "Europe/Berlin",
            "Australia/Lord_Howe",
            "Antarctica/Troll",
            "Pacific/Apia",
            "America/Santiago",
            "Europe/Dublin",
        ];
        let minutes = [0, 59, 60, 90, 120, 135, 150, 180, 210, 1_439];
        for key in keys {
            let Some(zone) = system_zone(key) else {
                continue;
            };
            let mut cache = SpanCache::default();
            for transition in transitions(&zone, utc(2010, 1, 1, 0, 0), utc(2013, 1, 1, 0, 0)) {
                for step in (-30 * 3_600..30 * 3_600).step_by(1_337) {
                    let after = transition + step;
                    assert_eq!(
                        next_fixed_time(&zone, &mut cache, &EveryDay, &minutes, after),
                        brute_force(&zone, &minutes, after),
                        "{key} after {after}"
                    );
                }
            }
        }
    }

    #[test]
    fn dense_minutes_match_brute_force() {
        // Every seventh minute of the day: many wall times in each gap and
        // fold, so each nearby day has several spans with candidates.
        let minutes: Vec<u16> = (0..1_440).step_by(7).collect();
        for key in ["Europe/Berlin", "Australia/Lord_Howe", "Antarctica/Troll"] {
            let Some(zone) = system_zone(key) else {
                continue;
            };
            let mut cache = SpanCache::default();
            for transition in transitions(&zone, utc(2024, 1, 1, 0, 0), utc(2025, 1, 1, 0, 0)) {
                for step in (-26 * 3_600..26 * 3_600).step_by(7_919) {
                    let after = transition + step;
                    assert_eq!(
                        next_fixed_time(&zone, &mut cache, &EveryDay, &minutes, after),
                        brute_force(&zone, &minutes, after),
                        "{key} after {after}"
                    );
                }
            }
        }
    }

    #[test]
    fn stops_at_year_9999() {
        let zone = Zone::fixed(-3_600).unwrap();
        // 9999-12-31 23:00 -01:00 is past the last instant Python can hold,
        // but the search still returns it; the caller drops it.
        let last = wall(9_999, 12, 31, 23, 0) + 3_600;
        assert_eq!(next(&zone, &[1_380], last - 1), Some(last));
        assert_eq!(next(&zone, &[1_380], last), None);
    }
}
