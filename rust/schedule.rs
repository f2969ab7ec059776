//! Schedule arithmetic on UTC instants, as microseconds since the Unix epoch.
//!
//! Instants are plain `i64` microsecond counts so that both backends compute
//! with the same integers and never with wall-clock datetimes. [`Spec`] is any
//! schedule; `next` and `upcoming` on it are the whole interface.

use crate::cron::CronSpec;
use crate::daily::DailySpec;
use crate::multi::MultiSpec;
use crate::tz::SpanCache;

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

/// Return `mask` if it only has bits `low..=high`.
///
/// # Errors
///
/// Returns a message naming the mask, in hex, and the allowed bits.
pub fn check_mask(name: &str, mask: u64, low: u32, high: u32) -> Result<u64, String> {
    let allowed = (u64::MAX >> (63 - high)) & (u64::MAX << low);
    if mask & !allowed != 0 {
        return Err(invalid_mask(name, &format!("{mask:#x}"), low, high));
    }
    Ok(mask)
}

/// Return the message for a mask with bits outside `low..=high`; `hex` is the
/// mask as Python's `format(mask, "#x")` prints it.
#[must_use]
pub fn invalid_mask(name: &str, hex: &str, low: u32, high: u32) -> String {
    format!("invalid {name} mask {hex}: expected bits {low}-{high} only")
}

/// The last whole second Python's `datetime` can hold, as seconds.
const MAX_SECOND: i64 = MAX_US.div_euclid(1_000_000);

/// Initial capacity cap of `upcoming`: a large `count` on a schedule that ends
/// early must not reserve memory it never fills.
const UPCOMING_CAPACITY: usize = 4_096;

/// Any schedule: what one `next` call maps an instant to.
#[derive(Clone, Debug)]
pub enum Spec {
    /// A fixed amount of elapsed time, in microseconds.
    Interval(i64),
    Daily(DailySpec),
    Cron(CronSpec),
    Multi(MultiSpec),
}

/// State that a series of `next` calls on one [`Spec`] carries from call to
/// call: the offset span last looked up, per member of a [`MultiSpec`].
#[derive(Clone, Debug, Default)]
pub struct Cursor {
    pub(crate) span: SpanCache,
    pub(crate) members: Vec<Cursor>,
}

impl Spec {
    /// Return the first fire instant strictly after `after_us`, or `None` when
    /// no run follows before [`MAX_US`].
    #[must_use]
    pub fn next(&self, after_us: i64) -> Option<i64> {
        self.next_with(after_us, &mut Cursor::default())
    }

    /// Return up to `count` successive fire instants after `after_us`: each is
    /// `next` of the one before. The list ends early where `next` is `None`.
    #[must_use]
    pub fn upcoming(&self, after_us: i64, count: usize) -> Vec<i64> {
        let mut cursor = Cursor::default();
        let mut instants = Vec::with_capacity(count.min(UPCOMING_CAPACITY));
        let mut after = after_us;
        while instants.len() < count {
            let Some(instant) = self.next_with(after, &mut cursor) else {
                break;
            };
            instants.push(instant);
            after = instant;
        }
        instants
    }

    /// Return `next(after_us)`, reusing and updating the search state.
    pub(crate) fn next_with(&self, after_us: i64, cursor: &mut Cursor) -> Option<i64> {
        // Wall-clock schedules fire on whole seconds: an instant t (seconds)
        // is after `after_us` exactly when t > floor(after_us / 1e6). They
        // never fire before MIN_US.
        let after = after_us.max(MIN_US - 1).div_euclid(1_000_000);
        let instant = match self {
            Spec::Interval(every_us) => return interval_next(after_us, *every_us),
            Spec::Multi(multi) => return multi.next_with(after_us, cursor),
            Spec::Daily(daily) => daily.next_second(after, &mut cursor.span),
            Spec::Cron(cron) => cron.next_second(after, &mut cursor.span),
        }?;
        (instant <= MAX_SECOND).then_some(instant * 1_000_000)
    }
}

impl From<DailySpec> for Spec {
    fn from(spec: DailySpec) -> Spec {
        Spec::Daily(spec)
    }
}

impl From<CronSpec> for Spec {
    fn from(spec: CronSpec) -> Spec {
        Spec::Cron(spec)
    }
}

