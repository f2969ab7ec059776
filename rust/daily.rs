//! Daily schedules: fixed minutes of the local day on chosen weekdays.

use crate::calendar::{monday_weekday, FIRST_DAY, LAST_DAY};
use crate::fixed_time::{next_fixed_time, LocalDays};
use crate::schedule::check_mask;
use crate::tz::{SpanCache, Zone};

/// Number of minutes in a day; minutes of the day run from 0 to 1439.
pub const MINUTES_PER_DAY: i64 = 1_440;

/// Fire at each of `minutes` (of the local day) on each weekday in the mask.
///
/// Wall times follow the fixed-time rule of [`crate::fixed_time`].
#[derive(Clone, Debug)]
pub struct DailySpec {
    minutes: Vec<u16>,
    weekdays: WeekdayMask,
    zone: Zone,
}

/// Weekdays as a 7-bit mask, bit 0 Monday to bit 6 Sunday.
#[derive(Clone, Copy, Debug)]
struct WeekdayMask(u8);

impl DailySpec {
    /// Build a daily schedule.
    ///
    /// `minutes` are minutes of the local day (`hour * 60 + minute`), sorted
    /// and unique; `weekdays` is a mask with bit 0 Monday ... bit 6 Sunday.
    ///
    /// # Errors
    ///
    /// Returns a message naming the value when a minute is outside 0-1439,
    /// the minutes are not strictly increasing, or the mask has bits outside
    /// 0-6.
    pub fn new(minutes: &[i64], weekdays: u64, zone: Zone) -> Result<DailySpec, String> {
        let mut checked = Vec::with_capacity(minutes.len());
        for &minute in minutes {
            match u16::try_from(minute) {
                Ok(value) if minute < MINUTES_PER_DAY => checked.push(value),
                _ => return Err(invalid_minute(&minute)),
            }
        }
        if checked.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(format!(
                "invalid minutes {minutes:?}: expected sorted and unique"
            ));
        }

        // The check keeps the mask inside 7 bits, so the cast is lossless.
        let weekdays = WeekdayMask(check_mask("weekdays", weekdays, 0, 6)? as u8);

        Ok(DailySpec {
            minutes: checked,
            weekdays,
            zone,
        })
    }

    /// Return the first fire instant after `after`, in seconds.
    pub fn next_second(&self, after: i64, cache: &mut SpanCache) -> Option<i64> {
        next_fixed_time(&self.zone, cache, &self.weekdays, &self.minutes, after)
    }
}

/// Return the message for a minute of the day outside 0-1439.
pub fn invalid_minute(minute: &dyn std::fmt::Display) -> String {
    format!("invalid minute of the day {minute}: expected 0-1439")
}

impl LocalDays for WeekdayMask {
    fn next_day(&self, day: i64) -> Option<i64> {
        if self.0 == 0 {
            return None;
        }
        let day = day.max(FIRST_DAY);

        // Rotate the mask so that bit 0 is the weekday of `day`; the lowest
        // set bit is then the number of days to wait.
        let weekday = monday_weekday(day);
        let doubled = u16::from(self.0) | (u16::from(self.0) << 7);
        let wait = i64::from((doubled >> weekday).trailing_zeros());
        let found = day + wait;
        (found <= LAST_DAY).then_some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{day_number, Date};
    use crate::tz::tests::{system_zone, utc};

    fn next(spec: &DailySpec, after: i64) -> Option<i64> {
        spec.next_second(after, &mut SpanCache::default())
    }

    #[test]
    fn rejects_invalid_arguments() {
        let zone = Zone::fixed(0).unwrap();
        let error = DailySpec::new(&[1_440], 0x7F, zone.clone()).unwrap_err();
        assert_eq!(error, "invalid minute of the day 1440: expected 0-1439");
        assert!(DailySpec::new(&[-1], 0x7F, zone.clone()).is_err());
        assert!(DailySpec::new(&[5, 5], 0x7F, zone.clone()).is_err());
        let error = DailySpec::new(&[6, 5], 0x7F, zone.clone()).unwrap_err();
        assert_eq!(error, "invalid minutes [6, 5]: expected sorted and unique");
        let error = DailySpec::new(&[5], 0x80, zone).unwrap_err();
        assert_eq!(error, "invalid weekdays mask 0x80: expected bits 0-6 only");
    }

    #[test]
    fn empty_schedules_never_fire() {
        let zone = Zone::fixed(0).unwrap();
        assert_eq!(
            next(&DailySpec::new(&[], 0x7F, zone.clone()).unwrap(), 0),
            None
        );
        assert_eq!(next(&DailySpec::new(&[60], 0, zone).unwrap(), 0), None);
    }

    #[test]
    fn weekday_mask_selects_days() {
        let mask = WeekdayMask(0b001_0001); // Monday and Friday
        let monday = day_number(Date {
            year: 2024,
            month: 1,
            day: 1,
        });
        assert_eq!(mask.next_day(monday), Some(monday));
        assert_eq!(mask.next_day(monday + 1), Some(monday + 4));
        assert_eq!(mask.next_day(monday + 5), Some(monday + 7));
        assert_eq!(WeekdayMask(0x40).next_day(monday), Some(monday + 6));
        assert_eq!(WeekdayMask(0x7F).next_day(LAST_DAY), Some(LAST_DAY));
        assert_eq!(WeekdayMask(0x7F).next_day(LAST_DAY + 1), None);
    }

    #[test]
    fn weekdays_in_zone() {
        let zone = Zone::fixed(-5 * 3_600).unwrap();
        // Weekdays only, 09:00 -05:00. 2024-01-05 is a Friday.
        let spec = DailySpec::new(&[540], 0b001_1111, zone).unwrap();
        let friday = utc(2024, 1, 5, 14, 0);
        assert_eq!(next(&spec, friday - 1), Some(friday));
        assert_eq!(next(&spec, friday), Some(utc(2024, 1, 8, 14, 0)));
    }

    #[test]
    fn sunday_mask_in_berlin_spring_forward() {
        let Some(zone) = system_zone("Europe/Berlin") else {
            return;
        };
        // Sundays at 02:30; on 2024-03-31 that falls in the gap.
        let spec = DailySpec::new(&[150], 0x40, zone).unwrap();
        let gap_day = utc(2024, 3, 31, 1, 30);
        assert_eq!(next(&spec, utc(2024, 3, 25, 0, 0)), Some(gap_day));
        assert_eq!(next(&spec, gap_day), Some(utc(2024, 4, 7, 0, 30)));
    }
}
