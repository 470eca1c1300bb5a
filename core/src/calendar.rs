//! Civil dates, and midnight in America/Los_Angeles: when Gemini's per-day quotas come back.
//!
//! Shared by `steadfast-gemini` (when a per-day refusal ends) and `steadfast-sim` (when its
//! simulated day resets, and the timestamps it writes), so that the date arithmetic is written
//! once. It is hidden from the documentation and not covered by semver: depend on it only
//! through those crates.
//!
//! Gemini resets its requests-per-day quotas at midnight Pacific time (its rate-limits page says
//! so). Pacific time is UTC−8 (PST) except from the second Sunday of March at 2:00 PST to the
//! first Sunday of November at 2:00 PDT, when it is UTC−7 (PDT): the US rule since 2007,
//! implemented here rather than with a time-zone database, which would be a large dependency for
//! one zone. (Should the US change its rule, this module changes with it.) Midnight is never
//! skipped nor repeated, because the clocks change at 2:00.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; H. Hinnant's algorithm).
///
/// ```
/// # use steadfast::calendar::days_from_civil;
/// assert_eq!(days_from_civil(1970, 1, 1), 0);
/// assert_eq!(days_from_civil(2026, 3, 8), 20_520);
/// ```
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day number (days since 1970-01-01); the inverse of
/// [`days_from_civil`].
///
/// ```
/// # use steadfast::calendar::{civil_from_days, days_from_civil};
/// assert_eq!(civil_from_days(20_520), (2026, 3, 8));
/// assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
/// ```
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The year of a day number.
fn year_of(days: i64) -> i64 {
    civil_from_days(days).0
}

/// The day number of the `n`th Sunday (1-based) of a month.
fn nth_sunday(year: i64, month: i64, n: i64) -> i64 {
    let first = days_from_civil(year, month, 1);
    // 1970-01-01 was a Thursday: weekday 0 = Sunday.
    let weekday = (first + 4).rem_euclid(7);
    first + (7 - weekday) % 7 + 7 * (n - 1)
}

/// Pacific time's offset from UTC, in hours, at `utc` (seconds since the epoch): −7 or −8.
pub fn pacific_offset_hours(utc: i64) -> i64 {
    let year = year_of((utc - 8 * HOUR).div_euclid(DAY));
    // 2:00 PST = 10:00 UTC; 2:00 PDT = 9:00 UTC.
    let starts = nth_sunday(year, 3, 2) * DAY + 10 * HOUR;
    let ends = nth_sunday(year, 11, 1) * DAY + 9 * HOUR;
    if (starts..ends).contains(&utc) {
        -7
    } else {
        -8
    }
}

/// The next midnight in America/Los_Angeles strictly after `now`: when a per-day quota refused
/// at `now` is available again.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use steadfast::calendar::next_daily_reset;
/// // 2026-07-01 12:00 UTC is 05:00 PDT: the reset is at 2026-07-02 00:00 PDT = 07:00 UTC.
/// let now = UNIX_EPOCH + Duration::from_secs(1_782_907_200);
/// assert_eq!(next_daily_reset(now), now + Duration::from_secs(19 * 3600));
/// ```
pub fn next_daily_reset(now: SystemTime) -> SystemTime {
    let Ok(since) = now.duration_since(UNIX_EPOCH) else {
        // Before 1970: not a clock this library meets; a day is a safe answer.
        return now + Duration::from_secs(DAY as u64);
    };
    let utc = i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2);
    let local_day = (utc + pacific_offset_hours(utc) * HOUR).div_euclid(DAY);
    let midnight = (local_day + 1) * DAY;
    // Exactly one of the two offsets is in force at that midnight (no change happens at 0:00).
    let reset = [7, 8]
        .into_iter()
        .map(|h| midnight + h * HOUR)
        .find(|&at| pacific_offset_hours(at) * -HOUR == at - midnight)
        .unwrap_or(midnight + 8 * HOUR);
    UNIX_EPOCH + Duration::from_secs(u64::try_from(reset).unwrap_or(0))
}

