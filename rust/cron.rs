//! Cron schedules from parsed field masks.
//!
//! The five fields arrive as bit masks. A day matches when its month is in
//! the month mask and both its day of the month and its weekday match. Under
//! the OR rule, which Vixie cron applies when neither day field starts with
//! `*`, either one is enough.
//!
//! Two rules map matching wall times to instants. The fixed-time rule of
//! [`crate::fixed_time`] fires each wall time once. The real-time rule, for
//! expressions whose hour field starts with `*`, fires at every instant whose
//! wall time matches: wall times in a gap never show and are skipped, and
//! wall times in a fold show twice and fire twice.

use crate::calendar::{
    date_of, day_number, days_in_month, sunday_weekday, Date, FIRST_DAY, LAST_DAY, SECONDS_PER_DAY,
};
use crate::fixed_time::{next_fixed_time, LocalDays};
use crate::schedule::check_mask;
use crate::tz::{SpanCache, Zone};

/// A parsed cron expression in a zone.
#[derive(Clone, Debug)]
pub struct CronSpec {
    fields: Fields,
    real_time: bool,
    zone: Zone,
    /// The matching minutes of the day, sorted, for the fixed-time rule.
    minutes_of_day: Vec<u16>,
}

/// The five cron fields as bit masks, and the day OR rule.
#[derive(Clone, Copy, Debug)]
struct Fields {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    day_or: bool,
}

/// The mask arguments of [`CronSpec::new`], as received.
#[derive(Clone, Copy, Debug)]
pub struct Masks {
    /// Bits 0-59.
    pub minutes: u64,
    /// Bits 0-23.
    pub hours: u64,
    /// Bits 1-31.
    pub days: u64,
    /// Bits 1-12.
    pub months: u64,
    /// Bits 0-6, bit 0 Sunday.
    pub weekdays: u64,
}

impl CronSpec {
    /// Build a cron schedule from field masks.
    ///
    /// `day_or` selects the OR rule for the two day fields; `real_time`
    /// selects the real-time rule.
    ///
    /// # Errors
    ///
    /// Returns a message naming the field and its value when a mask has bits
    /// outside the field's range.
    pub fn new(
        masks: Masks,
        day_or: bool,
        real_time: bool,
        zone: Zone,
    ) -> Result<CronSpec, String> {
        // The checks make each narrowing conversion lossless.
        let fields = Fields {
            minutes: check_mask("minutes", masks.minutes, 0, 59)?,
            hours: check_mask("hours", masks.hours, 0, 23)? as u32,
            days: check_mask("days", masks.days, 1, 31)? as u32,
            months: check_mask("months", masks.months, 1, 12)? as u16,
            weekdays: check_mask("weekdays", masks.weekdays, 0, 6)? as u8,
            day_or,
        };

        let minutes_of_day = (0..24u16)
            .filter(|&hour| fields.hours >> hour & 1 == 1)
            .flat_map(|hour| {
                (0..60u16)
                    .filter(|&minute| fields.minutes >> minute & 1 == 1)
                    .map(move |minute| hour * 60 + minute)
            })
            .collect();
        Ok(CronSpec {
            fields,
            real_time,
            zone,
            minutes_of_day,
        })
    }

    /// Return the first fire instant after `after`, in seconds.
    pub fn next_second(&self, after: i64, cache: &mut SpanCache) -> Option<i64> {
        if !self.fields.can_match() {
            return None;
        }
        if self.real_time {
            self.next_real_time(after, cache)
        } else {
            next_fixed_time(&self.zone, cache, &self.fields, &self.minutes_of_day, after)
        }
    }

    /// Return the first instant after `after` whose wall time matches.
    fn next_real_time(&self, after: i64, cache: &mut SpanCache) -> Option<i64> {
        let mut from = after + 1;
        loop {
            // Within one span the clock shows instant + offset; find the first
            // matching whole minute the clock shows from `from` on.
            let span = cache.span(&self.zone, from);
            let shown = (from + span.offset).div_euclid(60) * 60;
            let shown = if shown < from + span.offset {
                shown + 60
            } else {
                shown
            };
            let wall = self.fields.next_wall_minute(shown)?;
            let instant = wall - span.offset;
            if instant < span.until {
                return Some(instant);
            }

            // The span ends before the clock shows that minute. The next span
            // may show it again (a fold) or skip it (a gap), so search afresh.
            from = span.until;
        }
    }
}

