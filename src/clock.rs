//! Wall-clock time, read in one place: Unix time at the precisions the
//! gateway needs, and UTC calendar days.

use std::time::{SystemTime, UNIX_EPOCH};

fn since_epoch() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Seconds since the Unix epoch.
pub fn unix_seconds() -> u64 {
    since_epoch().as_secs()
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis() -> u64 {
    u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX)
}

/// Microseconds since the Unix epoch.
pub fn unix_micros() -> u64 {
    u64::try_from(since_epoch().as_micros()).unwrap_or(u64::MAX)
}

/// Today as a day number since 1970-01-01 (UTC).
pub fn unix_day() -> i64 {
    (unix_seconds() / 86_400) as i64
}

/// Today's UTC day, `YYYY-MM-DD`.
pub fn today() -> String {
    civil_day(unix_day())
}

/// `YYYY-MM-DD` of a day number since 1970-01-01 (Howard Hinnant's
/// days-from-civil inverse).
pub fn civil_day(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(civil_day(0), "1970-01-01");
        assert_eq!(civil_day(20_784), "2026-11-27");
        assert_eq!(civil_day(11_016), "2000-02-29");
        assert_eq!(civil_day(-1), "1969-12-31");
    }

    #[test]
    fn precisions_agree() {
        let (s, ms) = (unix_seconds(), unix_millis());
        assert!(ms / 1000 >= s && ms / 1000 <= s + 1);
        assert_eq!(today(), civil_day(unix_day()));
    }
}
