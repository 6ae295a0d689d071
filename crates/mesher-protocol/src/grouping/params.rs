//! Parameterization: replacing the variable parts of a line by placeholders.
//!
//! Sentry does this with one large regular expression (`sentry/grouping/parameterization.py`):
//! at each position the first alternative that matches wins, in the order email, URL, host name,
//! IP, trace id, UUID, SHA-1, MD5, date, duration, hex, git SHA, float, integer, and `=`-prefixed
//! quoted strings and booleans. This is the same scan written by hand: one pass over the bytes,
//! matchers tried only where they can start (mostly at the start of a word), no allocation but
//! the output. The `regex` crate could not express the look-arounds Sentry relies on, and a
//! combined pattern with capture groups would cost more than the whole rest of grouping.
//!
//! Deliberate differences, each making grouping steadier:
//! * e-mail local parts start with a letter or digit and use `[A-Za-z0-9._%+-]`, so
//!   `key=alice@example.com` keeps its `key=` and a quote before an address is kept;
//! * durations also accept `ns`, `us`, `µs`, `m`, `h` and Go's compound form (`1m30.5s`), and like
//!   every placeholder must end a word;
//! * negative numbers need a non-word character before the `-` (Sentry does so for integers);
//! * IPv6 needs at least one hex digit (`::` alone is not an address);
//! * the date set adds common log and syslog formats and `UTC`.

use std::net::Ipv6Addr;

use super::dates;

/// What a match is replaced by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Email,
    Url,
    Hostname,
    Ip,
    Traceparent,
    Uuid,
    Sha1,
    Md5,
    Date,
    Duration,
    Hex,
    GitSha,
    Float,
    Int,
    QuotedStr,
    Bool,
}

impl Kind {
    fn placeholder(self) -> &'static str {
        match self {
            Self::Email => "<email>",
            Self::Url => "<url>",
            Self::Hostname => "<hostname>",
            Self::Ip => "<ip>",
            Self::Traceparent => "<traceparent>",
            Self::Uuid => "<uuid>",
            Self::Sha1 => "<sha1>",
            Self::Md5 => "<md5>",
            Self::Date => "<date>",
            Self::Duration => "<duration>",
            Self::Hex => "<hex>",
            Self::GitSha => "<git_sha>",
            Self::Float => "<float>",
            Self::Int => "<int>",
            Self::QuotedStr => "<quoted_str>",
            Self::Bool => "<bool>",
        }
    }
}

/// Regex `\w`: ASCII letters, digits and `_`; bytes of non-ASCII characters count as word
/// characters too (they are mostly letters), which also keeps every cut on a char boundary.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Characters of an e-mail local part.
fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// Characters of a host name label.
fn is_label(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn is_upper_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'A'..=b'F').contains(&b)
}

/// Whether a match may end at `end`: the next byte does not continue the word.
fn boundary(b: &[u8], end: usize) -> bool {
    !b.get(end).copied().is_some_and(is_word)
}

/// Appends `line` to `out` with its variable parts replaced.
pub(super) fn parameterize_into(line: &str, out: &mut String) {
    let b = line.as_bytes();
    let mut scan = Scan {
        b,
        no_closing_quote: [false; 2],
    };
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let c = b[i];
        let prev = if i == 0 { b' ' } else { b[i - 1] };
        let word = is_word(c);
        let found = if word && !is_word(prev) {
            scan.at_word(i, prev)
        } else if word {
            // No pattern starts inside a word.
            None
        } else {
            scan.at_symbol(i, prev)
        };
        match found {
            Some((end, kind)) => {
                // Matches start and end on ASCII bytes, so these are char boundaries.
                out.push_str(&line[copied..i]);
                out.push_str(kind.placeholder());
                i = end;
                copied = end;
            }
            None if word => i = word_end(b, i),
            None => i += 1,
        }
    }
    out.push_str(&line[copied..]);
}

fn word_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_word(b[i]) {
        i += 1;
    }
    i
}

struct Scan<'a> {
    b: &'a [u8],
    /// Set once a search for the closing `'` (index 0) or `"` (index 1) failed: later searches
    /// would fail too, and repeating them would make the scan quadratic.
    no_closing_quote: [bool; 2],
}