impl Fields {
    /// Return whether some wall time in some year matches all fields.
    fn can_match(&self) -> bool {
        if self.minutes == 0 || self.hours == 0 {
            return false;
        }

        // Every day of a month falls on every weekday in some year, Feb 29
        // included, so a month can match when one of its days can.
        (1..=12u32)
            .filter(|&month| self.months >> month & 1 == 1)
            .any(|month| {
                let longest = if month == 2 {
                    29
                } else {
                    days_in_month(1, month)
                };
                let days_in_range = self.days & (u32::MAX >> (31 - longest)) != 0;
                let any_weekday = self.weekdays != 0;
                if self.day_or {
                    days_in_range || any_weekday
                } else {
                    days_in_range && any_weekday
                }
            })
    }

    /// Return whether the day fields match a date with its weekday (Sunday 0).
    fn day_matches(&self, date: Date, weekday: u32) -> bool {
        let day_of_month = self.days >> date.day & 1 == 1;
        let day_of_week = self.weekdays >> weekday & 1 == 1;
        if self.day_or {
            day_of_month || day_of_week
        } else {
            day_of_month && day_of_week
        }
    }

    /// Return the first matching minute of a matching day at or after
    /// `minute_of_day`.
    fn first_minute_from(&self, minute_of_day: i64) -> Option<i64> {
        // The minute is 0-59, so the shift below stays inside the mask.
        let (mut hour, mut minute) = (minute_of_day / 60, minute_of_day % 60);
        while hour < 24 {
            if self.hours >> hour & 1 == 1 {
                let rest = self.minutes >> minute;
                if rest != 0 {
                    return Some(hour * 60 + minute + i64::from(rest.trailing_zeros()));
                }
            }
            hour += 1;
            minute = 0;
        }
        None
    }

    /// Return the first matching wall time at or after `wall`, a whole
    /// minute, or `None` when none comes before year 10000.
    fn next_wall_minute(&self, wall: i64) -> Option<i64> {
        let mut day = wall.div_euclid(SECONDS_PER_DAY);
        let mut minute_of_day = (wall - day * SECONDS_PER_DAY) / 60;
        loop {
            let found = self.next_day(day)?;
            if found != day {
                day = found;
                minute_of_day = 0;
            }
            if let Some(minute) = self.first_minute_from(minute_of_day) {
                return Some(day * SECONDS_PER_DAY + minute * 60);
            }
            day += 1;
            minute_of_day = 0;
        }
    }
}

