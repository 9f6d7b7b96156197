//! The marketplace's time formats (protocol §4, §12.3): compact `yyyyMMddHHmmss[SSS]` and the
//! `yyyy-MM-dd HH:mm:ss z` of `getLicenseAsync`, all UTC.

use client_verifier::Timestamp;

use super::code::{ProtocolError, quoted};

/// What [`parse_time`] accepts, for error messages.
const ACCEPTED: &str = "yyyyMMddHHmmss, yyyyMMddHHmmssSSS or yyyy-MM-dd HH:mm:ss z";

/// Reads a marketplace time field (UTC) named `field`.
///
/// Accepts `yyyyMMddHHmmss` (14 digits), `yyyyMMddHHmmssSSS` (17 digits: the marketplace documentation's
/// `refreshInstance` example carries 17 digits in a 14-digit field) and `yyyy-MM-dd HH:mm:ss z`
/// with a literal `z` or `Z`. Milliseconds are dropped, towards the past. A value of the right
/// shape that names no real time (month 13, 30 February, hour 24, second 60) or lies before 1970
/// or after 9999 is refused too. Errors are `000002` and name `field`.
pub fn parse_time(field: &str, value: &str) -> Result<Timestamp, ProtocolError> {
    let fields = compact_fields(value.as_bytes())
        .or_else(|| dashed_fields(value.as_bytes()))
        .ok_or_else(|| {
            ProtocolError::invalid(field, format!("expected {ACCEPTED}, got {}", quoted(value)))
        })?;
    from_fields(fields).ok_or_else(|| {
        ProtocolError::invalid(
            field,
            format!("{} is not a valid UTC date and time", quoted(value)),
        )
    })
}

/// `t` as `yyyyMMddHHmmss` (UTC), the form of `expireTime` in callbacks.
pub fn format_time(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s) = t.to_civil();
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// The License 1.0 `timeStamp`: 17 digits, or 14 if a sender leaves the milliseconds off.
pub(super) fn parse_v1_timestamp(value: &str) -> Option<Timestamp> {
    compact_fields(value.as_bytes()).and_then(from_fields)
}

/// The milliseconds of a 17-digit `timeStamp` (`SSS`; 0 for the 14-digit form).
pub(super) fn v1_timestamp_millis(value: &str) -> i64 {
    value
        .get(14..17)
        .and_then(|ms| ms.parse::<i64>().ok())
        .unwrap_or(0)
}

/// `t` as a 17-digit `timeStamp`; licd's clock has whole seconds, so the milliseconds are 000.
pub(super) fn format_v1_timestamp(t: Timestamp) -> String {
    format!("{}000", format_time(t))
}

/// Year, month, day, hour, minute, second, not yet range-checked.
type Fields = [u32; 6];

fn compact_fields(b: &[u8]) -> Option<Fields> {
    if !(b.len() == 14 || b.len() == 17) || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some([
        number(b, 0, 4)?,
        number(b, 4, 2)?,
        number(b, 6, 2)?,
        number(b, 8, 2)?,
        number(b, 10, 2)?,
        number(b, 12, 2)?,
    ])
}

fn dashed_fields(b: &[u8]) -> Option<Fields> {
    // yyyy-MM-dd HH:mm:ss z
    // 0    5  8  11 14 17 20
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b' '),
        (13, b':'),
        (16, b':'),
        (19, b' '),
    ];
    if b.len() != 21 || !matches!(b[20], b'z' | b'Z') {
        return None;
    }
    if separators.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    Some([
        number(b, 0, 4)?,
        number(b, 5, 2)?,
        number(b, 8, 2)?,
        number(b, 11, 2)?,
        number(b, 14, 2)?,
        number(b, 17, 2)?,
    ])
}