impl Scan<'_> {
    /// Matchers that start a word, in Sentry's order.
    fn at_word(&mut self, i: usize, prev: u8) -> Option<(usize, Kind)> {
        let b = self.b;
        // A run of local-part or label characters is tried once, from its start: later starts
        // inside the run cannot succeed where the earlier one failed.
        if !is_local(prev) {
            if let Some(end) = email(b, i) {
                return Some((end, Kind::Email));
            }
            if let Some(end) = url(b, i) {
                return Some((end, Kind::Url));
            }
            if let Some(end) = hostname(b, i) {
                return Some((end, Kind::Hostname));
            }
        }
        if let Some(end) = ipv4(b, i) {
            return Some((end, Kind::Ip));
        }
        // After a colon the address, if any, started at or before that colon.
        if prev != b':'
            && let Some(end) = ipv6(b, i)
        {
            return Some((end, Kind::Ip));
        }
        if let Some(end) = traceparent(b, i) {
            return Some((end, Kind::Traceparent));
        }
        if let Some(end) = uuid(b, i) {
            return Some((end, Kind::Uuid));
        }
        let w = word_end(b, i);
        let word = &b[i..w];
        let all_hex = word.iter().all(u8::is_ascii_hexdigit);
        if all_hex && word.len() == 40 {
            return Some((w, Kind::Sha1));
        }
        if all_hex && word.len() == 32 {
            return Some((w, Kind::Md5));
        }
        if let Some(end) = dates::date_at(b, i) {
            return Some((end, Kind::Date));
        }
        if let Some(end) = duration(b, i) {
            return Some((end, Kind::Duration));
        }
        if is_hex_word(word) {
            return Some((w, Kind::Hex));
        }
        if is_git_sha(word) {
            return Some((w, Kind::GitSha));
        }
        if let Some(end) = float(b, i) {
            return Some((end, Kind::Float));
        }
        if (1..=7).contains(&word.len()) && word.iter().all(u8::is_ascii_digit) {
            return Some((w, Kind::Int));
        }
        if prev == b'=' && matches!(word, b"True" | b"true" | b"False" | b"false") {
            return Some((w, Kind::Bool));
        }
        None
    }

    /// Matchers that start on punctuation.
    fn at_symbol(&mut self, i: usize, prev: u8) -> Option<(usize, Kind)> {
        let b = self.b;
        match b[i] {
            b':' if !is_word(prev) && prev != b':' => ipv6(b, i).map(|end| (end, Kind::Ip)),
            b'-' if !is_word(prev) && b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                if let Some(end) = float(b, i + 1) {
                    return Some((end, Kind::Float));
                }
                let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                ((1..=7).contains(&digits) && boundary(b, i + 1 + digits))
                    .then_some((i + 1 + digits, Kind::Int))
            }
            quote @ (b'\'' | b'"') if prev == b'=' => {
                let slot = usize::from(quote == b'"');
                if self.no_closing_quote[slot] {
                    return None;
                }
                match b[i + 1..].iter().position(|&c| c == quote) {
                    Some(0) => None,
                    Some(len) => Some((i + len + 2, Kind::QuotedStr)),
                    None => {
                        self.no_closing_quote[slot] = true;
                        None
                    }
                }
            }
            _ => None,
        }
    }
}

/// `local@domain.tld`.
fn email(b: &[u8], i: usize) -> Option<usize> {
    if !b[i].is_ascii_alphanumeric() {
        return None;
    }
    let at = i + b[i..].iter().take_while(|&&c| is_local(c)).count();
    if b.get(at) != Some(&b'@') {
        return None;
    }
    let mut end = at + 1;
    let label = |from: usize| from + b[from..].iter().take_while(|&&c| is_label(c)).count();
    let first = label(end);
    if first == end {
        return None;
    }
    end = first;
    while b.get(end) == Some(&b'.') {
        let next = label(end + 1);
        if next == end + 1 {
            break;
        }
        end = next;
    }
    Some(end)
}