impl LocalDays for Fields {
    fn next_day(&self, day: i64) -> Option<i64> {
        if day > LAST_DAY {
            return None;
        }
        let mut date = date_of(day.max(FIRST_DAY));
        loop {
            // Skip whole months outside the month mask.
            if self.months >> date.month & 1 == 1 {
                let first = day_number(date);
                let mut weekday = sunday_weekday(first);
                for day_of_month in date.day..=days_in_month(date.year, date.month) {
                    let candidate = Date {
                        day: day_of_month,
                        ..date
                    };
                    if self.day_matches(candidate, weekday) {
                        let found = first + i64::from(day_of_month - date.day);
                        return (found <= LAST_DAY).then_some(found);
                    }
                    weekday = (weekday + 1) % 7;
                }
            }

            // Move to the first day of the next month.
            date = if date.month == 12 {
                Date {
                    year: date.year + 1,
                    month: 1,
                    day: 1,
                }
            } else {
                Date {
                    month: date.month + 1,
                    day: 1,
                    ..date
                }
            };
            if date.year > 9_999 {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tz::tests::{system_zone, utc};

    /// Build a mask from a list of bit numbers.
    fn bits(values: &[u32]) -> u64 {
        values.iter().fold(0, |mask, &bit| mask | 1 << bit)
    }

    /// Build a mask with bits `low..=high`.
    fn range(low: u32, high: u32) -> u64 {
        (low..=high).fold(0, |mask, bit| mask | 1 << bit)
    }

    fn every() -> Masks {
        Masks {
            minutes: range(0, 59),
            hours: range(0, 23),
            days: range(1, 31),
            months: range(1, 12),
            weekdays: range(0, 6),
        }
    }

    impl Masks {
        fn with_minutes(self, minutes: u64) -> Masks {
            Masks { minutes, ..self }
        }
        fn with_hours(self, hours: u64) -> Masks {
            Masks { hours, ..self }
        }
        fn with_days(self, days: u64) -> Masks {
            Masks { days, ..self }
        }
        fn with_months(self, months: u64) -> Masks {
            Masks { months, ..self }
        }
        fn with_weekdays(self, weekdays: u64) -> Masks {
            Masks { weekdays, ..self }
        }
    }

    fn spec(masks: Masks, day_or: bool, real_time: bool, zone: &Zone) -> CronSpec {
        CronSpec::new(masks, day_or, real_time, zone.clone()).unwrap()
    }

    fn next(spec: &CronSpec, after: i64) -> Option<i64> {
        spec.next_second(after, &mut SpanCache::default())
    }

    #[test]
    fn rejects_bits_out_of_range() {
        let zone = Zone::fixed(0).unwrap();
        let cases = [
            (every().with_minutes(1 << 60), "invalid minutes mask 0x1"),
            (every().with_hours(1 << 24), "invalid hours mask 0x1"),
            (every().with_days(1), "invalid days mask 0x1:"),
            (every().with_days(1 << 32), "invalid days mask 0x1"),
            (every().with_months(1), "invalid months mask 0x1:"),
            (every().with_months(1 << 13), "invalid months mask 0x2"),
            (every().with_weekdays(1 << 7), "invalid weekdays mask 0x80"),
        ];
        for (masks, field) in cases {
            let error = CronSpec::new(masks, false, false, zone.clone()).unwrap_err();
            assert!(error.contains(field), "{error}");
        }
    }

    #[test]
    fn month_end_skips_short_months() {
        let zone = Zone::fixed(0).unwrap();
        // 0 0 31 * *
        let masks = Masks {
            minutes: 1,
            hours: 1,
            days: bits(&[31]),
            ..every()
        };
        let monthly = spec(masks, false, false, &zone);
        assert_eq!(
            next(&monthly, utc(2024, 1, 31, 0, 0)),
            Some(utc(2024, 3, 31, 0, 0))
        );
        assert_eq!(
            next(&monthly, utc(2024, 3, 31, 0, 0)),
            Some(utc(2024, 5, 31, 0, 0))
        );
        assert_eq!(
            next(&monthly, utc(2024, 7, 31, 0, 0)),
            Some(utc(2024, 8, 31, 0, 0))
        );
    }

    #[test]
    fn february_29_in_leap_years_only() {
        let zone = Zone::fixed(0).unwrap();
        // 30 12 29 2 *
        let masks = Masks {
            minutes: bits(&[30]),
            hours: bits(&[12]),
            days: bits(&[29]),
            months: bits(&[2]),
            weekdays: range(0, 6),
        };
        for real_time in [false, true] {
            let leap = spec(masks, false, real_time, &zone);
            assert_eq!(
                next(&leap, utc(2024, 3, 1, 0, 0)),
                Some(utc(2028, 2, 29, 12, 30))
            );
            // 2100 is not a leap year.
            assert_eq!(
                next(&leap, utc(2097, 1, 1, 0, 0)),
                Some(utc(2104, 2, 29, 12, 30))
            );
        }
    }

    #[test]
    fn impossible_dates_never_fire() {
        let zone = Zone::fixed(0).unwrap();
        // 0 0 30 2 *
        let masks = Masks {
            minutes: 1,
            hours: 1,
            days: bits(&[30, 31]),
            months: bits(&[2]),
            weekdays: range(0, 6),
        };
        assert_eq!(next(&spec(masks, false, false, &zone), 0), None);
        assert_eq!(next(&spec(masks, false, true, &zone), 0), None);
        // With the OR rule the weekday field still fires.
        let fridays = Masks {
            weekdays: bits(&[5]),
            ..masks
        };
        assert_eq!(
            next(&spec(fridays, true, false, &zone), utc(2024, 1, 1, 0, 0)),
            Some(utc(2024, 2, 2, 0, 0))
        );
        assert_eq!(
            next(
                &spec(
                    Masks {
                        minutes: 0,
                        ..every()
                    },
                    false,
                    true,
                    &zone
                ),
                0
            ),
            None
        );
    }

    #[test]
    fn weekday_rules() {
        let zone = Zone::fixed(0).unwrap();
        // 0 9 13 * 5: the 13th or any Friday; 2024-09-06 is a Friday.
        let masks = Masks {
            minutes: 1,
            hours: bits(&[9]),
            days: bits(&[13]),
            months: range(1, 12),
            weekdays: bits(&[5]),
        };
        let either = spec(masks, true, false, &zone);
        assert_eq!(
            next(&either, utc(2024, 9, 1, 0, 0)),
            Some(utc(2024, 9, 6, 9, 0))
        );
        assert_eq!(
            next(&either, utc(2024, 9, 6, 9, 0)),
            Some(utc(2024, 9, 13, 9, 0))
        );
        assert_eq!(
            next(&either, utc(2024, 9, 13, 9, 0)),
            Some(utc(2024, 9, 20, 9, 0))
        );

        // Without the OR rule: Friday the 13th only.
        let both = spec(masks, false, false, &zone);
        assert_eq!(
            next(&both, utc(2024, 9, 1, 0, 0)),
            Some(utc(2024, 9, 13, 9, 0))
        );
        assert_eq!(
            next(&both, utc(2024, 9, 13, 9, 0)),
            Some(utc(2024, 12, 13, 9, 0))
        );

        // Sunday is bit 0: 2024-09-01 is a Sunday.
        let sundays = spec(
            Masks {
                weekdays: 1,
                ..every()
            },
            false,
            false,
            &zone,
        );
        assert_eq!(
            next(&sundays, utc(2024, 8, 30, 0, 0)),
            Some(utc(2024, 9, 1, 0, 0))
        );
    }

    #[test]
    fn real_time_fires_twice_in_fold() {
        let Some(zone) = system_zone("America/New_York") else {
            return;
        };
        // 30 * * * *: on 2024-11-03 the clock shows 01:30 at 05:30 UTC (EDT)
        // and again at 06:30 UTC (EST).
        let masks = Masks {
            minutes: bits(&[30]),
            ..every()
        };
        let hourly = spec(masks, false, true, &zone);
        let first = utc(2024, 11, 3, 5, 30);
        assert_eq!(next(&hourly, utc(2024, 11, 3, 5, 0)), Some(first));
        assert_eq!(next(&hourly, first), Some(utc(2024, 11, 3, 6, 30)));
        assert_eq!(
            next(&hourly, utc(2024, 11, 3, 6, 30)),
            Some(utc(2024, 11, 3, 7, 30))
        );

        // The same expression under the fixed-time rule fires once.
        let fixed = spec(masks, false, false, &zone);
        assert_eq!(next(&fixed, first), Some(utc(2024, 11, 3, 7, 30)));
    }

    #[test]
    fn real_time_skips_gap() {
        let Some(zone) = system_zone("America/New_York") else {
            return;
        };
        // 30 * * * *: on 2024-03-10 the clock skips 02:00-03:00 EST.
        let masks = Masks {
            minutes: bits(&[30]),
            ..every()
        };
        let hourly = spec(masks, false, true, &zone);
        let before = utc(2024, 3, 10, 6, 30); // 01:30 EST
        assert_eq!(next(&hourly, before), Some(utc(2024, 3, 10, 7, 30))); // 03:30 EDT

        // Under the fixed-time rule 02:30 fires at 03:30 EDT, merged with 03:30.
        let fixed = spec(masks, false, false, &zone);
        assert_eq!(next(&fixed, before), Some(utc(2024, 3, 10, 7, 30)));
        assert_eq!(
            next(&fixed, utc(2024, 3, 10, 7, 30)),
            Some(utc(2024, 3, 10, 8, 30))
        );
    }

    #[test]
    fn real_time_with_offset_seconds() {
        let Some(zone) = system_zone("Europe/Amsterdam") else {
            return;
        };
        // Amsterdam's clock ran 19 min 32 s ahead of UTC in 1900, so whole
        // local minutes fall 28 s past whole UTC minutes.
        let every_minute = spec(every(), false, true, &zone);
        let after = utc(1900, 6, 1, 0, 0);
        assert_eq!(next(&every_minute, after), Some(after + 28));
    }

    #[test]
    fn stops_after_year_9999() {
        let zone = Zone::fixed(0).unwrap();
        let masks = Masks {
            minutes: 1,
            hours: 1,
            days: bits(&[1]),
            months: bits(&[1]),
            weekdays: range(0, 6),
        };
        for real_time in [false, true] {
            let yearly = spec(masks, false, real_time, &zone);
            assert_eq!(
                next(&yearly, utc(9_998, 6, 1, 0, 0)),
                Some(utc(9_999, 1, 1, 0, 0))
            );
            assert_eq!(next(&yearly, utc(9_999, 1, 1, 0, 0)), None);
        }
    }
}
