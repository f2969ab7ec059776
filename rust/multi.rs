//! Several schedules as one: the earliest next run of any member.

use std::sync::Arc;

use crate::schedule::{Cursor, Spec};

/// Fire whenever any member fires; members may be nested `MultiSpec`s.
#[derive(Clone, Debug)]
pub struct MultiSpec {
    members: Vec<Arc<Spec>>,
}

impl MultiSpec {
    /// Build a schedule from its members, in any order.
    #[must_use]
    pub fn new(members: Vec<Arc<Spec>>) -> MultiSpec {
        MultiSpec { members }
    }

    /// Return the smallest `next(after_us)` of the members, or `None` when
    /// every member returns `None`.
    pub(crate) fn next_with(&self, after_us: i64, cursor: &mut Cursor) -> Option<i64> {
        // Each member keeps its own search state across calls.
        cursor
            .members
            .resize_with(self.members.len(), Cursor::default);
        self.members
            .iter()
            .zip(&mut cursor.members)
            .filter_map(|(member, member_cursor)| member.next_with(after_us, member_cursor))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daily::DailySpec;
    use crate::tz::tests::utc;
    use crate::tz::Zone;

    const SECOND: i64 = 1_000_000;

    fn daily(minute: i64, offset: i64) -> Arc<Spec> {
        let zone = Zone::fixed(offset).unwrap();
        Arc::new(DailySpec::new(&[minute], 0x7F, zone).unwrap().into())
    }

    #[test]
    fn empty_multi_never_fires() {
        assert_eq!(Spec::from(MultiSpec::new(vec![])).next(0), None);
    }

    #[test]
    fn takes_earliest_member() {
        let multi = Spec::from(MultiSpec::new(vec![
            daily(600, 0),
            Arc::new(Spec::Interval(-1)),
            daily(540, 0),
        ]));
        let after = utc(2024, 1, 1, 0, 0) * SECOND;
        assert_eq!(multi.next(after), Some(utc(2024, 1, 1, 9, 0) * SECOND));
        assert_eq!(
            multi.upcoming(after, 3),
            vec![
                utc(2024, 1, 1, 9, 0) * SECOND,
                utc(2024, 1, 1, 10, 0) * SECOND,
                utc(2024, 1, 2, 9, 0) * SECOND
            ]
        );
    }

    #[test]
    fn merges_equal_instants() {
        // 10:00 +01:00 and 09:00 UTC are the same instant; it fires once.
        let multi = Spec::from(MultiSpec::new(vec![daily(600, 3_600), daily(540, 0)]));
        let after = utc(2024, 1, 1, 0, 0) * SECOND;
        assert_eq!(
            multi.upcoming(after, 2),
            vec![
                utc(2024, 1, 1, 9, 0) * SECOND,
                utc(2024, 1, 2, 9, 0) * SECOND
            ]
        );
    }

    #[test]
    fn nested_multi_and_interval() {
        let inner = Arc::new(Spec::from(MultiSpec::new(vec![daily(540, 0)])));
        let every_hour = Arc::new(Spec::Interval(3_600 * SECOND));
        let multi = Spec::from(MultiSpec::new(vec![inner, every_hour]));
        let after = utc(2024, 1, 1, 8, 30) * SECOND;
        assert_eq!(multi.next(after), Some(utc(2024, 1, 1, 9, 0) * SECOND));
        // After 09:00 the interval counts from the instant given.
        assert_eq!(
            multi.upcoming(after, 3),
            vec![
                utc(2024, 1, 1, 9, 0) * SECOND,
                utc(2024, 1, 1, 10, 0) * SECOND,
                utc(2024, 1, 1, 11, 0) * SECOND
            ]
        );
    }

    #[test]
    fn upcoming_equals_repeated_next() {
        let multi = Spec::from(MultiSpec::new(vec![
            daily(0, -36_000),
            daily(1_439, 50_400),
            Arc::new(Spec::Interval(7 * 3_600 * SECOND + 1)),
        ]));
        let mut after = utc(2023, 12, 30, 0, 0) * SECOND + 17;
        let batch = multi.upcoming(after, 200);
        assert_eq!(batch.len(), 200);
        for instant in batch {
            assert_eq!(multi.next(after), Some(instant));
            after = instant;
        }
    }
}
