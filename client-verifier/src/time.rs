//! Seconds-precision UTC time, and the RFC 3339 form tokens carry.
//!
//! The verifier must build without `std`, so it cannot read a clock: every check takes `now` as
//! an argument. This module owns the conversion between Unix seconds and the RFC 3339 strings in
//! token claims, written by hand so the core needs no date library.

use alloc::string::String;
use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time: whole seconds since 1970-01-01T00:00:00Z.
///
/// Tokens are written with `Z` and no fraction; reading accepts any RFC 3339 offset and drops a
/// fraction of a second (truncating towards the past), so tokens signed by other PASETO libraries
/// verify too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Seconds in a day, for callers computing windows in days.
pub const DAY: i64 = 86_400;

/// The earliest and latest years a token may name. Keeps arithmetic far from overflow.
const MIN_YEAR: i64 = 1970;
const MAX_YEAR: i64 = 9999;

impl Timestamp {
    /// The time `secs` seconds after the Unix epoch.
    pub const fn from_unix(secs: i64) -> Self {
        Timestamp(secs)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// This time moved by `secs` seconds (saturating).
    #[must_use]
    pub const fn add_secs(self, secs: i64) -> Self {
        Timestamp(self.0.saturating_add(secs))
    }

    /// The current time from the system clock.
    #[cfg(feature = "std")]
    pub fn now() -> Self {
        let secs = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            // A clock before 1970 is a clock set back; the rollback guard will catch it.
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        Timestamp(secs)
    }

    /// Parses an RFC 3339 date-time (`2026-11-23T10:00:00Z`, `…+08:00`, `…​.123Z`).
    ///
    /// Strict: exactly the RFC 3339 grammar, `T` and `Z` in either case as the RFC allows,
    /// nothing before or after.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() < 20 {
            return None;
        }
        let year = digits(b, 0, 4)?;
        let month = digits(b, 5, 2)?;
        let day = digits(b, 8, 2)?;
        let hour = digits(b, 11, 2)?;
        let minute = digits(b, 14, 2)?;
        let second = digits(b, 17, 2)?;
        if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        if day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut rest = &b[19..];
        if rest.first() == Some(&b'.') {
            let frac = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if frac == 0 {
                return None;
            }
            rest = &rest[1 + frac..];
        }
        let offset = match rest {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let oh = digits(&[*h1, *h2], 0, 2)?;
                let om = digits(&[*m1, *m2], 0, 2)?;
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = oh * 3600 + om * 60;
                if *sign == b'+' { off } else { -off }
            }
            _ => return None,
        };
        // A leap second is read as the last second of its minute: tokens only need ordering.
        let second = second.min(59);
        let days = days_from_civil(year, month, day);
        Some(Timestamp(
            days * DAY + hour * 3600 + minute * 60 + second - offset,
        ))
    }

    /// The calendar fields of this time in UTC: (year, month, day, hour, minute, second).
    pub fn to_civil(self) -> (i64, u32, u32, u32, u32, u32) {
        let days = self.0.div_euclid(DAY);
        let secs = self.0.rem_euclid(DAY);
        let (y, m, d) = civil_from_days(days);
        // The casts are exact: each field is bounded by the arithmetic above.
        let h = (secs / 3600) as u32;
        let mi = ((secs % 3600) / 60) as u32;
        let s = (secs % 60) as u32;
        (y, m, d, h, mi, s)
    }

    /// The RFC 3339 form used in tokens: `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn to_rfc3339(self) -> String {
        alloc::format!("{self}")
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d, h, mi, s) = self.to_civil();
        write!(f, "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 date-time")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse_rfc3339(v)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// `len` ASCII digits of `b` starting at `at`, as a number.
fn digits(b: &[u8], at: usize, len: usize) -> Option<i64> {
    let field = b.get(at..at + len)?;
    field.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
///
/// Counts in 400-year eras starting on March 1st, so the leap day is the last day of a year and
/// needs no special case.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_dates() {
        for (text, secs) in [
            ("1970-01-01T00:00:00Z", 0),
            ("2000-02-29T12:34:56Z", 951_827_696),
            ("2026-11-23T11:26:26Z", 1_795_433_186),
            ("2100-03-01T00:00:00Z", 4_107_542_400),
        ] {
            let t = Timestamp::parse_rfc3339(text).unwrap();
            assert_eq!(t.unix(), secs, "{text}");
            assert_eq!(t.to_rfc3339(), text);
        }
    }

    #[test]
    fn every_day_for_centuries_round_trips() {
        let mut days = days_from_civil(1970, 1, 1);
        for y in 1970..2400 {
            for m in 1..=12 {
                for d in 1..=days_in_month(y, m) {
                    assert_eq!(days_from_civil(y, m, d), days);
                    let (cy, cm, cd) = civil_from_days(days);
                    assert_eq!((cy, i64::from(cm), i64::from(cd)), (y, m, d));
                    days += 1;
                }
            }
        }
    }

    #[test]
    fn reads_offsets_and_fractions() {
        let z = Timestamp::parse_rfc3339("2022-01-01T00:00:00Z").unwrap();
        assert_eq!(
            Timestamp::parse_rfc3339("2022-01-01T00:00:00+00:00"),
            Some(z)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2022-01-01T08:00:00+08:00"),
            Some(z)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2021-12-31T19:30:00-04:30"),
            Some(z)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2022-01-01T00:00:00.999Z"),
            Some(z)
        );
        assert_eq!(Timestamp::parse_rfc3339("2022-01-01t00:00:00z"), Some(z));
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "",
            "2022-01-01",
            "2022-01-01 00:00:00Z",
            "2022-01-01T00:00:00",
            "2022-01-01T00:00:00ZZ",
            "2022-01-01T00:00:00.Z",
            "2022-13-01T00:00:00Z",
            "2022-02-29T00:00:00Z",
            "2022-01-01T24:00:00Z",
            "2022-01-01T00:00:00+0000",
            "2022-01-01T00:00:00+24:00",
            "+022-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2022-01-01T00:00:00Z ",
            "２022-01-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad:?}");
        }
    }
}