/// `len` ASCII digits of `b` from `at`, as a number; `None` if any is not a digit.
fn number(b: &[u8], at: usize, len: usize) -> Option<u32> {
    b.get(at..at + len)?.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn from_fields([y, mo, d, h, mi, s]: Fields) -> Option<Timestamp> {
    // parse_rfc3339 validates the calendar (month, day of month, leap years, year range) but
    // reads second 60 as a leap second; the marketplace never sends one, so it is an error here.
    if s > 59 {
        return None;
    }
    Timestamp::parse_rfc3339(&format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marketplace::ResultCode;

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp::parse_rfc3339(rfc3339).unwrap()
    }

    #[test]
    fn parses_fourteen_and_seventeen_digit_times() {
        assert_eq!(
            parse_time("expireTime", "20230523201932").unwrap(),
            at("2023-05-23T20:19:32Z")
        );
        assert_eq!(
            parse_time("expireTime", "20221124023618256").unwrap(),
            at("2022-11-24T02:36:18Z")
        );
    }

    #[test]
    fn parses_dashed_utc_form_with_either_z() {
        let t = at("2023-10-27T10:30:15Z");
        assert_eq!(
            parse_time("effectiveTime", "2023-10-27 10:30:15 z").unwrap(),
            t
        );
        assert_eq!(
            parse_time("effectiveTime", "2023-10-27 10:30:15 Z").unwrap(),
            t
        );
    }

    #[test]
    fn rejects_month_13_naming_the_field() {
        let err = parse_time("expireTime", "20231301000000").unwrap_err();
        assert_eq!(err.code, ResultCode::InvalidParam);
        assert_eq!(
            err.message,
            r#"expireTime: "20231301000000" is not a valid UTC date and time"#
        );
    }

    #[test]
    fn rejects_wrong_shape_naming_field_and_value() {
        let err = parse_time("expireTime", "2023-13-01").unwrap_err();
        assert_eq!(err.code, ResultCode::InvalidParam);
        assert_eq!(
            err.message,
            format!(r#"expireTime: expected {ACCEPTED}, got "2023-13-01""#)
        );
    }

    #[test]
    fn rejects_february_30_and_accepts_leap_day() {
        assert!(parse_time("t", "20230230120000").is_err());
        assert!(parse_time("t", "20230229120000").is_err());
        assert_eq!(
            parse_time("t", "20240229120000").unwrap(),
            at("2024-02-29T12:00:00Z")
        );
        assert!(parse_time("t", "2023-02-30 12:00:00 z").is_err());
    }

    #[test]
    fn rejects_out_of_range_clock_fields() {
        for bad in [
            "20230101240000",
            "20230101236000",
            "20230101235960",
            "20230100000000",
            "20230001000000",
            "19691231235959",
        ] {
            let err = parse_time("expireTime", bad).unwrap_err();
            assert!(err.message.starts_with("expireTime: "), "{bad}: {err}");
        }
    }

    #[test]
    fn rejects_near_misses_of_each_format_without_panicking() {
        for bad in [
            "",
            "2023052320193",
            "202305232019321",
            "2023052320193212",
            "202305232019321234",
            "2023-05-23 20:19:32",
            "2023-05-23T20:19:32Z",
            "2023-05-23 20:19:32 +",
            "2023-05-23  20:19:32z",
            "2023/05/23 20:19:32 z",
            "+2023052320193",
            "２023052320193",
            "2023-05-23 20:1é:32 z",
            "20230523 201932",
        ] {
            assert!(parse_time("expireTime", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn format_time_round_trips() {
        let t = at("2024-02-29T01:02:03Z");
        assert_eq!(format_time(t), "20240229010203");
        assert_eq!(parse_time("x", &format_time(t)).unwrap(), t);
        assert_eq!(format_v1_timestamp(t), "20240229010203000");
    }

    #[test]
    fn v1_timestamp_takes_compact_forms_only() {
        let t = at("2023-08-15T08:30:11Z");
        assert_eq!(parse_v1_timestamp("20230815083011123"), Some(t));
        assert_eq!(parse_v1_timestamp("20230815083011"), Some(t));
        assert_eq!(parse_v1_timestamp("2023-08-15 08:30:11 z"), None);
        assert_eq!(parse_v1_timestamp("2023081508301112"), None);
    }
}