impl From<MultiSpec> for Spec {
    fn from(spec: MultiSpec) -> Spec {
        Spec::Multi(spec)
    }
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

    /// Build wall-clock schedules with times around 01:00-03:00, where the
    /// transitions of most zones fall: two daily ones, `0,15,30,45 * * * *`
    /// under the real-time rule and `0,15,30,45 1-3 * * *` under the
    /// fixed-time rule.
    fn wall_clock_specs(zone: &crate::tz::Zone) -> Vec<Spec> {
        let bits = |values: &[u32]| values.iter().fold(0u64, |mask, &bit| mask | 1 << bit);
        let range = |low: u32, high: u32| (low..=high).fold(0u64, |mask, bit| mask | 1 << bit);
        let quarter_hours = crate::cron::Masks {
            minutes: bits(&[0, 15, 30, 45]),
            hours: range(0, 23),
            days: range(1, 31),
            months: range(1, 12),
            weekdays: range(0, 6),
        };
        let small_hours = crate::cron::Masks {
            hours: range(1, 3),
            ..quarter_hours
        };
        vec![
            DailySpec::new(&[0, 90, 120, 135, 150, 1_439], 0x7F, zone.clone())
                .unwrap()
                .into(),
            DailySpec::new(&[125], 0b010_1010, zone.clone())
                .unwrap()
                .into(),
            CronSpec::new(quarter_hours, false, true, zone.clone())
                .unwrap()
                .into(),
            CronSpec::new(small_hours, false, false, zone.clone())
                .unwrap()
                .into(),
        ]
    }

    #[test]
    fn upcoming_equals_repeated_next() {
        let Some(zone) = crate::tz::tests::system_zone("Australia/Lord_Howe") else {
            return;
        };
        // Start before the 2024-04-07 fall-back and run past the 2024-10-06
        // spring-forward, both half an hour long.
        let after = crate::tz::tests::utc(2024, 4, 5, 0, 0) * 1_000_000 + 123;
        for spec in wall_clock_specs(&zone) {
            let batch = spec.upcoming(after, 2_000);
            assert_eq!(batch.len(), 2_000, "{spec:?}");
            let mut previous = after;
            for instant in batch {
                assert!(instant > previous, "{spec:?} after {previous}");
                assert_eq!(
                    spec.next(previous),
                    Some(instant),
                    "{spec:?} after {previous}"
                );
                previous = instant;
            }
        }
    }

    #[test]
    fn next_is_stable_up_to_result() {
        let Some(zone) = crate::tz::tests::system_zone("Antarctica/Troll") else {
            return;
        };
        // Troll switches between +00 and +02 (a two-hour shift) each year.
        let start = crate::tz::tests::utc(2024, 3, 29, 0, 0) * 1_000_000;
        for spec in wall_clock_specs(&zone) {
            for step in 0..400 {
                let after = start + step * 1_234_567_891;
                let Some(next) = spec.next(after) else {
                    panic!("{spec:?} has no next after {after}");
                };
                assert_eq!(spec.next(next - 1), Some(next), "{spec:?} after {after}");
                assert_eq!(spec.next((after + next) / 2), Some(next), "{spec:?}");
            }
        }
    }

    #[test]
    fn upcoming_stops_at_none() {
        let zone = crate::tz::Zone::fixed(0).unwrap();
        let daily = Spec::from(DailySpec::new(&[0], 0x7F, zone).unwrap());
        // 9999-12-31T00:00Z, the last midnight Python can hold.
        let last_day = MAX_US + 1 - 86_400 * 1_000_000;
        assert_eq!(daily.upcoming(last_day - 10, 5), vec![last_day]);
        assert!(Spec::Interval(0).upcoming(0, 5).is_empty());
        assert!(daily.upcoming(0, 0).is_empty());
    }

    #[test]
    fn wall_clock_specs_never_fire_before_min() {
        let zone = crate::tz::Zone::fixed(50_400).unwrap();
        let daily = Spec::from(DailySpec::new(&[0], 0x7F, zone).unwrap());
        // 0001-01-01 00:00 +14:00 lies before MIN_US; the first run is the
        // next day's.
        let first = daily.next(MIN_US - 1_000_000_000).unwrap();
        assert_eq!(first, MIN_US + (86_400 - 50_400) * 1_000_000);
    }
}
