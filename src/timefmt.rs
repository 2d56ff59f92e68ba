//! Dates on the wire: RFC 3339 / ISO 8601 in UTC, formatted for logs and
//! parsed from credential expirations (`2026-11-25T12:00:00Z`); and the HTTP
//! `Date` header (`Wed, 25 Nov 2026 12:34:56 GMT`), from which the clock
//! skew is measured. Without a date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Formats a time as RFC 3339 in UTC with millisecond precision,
/// e.g. `2026-11-25T12:34:56.789Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days`, so no date crate is needed.
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

/// (year, month, day) to days since 1970-01-01; the inverse of
/// `civil_from_days`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, the form AWS
/// sends expirations in. `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let kept = &frac[..digits.min(9)];
        nanos = kept.parse::<u32>().ok()? * 10u32.pow(9 - kept.len() as u32);
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// Formats a time as an HTTP date (RFC 9110 IMF-fixdate), e.g.
/// `Wed, 25 Nov 2026 12:34:56 GMT`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[m as usize - 1],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Parses an HTTP date in the form every server sends today (IMF-fixdate,
/// `Wed, 25 Nov 2026 12:34:56 GMT`); the weekday is not checked. `None`
/// for anything else, including the obsolete RFC 850 and asctime forms.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let rest = s.trim().split_once(", ")?.1;
    let f: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = f.as_slice() else {
        return None;
    };
    let num = |v: &str, len: usize| -> Option<i64> {
        (v.len() == len && v.bytes().all(|c| c.is_ascii_digit())).then(|| v.parse().ok())?
    };
    let d = num(day, 2)?;
    let m = MONTHS.iter().position(|x| x == month)? as u32 + 1;
    let y = num(year, 4)?;
    let hms: Vec<&str> = time.split(':').collect();
    let [h, mi, sec] = hms.as_slice() else {
        return None;
    };
    let (h, mi, sec) = (num(h, 2)?, num(mi, 2)?, num(sec, 2)?);
    if !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let secs = days_from_civil(y, m, d as u32) * 86_400 + h * 3600 + mi * 60 + sec;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_both_ways() {
        // Checked with Python: email.utils.formatdate(1795610096, usegmt=True).
        let t = UNIX_EPOCH + Duration::from_secs(1_795_610_096);
        assert_eq!(http_date(t), "Wed, 25 Nov 2026 12:34:56 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(parse_http_date("Wed, 25 Nov 2026 12:34:56 GMT"), Some(t));
        assert_eq!(parse_http_date(" Wed, 25 Nov 2026 12:34:56 GMT\r"), Some(t));
        for bad in [
            "",
            "Wed, 25 Nov 2026 12:34:56 UTC",
            "Wednesday, 25-Nov-26 12:34:56 GMT",
            "Wed Nov 25 12:34:56 2026",
            "Wed, 25 Foo 2026 12:34:56 GMT",
            "Wed, 5 Nov 2026 12:34:56 GMT",
            "Wed, 25 Nov 2026 24:00:00 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_formats_utc() {
        // Checked with Python: datetime.fromtimestamp(1795610096.789, timezone.utc).
        let t = UNIX_EPOCH + Duration::from_millis(1_795_610_096_789);
        assert_eq!(rfc3339(t), "2026-11-25T12:34:56.789Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // A leap day.
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn rfc3339_parses_what_aws_sends() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_610_096);
        assert_eq!(parse_rfc3339("2026-11-25T12:34:56Z"), Some(t));
        assert_eq!(parse_rfc3339("2026-11-25T12:34:56.000Z"), Some(t));
        assert_eq!(parse_rfc3339("2026-11-25T14:34:56+02:00"), Some(t));
        assert_eq!(
            parse_rfc3339("2026-11-25T12:34:56.5Z"),
            Some(t + Duration::from_millis(500))
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00Z"),
            Some(UNIX_EPOCH + Duration::from_secs(951_782_400))
        );
        for bad in [
            "",
            "2026-11-25",
            "2026-11-25T12:34:56",
            "2026-13-25T12:34:56Z",
            "2026-11-25T12:34:56X",
            "2026-11-25T12:34:56.Z",
            "x026-11-25T12:34:56Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        // Formatting and parsing agree.
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
    }
}
