//! Dates and times for `<date>` (Sentry's `date` pattern, plus common log formats).
//!
//! Recognized, at the start of a word:
//! * ISO 8601 / RFC 3339 date-times (`2024-05-01T12:00:00.123Z`, `2024-05-01 12:00:00,123`,
//!   `20240501T120000+0200`), bare dates (`2024-05-01`) and times (`12:00:00`, `9:30 PM`);
//! * RFC 2822 / 1123 (`Wed, 01 May 2024 12:00:00 GMT`), RFC 850, ANSI C `asctime`
//!   (`Wed May  1 12:00:00 2024`), JavaScript `Date.toString()`, `May 01, 2024`;
//! * common log format (`01/May/2024:12:00:00 +0000`) and syslog (`May  1 12:00:00`);
//! * Python reprs (`datetime.datetime(2024, 5, 1, 12, 0)`).

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// Named zones of RFC 822, longest first so `UTC` is not read as `UT`.
const ZONES: [&str; 12] = [
    "UTC", "GMT", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT", "UT", "Z",
];
/// Longest `datetime.datetime(...)` repr looked at.
const MAX_REPR_BYTES: usize = 200;

/// The end of a date or time starting at `i`, if one does.
pub(super) fn date_at(b: &[u8], i: usize) -> Option<usize> {
    let first = *b.get(i)?;
    let formats: &[fn(&mut Cursor<'_>) -> Option<()>] = match first {
        b'0'..=b'9' => &[
            iso_date_time,
            common_log,
            day_month_year_time,
            clock_time,
            iso_date,
            plain_time,
        ],
        b'S' | b'M' | b'T' | b'W' | b'F' => &[
            rfc2822,
            month_day_comma_year,
            rfc850,
            javascript,
            asctime,
            day_month_year_time,
            syslog,
        ],
        b'A' | b'D' | b'J' | b'N' | b'O' => &[month_day_comma_year, asctime, syslog],
        b'd' => &[python_repr],
        _ => return None,
    };
    formats.iter().find_map(|format| {
        let mut cursor = Cursor { b, i };
        format(&mut cursor).map(|()| cursor.i)
    })
}

/// A position in the input with small parsing steps; each returns `None` when the input does
/// not match, so formats read as a sequence of `?`.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn byte(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn opt_byte(&mut self, c: u8) -> bool {
        self.byte(c).is_some()
    }

    /// One byte in `lo..=hi`.
    fn range(&mut self, lo: u8, hi: u8) -> Option<()> {
        (lo..=hi).contains(&self.peek()?).then(|| self.i += 1)
    }

    /// Between `min` and `max` digits (greedy); their value.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let mut value = 0u32;
        let mut n = 0;
        while n < max
            && let Some(d) = self.peek().filter(u8::is_ascii_digit)
        {
            value = value * 10 + u32::from(d - b'0');
            self.i += 1;
            n += 1;
        }
        (n >= min).then_some(value)
    }

    /// Exactly two digits, the first in `lo..=hi` (`[0-5]\d` and the like).
    fn two(&mut self, lo: u8, hi: u8) -> Option<()> {
        self.range(lo, hi)?;
        self.range(b'0', b'9')
    }

    fn word(&mut self, words: &[&str]) -> Option<()> {
        let rest = &self.b[self.i..];
        let w = words.iter().find(|w| rest.starts_with(w.as_bytes()))?;
        self.i += w.len();
        Some(())
    }

    fn space(&mut self) -> Option<()> {
        self.peek()?.is_ascii_whitespace().then(|| self.i += 1)
    }

    fn spaces(&mut self) -> Option<()> {
        self.space()?;
        while self.space().is_some() {}
        Some(())
    }

    /// `hh:mm` or `hh:mm:ss`, two digits each.
    fn hms(&mut self, seconds_required: bool) -> Option<()> {
        self.two(b'0', b'2')?;
        self.byte(b':')?;
        self.two(b'0', b'5')?;
        let save = self.i;
        if self
            .byte(b':')
            .and_then(|()| self.two(b'0', b'6'))
            .is_none()
        {
            if seconds_required {
                return None;
            }
            self.i = save;
        }
        Some(())
    }

    /// `+0200`, `-07:00` or a named zone (RFC 822 military letters included).
    fn zone(&mut self) -> Option<()> {
        let save = self.i;
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.i += 1;
            if self.two(b'0', b'2').is_some() {
                self.opt_byte(b':');
                if self.two(b'0', b'5').is_some() {
                    return Some(());
                }
            }
            self.i = save;
            return None;
        }
        if self.word(&ZONES).is_some() {
            return Some(());
        }
        // Single military letters A–I, K–Z, but not the start of a word.
        let letter = self.peek()?;
        let alone = !self
            .b
            .get(self.i + 1)
            .is_some_and(u8::is_ascii_alphanumeric);
        (letter.is_ascii_uppercase() && letter != b'J' && alone).then(|| self.i += 1)
    }

    /// Fractional seconds: `.123` or `,123`.
    fn fraction(&mut self) {
        let save = self.i;
        if matches!(self.peek(), Some(b'.' | b',')) {
            self.i += 1;
            if self.digits(1, usize::MAX).is_none() {
                self.i = save;
            }
        }
    }
}