/// How long from `now` until the next per-day reset ([`next_daily_reset`]).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// // 2026-03-08 09:00 UTC is 01:00 PST on the day clocks go forward: 22 hours to midnight PDT.
/// let now = UNIX_EPOCH + Duration::from_secs(1_772_960_400);
/// assert_eq!(steadfast::calendar::until_daily_reset(now), Duration::from_secs(22 * 3600));
/// ```
pub fn until_daily_reset(now: SystemTime) -> Duration {
    next_daily_reset(now)
        .duration_since(now)
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 3, 8), 20_520);
        for days in [-1, 0, 59, 365, 20_520, 20_819, 100_000] {
            let y = year_of(days);
            assert!(days_from_civil(y, 1, 1) <= days && days < days_from_civil(y + 1, 1, 1));
        }
        assert_eq!(nth_sunday(2026, 3, 2), days_from_civil(2026, 3, 8));
        assert_eq!(nth_sunday(2026, 11, 1), days_from_civil(2026, 11, 1));
        assert_eq!(nth_sunday(2027, 3, 2), days_from_civil(2027, 3, 14));
        assert_eq!(nth_sunday(2027, 11, 1), days_from_civil(2027, 11, 7));
    }

    #[test]
    fn the_offset_changes_at_two_in_the_morning_local() {
        // 2026-03-08 09:59:59 UTC = 01:59:59 PST; one second later it is 03:00 PDT.
        assert_eq!(pacific_offset_hours(1_772_963_999), -8);
        assert_eq!(pacific_offset_hours(1_772_964_000), -7);
        // 2026-11-01 08:59:59 UTC = 01:59:59 PDT; one second later it is 01:00 PST.
        assert_eq!(pacific_offset_hours(1_793_523_599), -7);
        assert_eq!(pacific_offset_hours(1_793_523_600), -8);
    }

    /// `(now, seconds until the reset)`, checked against the IANA zone (Python's zoneinfo).
    const CASES: &[(u64, u64)] = &[
        (1_772_956_799, 1),      // 2026-03-07 23:59:59 PST
        (1_772_956_800, 82_800), // 2026-03-08 00:00 PST: a 23-hour day
        (1_772_960_400, 79_200), // 01:00 PST, before the change
        (1_772_964_000, 75_600), // 03:00 PDT, after it
        (1_793_428_200, 1_800),  // 2026-10-30 23:30 PDT
        (1_793_514_600, 1_800),  // 2026-10-31 23:30 PDT
        (1_793_516_400, 90_000), // 2026-11-01 00:00 PDT: a 25-hour day
        (1_793_521_800, 84_600), // 01:30 PDT, the first one
        (1_793_525_400, 81_000), // 01:30 PST, the second one
        (1_782_907_200, 68_400), // 2026-07-01 05:00 PDT
        (1_768_464_000, 86_400), // 2026-01-15 00:00 PST exactly: the next midnight
        (1_735_686_000, 32_400), // 2024-12-31 15:00 PST, across the new year
        (1_805_018_399, 75_601), // 2027-03-14 01:59:59 PST
        (1_805_018_400, 75_600), // 2027-03-14 03:00 PDT
        (1_825_577_999, 82_801), // 2027-11-07 01:59:59 PDT
        (1_825_578_000, 82_800), // 2027-11-07 01:00 PST
    ];

    #[test]
    fn the_reset_is_the_next_pacific_midnight_across_dst_changes() {
        for &(now, left) in CASES {
            assert_eq!(
                until_daily_reset(at(now)),
                Duration::from_secs(left),
                "now = {now}"
            );
        }
    }

    #[test]
    fn fractions_of_a_second_are_counted() {
        let now = at(1_782_907_200) + Duration::from_millis(250);
        assert_eq!(
            until_daily_reset(now),
            Duration::from_secs(68_400) - Duration::from_millis(250)
        );
    }
}
