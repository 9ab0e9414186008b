//! A receiver's `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

/// IMF-fixdate, the only date form senders may generate: `Sun, 06 Nov 1994 08:49:37 GMT`.
const IMF_FIXDATE: &[FormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// How long the receiver asked us to wait, measured from `now`; a date in the past means no
/// wait, anything unreadable reads as absent.
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = time::PrimitiveDateTime::parse(value, IMF_FIXDATE)
        .ok()?
        .assume_utc();
    let now = OffsetDateTime::from(now);
    let wait = date - now;
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    /// 1994-11-06T08:49:37Z.
    fn rfc_example() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(784_111_777)
    }

    #[test]
    fn reads_seconds_and_http_dates() {
        let now = rfc_example();
        assert_eq!(parse("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for junk in ["soon", "-5", "1.5", "Sunday, 06-Nov-94 08:49:37 GMT", ""] {
            assert_eq!(parse(junk, now), None, "{junk}");
        }
    }
}