/// `https://…` up to the next whitespace.
fn url(b: &[u8], i: usize) -> Option<usize> {
    let rest = &b[i..];
    let scheme = ["https://", "http://", "wss://", "ws://", "ftp://"]
        .into_iter()
        .find(|s| rest.starts_with(s.as_bytes()))?;
    let start = i + scheme.len();
    let first = *b.get(start)?;
    if first.is_ascii_whitespace() || matches!(first, b'/' | b'$' | b'.' | b'?' | b'#') {
        return None;
    }
    Some(
        start
            + b[start..]
                .iter()
                .take_while(|c| !c.is_ascii_whitespace())
                .count(),
    )
}

/// `api.example.com`: labels ending in one of the most common top-level domains.
fn hostname(b: &[u8], i: usize) -> Option<usize> {
    let mut k = i;
    loop {
        let start = k;
        while k < b.len() && is_label(b[k]) {
            k += 1;
        }
        if k == start || k - start > 63 || b.get(k) != Some(&b'.') {
            return None;
        }
        k += 1;
        let tld_start = k;
        let tld_end = k + b[k..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic())
            .count();
        if tld_end > tld_start && boundary(b, tld_end) && is_tld(&b[tld_start..tld_end]) {
            return Some(tld_end);
        }
    }
}

/// Sentry's list of the most common top-level domains, all lower or all upper case.
fn is_tld(word: &[u8]) -> bool {
    const TLDS: &[&str] = &[
        "com", "net", "org", "jp", "de", "uk", "fr", "br", "it", "ru", "es", "me", "gov", "pl",
        "ca", "au", "cn", "co", "in", "nl", "edu", "info", "eu", "ch", "id", "at", "kr", "cz",
        "mx", "be", "tv", "se", "tr", "tw", "al", "ua", "ir", "vn", "cl", "sk", "ly", "cc", "to",
        "no", "fi", "us", "pt", "dk", "ar", "hu", "tk", "gr", "il", "news", "ro", "my", "biz",
        "ie", "za", "nz", "sg", "ee", "th", "io", "xyz", "pe", "bg", "hk", "rs", "lt", "link",
        "ph", "club", "si", "site", "mobi", "by", "cat", "wiki", "la", "ga", "xxx", "cf", "hr",
        "ng", "jobs", "online", "kz", "ug", "gq", "ae", "is", "lv", "pro", "fm", "tips", "ms",
        "sa", "app",
    ];
    let lower = word.iter().all(u8::is_ascii_lowercase);
    let upper = word.iter().all(u8::is_ascii_uppercase);
    (lower || upper) && TLDS.iter().any(|t| t.as_bytes().eq_ignore_ascii_case(word))
}

/// `10.0.0.7`: four octets of at most 255.
fn ipv4(b: &[u8], i: usize) -> Option<usize> {
    let mut k = i;
    for octet in 0..4 {
        let digits = b[k..].iter().take_while(|c| c.is_ascii_digit()).count();
        let text = &b[k..k + digits];
        let value: u32 = text.iter().fold(0u32, |v, &d| {
            v.saturating_mul(10).saturating_add(u32::from(d - b'0'))
        });
        let valid = match digits {
            1 | 2 => true,
            3 => value <= 255 && text[0] != b'0',
            _ => false,
        };
        if !valid {
            return None;
        }
        k += digits;
        if octet < 3 {
            if b.get(k) != Some(&b'.') {
                return None;
            }
            k += 1;
        }
    }
    boundary(b, k).then_some(k)
}

