//! ISO 8601 timestamps (UTC) for the API's `createdTime`-style fields and
//! query parameters, without a date library.

use crate::types::Timestamp;

/// `2026-01-01T00:00:00.000Z`.
pub fn format(ms: Timestamp) -> String {
    let secs = (ms / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Parses `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM[:SS[.fff]]` followed by `Z`,
/// an offset `±HH:MM`, or nothing (taken as UTC). `None` if malformed or
/// before 1970.
pub fn parse(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    let (date, time) = match text.find(['T', 't', ' ']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let y: i64 = number(parts.next()?, 4)?;
    let m: u32 = number(parts.next()?, 2)?;
    let d: u32 = number(parts.next()?, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, m, d) * 86_400_000;
    if let Some(time) = time {
        let (clock, offset_ms) = split_offset(time)?;
        let (hms, fraction) = match clock.split_once('.') {
            Some((hms, f)) => (hms, Some(f)),
            None => (clock, None),
        };
        let mut fields = hms.split(':');
        let h: i64 = number(fields.next()?, 2)?;
        let min: i64 = number(fields.next()?, 2)?;
        let s: i64 = match fields.next() {
            Some(s) => number(s, 2)?,
            None => 0,
        };
        if fields.next().is_some() || h > 23 || min > 59 || s > 60 {
            return None;
        }
        let frac_ms = match fraction {
            Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                let digits: String = f.chars().chain("000".chars()).take(3).collect();
                digits.parse::<i64>().ok()?
            }
            Some(_) => return None,
            None => 0,
        };
        ms += ((h * 60 + min) * 60 + s) * 1000 + frac_ms - offset_ms;
    }
    u64::try_from(ms).ok()
}

fn number<T: std::str::FromStr>(text: &str, len: usize) -> Option<T> {
    if text.len() != len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Splits `HH:MM:SS...` from a trailing `Z` or `±HH:MM`; the offset in ms.
fn split_offset(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    match time.rfind(['+', '-']) {
        Some(i) => {
            let sign = if time.as_bytes()[i] == b'-' { -1 } else { 1 };
            let (h, m) = time[i + 1..].split_once(':')?;
            let offset: i64 = number::<i64>(h, 2)? * 60 + number::<i64>(m, 2)?;
            Some((&time[..i], sign * offset * 60_000))
        }
        None => Some((time, 0)),
    }
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A civil date to days since 1970-01-01 (the inverse of the above).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T00:00:00Z.
    const T: Timestamp = 1_767_225_600_000;

    #[test]
    fn formats_and_parses_round_trip() {
        assert_eq!(format(T), "2026-01-01T00:00:00.000Z");
        assert_eq!(
            format(T + 86_400_000 * 59 + 3_723_004),
            "2026-03-01T01:02:03.004Z"
        );
        for ms in [0, T, T + 1, T + 86_399_999, 951_782_400_000] {
            assert_eq!(parse(&format(ms)), Some(ms), "{}", format(ms));
        }
    }

    #[test]
    fn parses_the_forms_clients_send() {
        assert_eq!(parse("2026-01-01"), Some(T));
        assert_eq!(parse("2026-01-01T00:00:00Z"), Some(T));
        assert_eq!(parse("2026-01-01T00:00Z"), Some(T));
        assert_eq!(parse("2026-01-01T00:00:00"), Some(T));
        assert_eq!(parse("2026-01-01T00:00:00.5Z"), Some(T + 500));
        assert_eq!(parse("2026-01-01T01:00:00+01:00"), Some(T));
        assert_eq!(parse("2025-12-31T23:00:00-01:00"), Some(T));
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-1-1",
            "2026-01-01T25:00Z",
            "1969-12-31",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