/// `2024-05-01T12:00:00.123+02:00`, `2024-05-01 12:00`, `20240501T120000Z`.
fn iso_date_time(c: &mut Cursor<'_>) -> Option<()> {
    c.digits(4, 4)?;
    c.opt_byte(b'-');
    c.two(b'0', b'1')?;
    c.opt_byte(b'-');
    c.two(b'0', b'3')?;
    if !matches!(c.peek()?, b'T' | b' ' | b'\t') {
        return None;
    }
    c.i += 1;
    c.two(b'0', b'2')?;
    c.opt_byte(b':');
    c.two(b'0', b'5')?;
    let save = c.i;
    c.opt_byte(b':');
    if c.two(b'0', b'6').is_some() {
        c.fraction();
    } else {
        c.i = save;
    }
    let save = c.i;
    if c.opt_byte(b'Z') {
        return Some(());
    }
    if matches!(c.peek(), Some(b'+' | b'-')) {
        c.i += 1;
        let zone = c.two(b'0', b'2').and_then(|()| {
            c.opt_byte(b':');
            c.two(b'0', b'5')
        });
        if zone.is_none() {
            c.i = save;
        }
    }
    Some(())
}

/// `2024-05-01`.
fn iso_date(c: &mut Cursor<'_>) -> Option<()> {
    c.digits(4, 4)?;
    c.byte(b'-')?;
    c.two(b'0', b'1')?;
    c.byte(b'-')?;
    c.two(b'0', b'3')
}

/// `12:00:00` with any hour from 00 to 29 (Sentry's plain time pattern).
fn plain_time(c: &mut Cursor<'_>) -> Option<()> {
    c.hms(true)
}

/// `9:30`, `09:30:15`, `11:45 pm`: hours up to 23, not followed by more digits or colons.
fn clock_time(c: &mut Cursor<'_>) -> Option<()> {
    let start = c.i;
    let hour = c.digits(1, 2)?;
    if hour > 23 {
        return None;
    }
    c.byte(b':')?;
    c.two(b'0', b'5')?;
    let save = c.i;
    if c.byte(b':').and_then(|()| c.two(b'0', b'5')).is_none() {
        c.i = save;
    }
    if matches!(c.peek(), Some(b'0'..=b'9' | b':')) {
        return None;
    }
    // An AM/PM suffix only on 12-hour clocks without a leading zero.
    let twelve_hour = (1..=12).contains(&hour) && c.b[start] != b'0';
    if twelve_hour {
        let save = c.i;
        c.opt_byte(b' ');
        let marker = matches!(c.peek(), Some(b'a' | b'A' | b'p' | b'P'))
            && matches!(c.b.get(c.i + 1), Some(b'm' | b'M'))
            && !c.b.get(c.i + 2).is_some_and(u8::is_ascii_alphanumeric);
        c.i = if marker { c.i + 2 } else { save };
    }
    Some(())
}