/// `2001:db8::17`, `::1`, `::ffff:10.0.0.1`, `fe80::1%eth0`.
fn ipv6(b: &[u8], i: usize) -> Option<usize> {
    let run = i + b[i..]
        .iter()
        .take_while(|&&c| c.is_ascii_hexdigit() || c == b':')
        .count();
    // An embedded IPv4 address after the last colon.
    let with_v4 = if b.get(run) == Some(&b'.') {
        run + b[run..]
            .iter()
            .take_while(|&&c| c.is_ascii_digit() || c == b'.')
            .count()
    } else {
        run
    };
    // A trailing `:` or `.` may be punctuation after the address.
    let candidates = [
        with_v4,
        with_v4 - usize::from(with_v4 > run && b[with_v4 - 1] == b'.'),
        run,
        run - usize::from(run >= i + 2 && b[run - 1] == b':' && b[run - 2] != b':'),
    ];
    let end = candidates.into_iter().find(|&end| {
        let text = &b[i..end];
        text.iter().filter(|&&c| c == b':').count() >= 2
            && text.iter().any(u8::is_ascii_hexdigit)
            && !b.get(end).is_some_and(u8::is_ascii_alphanumeric)
            && std::str::from_utf8(text).is_ok_and(|t| t.parse::<Ipv6Addr>().is_ok())
    })?;
    // A zone index on link-local addresses.
    if b.get(end) == Some(&b'%') && b[i..].starts_with(b"fe80") {
        let zone = b[end + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if zone > 0 {
            return Some(end + 1 + zone);
        }
    }
    Some(end)
}

/// W3C `traceparent` (`00-<trace>-<span>-01`) and AWS X-Ray (`1-<time>-<id>`) ids.
fn traceparent(b: &[u8], i: usize) -> Option<usize> {
    let hex_run = |from: usize, len: usize| {
        b.get(from..from + len)
            .is_some_and(|s| s.iter().all(|&c| is_lower_hex(c)))
    };
    let end = if b[i..].starts_with(b"00-") {
        let ok = hex_run(i + 3, 32)
            && b.get(i + 35) == Some(&b'-')
            && hex_run(i + 36, 16)
            && b.get(i + 52..i + 54) == Some(b"-0")
            && matches!(b.get(i + 54), Some(b'0' | b'1'));
        ok.then_some(i + 55)?
    } else if b[i..].starts_with(b"1-") {
        let ok = hex_run(i + 2, 8) && b.get(i + 10) == Some(&b'-') && hex_run(i + 11, 24);
        ok.then_some(i + 35)?
    } else {
        return None;
    };
    boundary(b, end).then_some(end)
}

/// `3f2a1b9c-8d7e-4f6a-9b5c-4d3e2f1a0b9c`, any case.
fn uuid(b: &[u8], i: usize) -> Option<usize> {
    let mut k = i;
    for (n, len) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if n > 0 {
            if b.get(k) != Some(&b'-') {
                return None;
            }
            k += 1;
        }
        if !b.get(k..k + len)?.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        k += len;
    }
    boundary(b, k).then_some(k)
}

/// `3012ms`, `1.5s`, `250us`, `1m30s`, `2h45m0s`.
fn duration(b: &[u8], i: usize) -> Option<usize> {
    let mut k = i;
    let mut parts = 0;
    loop {
        let digits = b[k..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            break;
        }
        let mut j = k + digits;
        if b.get(j) == Some(&b'.') {
            let fraction = b[j + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if fraction == 0 {
                break;
            }
            j += 1 + fraction;
        }
        let rest = &b[j..];
        let unit = ["ms", "ns", "us", "µs", "μs", "s", "m", "h"]
            .into_iter()
            .find(|u| rest.starts_with(u.as_bytes()))
            .map(str::len);
        let Some(unit) = unit else { break };
        k = j + unit;
        parts += 1;
    }
    (parts > 0 && boundary(b, k)).then_some(k)
}

/// `0xdeadbeef`, or 8–128 hex digits of one case including a digit (`1234abcd`, `DEADBEEF1`).
fn is_hex_word(word: &[u8]) -> bool {
    if let Some(rest) = word
        .strip_prefix(b"0x")
        .or_else(|| word.strip_prefix(b"0X"))
    {
        return !rest.is_empty() && rest.iter().all(u8::is_ascii_hexdigit);
    }
    (8..=128).contains(&word.len())
        && word.iter().any(u8::is_ascii_digit)
        && (word.iter().all(|&c| is_lower_hex(c)) || word.iter().all(|&c| is_upper_hex(c)))
}

/// Seven lower-case hex characters with at least one digit and one letter (`a1b2c3d`).
fn is_git_sha(word: &[u8]) -> bool {
    word.len() == 7
        && word.iter().all(|&c| is_lower_hex(c))
        && word.iter().any(u8::is_ascii_digit)
        && word.iter().any(u8::is_ascii_alphabetic)
}

/// `3.14`.
fn float(b: &[u8], i: usize) -> Option<usize> {
    let int = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if int == 0 || b.get(i + int) != Some(&b'.') {
        return None;
    }
    let start = i + int + 1;
    let fraction = b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
    let end = start + fraction;
    (fraction > 0 && boundary(b, end)).then_some(end)
}

#[cfg(test)]
mod tests;
