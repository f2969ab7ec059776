//! Proleptic Gregorian calendar arithmetic on day numbers.
//!
//! A day number counts days from 1970-01-01 (day 0); a wall time counts
//! seconds from 1970-01-01T00:00 on a clock that has no time zone. The
//! schedules search local days with these integers and ask the time zone only
//! to turn a wall time into an instant.

/// Seconds in a calendar day of a clock without time zone changes.
pub const SECONDS_PER_DAY: i64 = 86_400;

/// Day number of 0001-01-01, the first day Python's `datetime` can hold.
pub const FIRST_DAY: i64 = -719_162;

/// Day number of 9999-12-31, the last day Python's `datetime` can hold.
pub const LAST_DAY: i64 = 2_932_896;

/// A calendar date: year, month 1-12 and day of the month 1-31.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date {
    pub year: i64,
    pub month: u32,
    pub day: u32,
}

/// Return the day number of a valid calendar date.
#[must_use]
pub fn day_number(date: Date) -> i64 {
    // Count from 0000-03-01 so that February, with its leap day, ends each
    // shifted year; eras are the 400-year cycles of the Gregorian calendar.
    let year = if date.month <= 2 {
        date.year - 1
    } else {
        date.year
    };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = i64::from((date.month + 9) % 12);
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(date.day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Return the calendar date of a day number.
#[must_use]
#[expect(
    clippy::cast_sign_loss,
    reason = "the month (1-12) and the day of the month (1-31) are positive"
)]
pub fn date_of(day: i64) -> Date {
    // The inverse of `day_number`, on the same March-based eras.
    let shifted = day + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day_of_month = day_of_year - (153 * shifted_month + 2) / 5 + 1;

    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Date {
        year,
        month,
        day: day_of_month as u32,
    }
}

/// Return the weekday of a day number, Monday 0 to Sunday 6 (Python's
/// `datetime.weekday()`).
#[must_use]
pub fn monday_weekday(day: i64) -> u32 {
    // 1970-01-01 was a Thursday. The cast cannot truncate: the value is 0-6.
    (day + 3).rem_euclid(7) as u32
}

/// Return the weekday of a day number, Sunday 0 to Saturday 6 (cron).
#[must_use]
pub fn sunday_weekday(day: i64) -> u32 {
    // The cast cannot truncate: the value is 0-6.
    (day + 4).rem_euclid(7) as u32
}

/// Return whether `year` has a February 29.
#[must_use]
pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Return the number of days in a month of a year.
#[must_use]
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i64, month: u32, day: u32) -> Date {
        Date { year, month, day }
    }

    #[test]
    fn day_number_of_known_dates() {
        assert_eq!(day_number(date(1970, 1, 1)), 0);
        assert_eq!(day_number(date(2000, 3, 1)), 11_017);
        assert_eq!(day_number(date(1, 1, 1)), FIRST_DAY);
        assert_eq!(day_number(date(9999, 12, 31)), LAST_DAY);
        assert_eq!(day_number(date(1969, 12, 31)), -1);
    }

    #[test]
    fn date_of_inverts_day_number() {
        for day in (FIRST_DAY - 800..LAST_DAY + 800).step_by(37) {
            assert_eq!(day_number(date_of(day)), day, "day {day}");
        }
        for day in -3_000..3_000 {
            assert_eq!(day_number(date_of(day)), day, "day {day}");
        }
    }

    #[test]
    fn date_of_walks_month_ends() {
        assert_eq!(
            date_of(day_number(date(2024, 2, 28)) + 1),
            date(2024, 2, 29)
        );
        assert_eq!(date_of(day_number(date(2023, 2, 28)) + 1), date(2023, 3, 1));
        assert_eq!(date_of(day_number(date(1900, 2, 28)) + 1), date(1900, 3, 1));
        assert_eq!(
            date_of(day_number(date(2000, 2, 28)) + 1),
            date(2000, 2, 29)
        );
        assert_eq!(
            date_of(day_number(date(1999, 12, 31)) + 1),
            date(2000, 1, 1)
        );
    }

    #[test]
    fn weekdays_of_known_dates() {
        // 2024-01-01 was a Monday, 1970-01-04 a Sunday.
        let monday = day_number(date(2024, 1, 1));
        assert_eq!(monday_weekday(monday), 0);
        assert_eq!(sunday_weekday(monday), 1);
        assert_eq!(monday_weekday(3), 6);
        assert_eq!(sunday_weekday(3), 0);
        assert_eq!(monday_weekday(FIRST_DAY), 0);
    }

    #[test]
    fn month_lengths() {
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2023, 4), 30);
        assert_eq!(days_in_month(2023, 12), 31);
    }
}