/// `Wed, 1 May 2024 12:00:00 +0000` (RFC 2822, RFC 1123).
fn rfc2822(c: &mut Cursor<'_>) -> Option<()> {
    c.word(&DAYS)?;
    c.byte(b',')?;
    c.space()?;
    c.digits(1, 2)?;
    c.space()?;
    c.word(&MONTHS)?;
    c.space()?;
    c.digits(2, 4)?;
    c.space()?;
    c.digits(1, 2)?;
    c.byte(b':')?;
    c.digits(1, 2)?;
    let save = c.i;
    if c.byte(b':').and_then(|()| c.digits(1, 2)).is_none() {
        c.i = save;
    }
    c.space()?;
    c.zone()
}

/// `Wed May 01, 2024` and `May 01, 2024`.
fn month_day_comma_year(c: &mut Cursor<'_>) -> Option<()> {
    let save = c.i;
    if c.word(&DAYS).and_then(|()| c.space()).is_none() {
        c.i = save;
    }
    c.word(&MONTHS)?;
    c.space()?;
    c.two(b'0', b'3')?;
    c.byte(b',')?;
    c.space()?;
    c.digits(2, 4).map(drop)
}

/// `Wednesday, 01-May-24 12:00:00 GMT` (RFC 850).
fn rfc850(c: &mut Cursor<'_>) -> Option<()> {
    if c.word(&LONG_DAYS).is_none() {
        c.word(&DAYS)?;
    }
    c.byte(b',')?;
    c.space()?;
    c.digits(2, 2)?;
    c.byte(b'-')?;
    c.word(&MONTHS)?;
    c.byte(b'-')?;
    c.digits(2, 2)?;
    c.space()?;
    c.hms(true)?;
    c.space()?;
    c.zone()
}

/// `Wed May 01 2024 12:00:00 GMT+0200 (Central European Summer Time)`.
fn javascript(c: &mut Cursor<'_>) -> Option<()> {
    c.word(&DAYS)?;
    c.space()?;
    c.word(&MONTHS)?;
    c.space()?;
    c.digits(2, 2)?;
    c.space()?;
    c.digits(4, 4)?;
    c.space()?;
    c.hms(true)?;
    c.space()?;
    c.word(&["GMT"])?;
    if !matches!(c.peek(), Some(b'+' | b'-')) {
        return None;
    }
    c.i += 1;
    c.digits(4, 4)?;
    let save = c.i;
    let named = c.space().and_then(|()| c.byte(b'(')).and_then(|()| {
        let close = c.b[c.i..].iter().position(|&b| b == b')')?;
        (close > 0).then(|| c.i += close + 1)
    });
    if named.is_none() {
        c.i = save;
    }
    Some(())
}

/// `Wed May  1 12:00:00 2024` (C `asctime`, `date`).
fn asctime(c: &mut Cursor<'_>) -> Option<()> {
    let save = c.i;
    if c.word(&DAYS).and_then(|()| c.spaces()).is_none() {
        c.i = save;
    }
    c.word(&MONTHS)?;
    c.spaces()?;
    c.digits(1, 2)?;
    c.spaces()?;
    c.hms(true)?;
    c.spaces()?;
    c.digits(4, 4).map(drop)
}

/// `Wed, 01 May 2024 12:00 +0000`, `1 May 2024 12:00:00 GMT`.
fn day_month_year_time(c: &mut Cursor<'_>) -> Option<()> {
    let save = c.i;
    if c.word(&DAYS)
        .and_then(|()| c.byte(b','))
        .and_then(|()| c.spaces())
        .is_none()
    {
        c.i = save;
    }
    let day = c.digits(1, 2)?;
    if !(1..=31).contains(&day) {
        return None;
    }
    c.spaces()?;
    c.word(&MONTHS)?;
    c.spaces()?;
    let year = c.digits(4, 4)?;
    if year < 1900 {
        return None;
    }
    c.spaces()?;
    c.hms(false)?;
    c.spaces()?;
    c.zone()
}

/// `May  1 12:00:00` (syslog, RFC 3164).
fn syslog(c: &mut Cursor<'_>) -> Option<()> {
    c.word(&MONTHS)?;
    c.spaces()?;
    c.digits(1, 2)?;
    c.spaces()?;
    c.hms(true)
}

