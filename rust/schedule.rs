//! Schedule arithmetic on UTC instants, as microseconds since the Unix epoch.
//!
//! Instants are plain `i64` microsecond counts so that both backends compute
//! with the same integers and never with wall-clock datetimes.

/// Microseconds from the Unix epoch to `0001-01-01T00:00:00Z`, the smallest
/// instant Python's `datetime` can hold.
pub const MIN_US: i64 = -62_135_596_800_000_000;

/// Microseconds from the Unix epoch to `9999-12-31T23:59:59.999999Z`, the
/// largest instant Python's `datetime` can hold.
pub const MAX_US: i64 = 253_402_300_799_999_999;

/// Return `after_us + every_us` in elapsed time, or `None` when `every_us` is
/// not positive or the sum lies past [`MAX_US`].
#[must_use]
pub fn interval_next(after_us: i64, every_us: i64) -> Option<i64> {
    if every_us <= 0 {
        return None;
    }
    after_us
        .checked_add(every_us)
        .filter(|&next| next <= MAX_US)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_adds_elapsed_time() {
        assert_eq!(interval_next(0, 1), Some(1));
        assert_eq!(interval_next(-5_000_000, 3_000_000), Some(-2_000_000));
    }

    #[test]
    fn interval_not_positive_has_no_next() {
        assert_eq!(interval_next(0, 0), None);
        assert_eq!(interval_next(0, -1), None);
    }

    #[test]
    fn interval_past_datetime_range_has_no_next() {
        assert_eq!(interval_next(MAX_US - 1, 1), Some(MAX_US));
        assert_eq!(interval_next(MAX_US, 1), None);
        assert_eq!(interval_next(i64::MAX, 1), None);
    }

    #[test]
    fn range_constants_match_calendar() {
        // 719_162 days separate 0001-01-01 from 1970-01-01 in the proleptic
        // Gregorian calendar; 2_932_897 separate 1970-01-01 from 10000-01-01.
        assert_eq!(MIN_US, -719_162 * 86_400 * 1_000_000);
        assert_eq!(MAX_US, 2_932_897 * 86_400 * 1_000_000 - 1);
    }
}