/// `01/May/2024:12:00:00 +0000` (Apache and nginx access logs).
fn common_log(c: &mut Cursor<'_>) -> Option<()> {
    c.digits(2, 2)?;
    c.byte(b'/')?;
    c.word(&MONTHS)?;
    c.byte(b'/')?;
    c.digits(4, 4)?;
    c.byte(b':')?;
    c.hms(true)?;
    let save = c.i;
    if c.byte(b' ').and_then(|()| c.zone()).is_none() {
        c.i = save;
    }
    Some(())
}

/// `datetime.datetime(2024, 5, 1, 12, 0)`.
fn python_repr(c: &mut Cursor<'_>) -> Option<()> {
    c.word(&["datetime.datetime("])?;
    let window = &c.b[c.i..c.b.len().min(c.i + MAX_REPR_BYTES)];
    let close = window.iter().position(|&b| b == b')')?;
    c.i += close + 1;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matched prefix of `s`, if any.
    fn m(s: &str) -> Option<&str> {
        date_at(s.as_bytes(), 0).map(|end| &s[..end])
    }

    #[test]
    fn iso_8601_and_rfc_3339() {
        assert_eq!(m("2024-05-01T12:00:00Z!"), Some("2024-05-01T12:00:00Z"));
        assert_eq!(
            m("2024-05-01T12:00:00.123456+02:00 x"),
            Some("2024-05-01T12:00:00.123456+02:00")
        );
        assert_eq!(
            m("2024-05-01 12:00:00,123 INFO"),
            Some("2024-05-01 12:00:00,123")
        );
        assert_eq!(m("20240501T120000Z"), Some("20240501T120000Z"));
        assert_eq!(m("2024-05-01 12:00 x"), Some("2024-05-01 12:00"));
        assert_eq!(m("2024-05-01."), Some("2024-05-01"));
        assert_eq!(m("2024-23-01"), None, "months start with 0 or 1");
        assert_eq!(m("2024"), None);
    }

    #[test]
    fn clock_times() {
        assert_eq!(m("12:00:00 x"), Some("12:00:00"));
        assert_eq!(m("9:30 PM."), Some("9:30 PM"));
        assert_eq!(m("9:30 amazing"), Some("9:30"));
        assert_eq!(m("23:59"), Some("23:59"));
        assert_eq!(m("24:00"), None);
        assert_eq!(
            m("10:30:45:12"),
            Some("10:30:45"),
            "plain time still applies"
        );
        assert_eq!(m("1:5"), None);
    }

    #[test]
    fn textual_formats() {
        assert_eq!(
            m("Wed, 01 May 2024 12:00:00 GMT;"),
            Some("Wed, 01 May 2024 12:00:00 GMT")
        );
        assert_eq!(
            m("Wed, 1 May 2024 12:00:00 +0000"),
            Some("Wed, 1 May 2024 12:00:00 +0000")
        );
        assert_eq!(m("Wed May 01, 2024"), Some("Wed May 01, 2024"));
        assert_eq!(m("May 01, 2024 at"), Some("May 01, 2024"));
        assert_eq!(
            m("Wednesday, 01-May-24 12:00:00 GMT"),
            Some("Wednesday, 01-May-24 12:00:00 GMT")
        );
        assert_eq!(
            m("Wed May 01 2024 12:00:00 GMT+0200 (Central European Summer Time) x"),
            Some("Wed May 01 2024 12:00:00 GMT+0200 (Central European Summer Time)")
        );
        assert_eq!(
            m("Wed May  1 12:00:00 2024"),
            Some("Wed May  1 12:00:00 2024")
        );
        assert_eq!(m("May  1 12:00:00 host"), Some("May  1 12:00:00"));
        assert_eq!(
            m("01 May 2024 12:00 +0000"),
            Some("01 May 2024 12:00 +0000")
        );
        assert_eq!(m("Monday"), None);
        assert_eq!(m("Mayday"), None);
    }

    #[test]
    fn log_formats_and_reprs() {
        assert_eq!(
            m("01/May/2024:12:00:00 +0000] \"GET"),
            Some("01/May/2024:12:00:00 +0000")
        );
        assert_eq!(
            m("datetime.datetime(2024, 5, 1, 12, 0) is"),
            Some("datetime.datetime(2024, 5, 1, 12, 0)")
        );
        assert_eq!(m("datetime.datetime(2024"), None);
    }
}
