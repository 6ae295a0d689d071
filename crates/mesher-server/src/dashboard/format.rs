//! How pages write times, numbers and links: computed in Rust so that templates only print.

use time::OffsetDateTime;

/// A moment as a page shows it: relative ("5 min ago") with the exact time in the viewer's zone
/// as tooltip and machine-readable `datetime` (see the `time` macro in `macros.html`). Made by
/// [`Zone::when`](super::zone::Zone::when).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    /// RFC 3339 in UTC, for `<time datetime>`.
    pub iso: String,
    /// "2026-11-23 15:05:09 CET (UTC+01:00)".
    pub exact: String,
    /// "5 min ago", or the date beyond a month.
    pub ago: String,
}

/// "just now", "5 min ago", "3 h ago", "12 d ago"; `None` beyond a month, where the date says
/// more. A time in the future (a client clock ahead of ours) reads "just now" rather than
/// something puzzling.
pub fn ago(t: OffsetDateTime, now: OffsetDateTime) -> Option<String> {
    let secs = (now - t).whole_seconds();
    Some(match secs {
        ..60 => "just now".into(),
        60..3_600 => format!("{} min ago", secs / 60),
        3_600..86_400 => format!("{} h ago", secs / 3_600),
        86_400..2_592_000 => format!("{} d ago", secs / 86_400),
        _ => return None,
    })
}

/// `1234567` → `1,234,567`.
pub fn count(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!(
        "{sign}{}",
        super::charts::with_separators(n.unsigned_abs().into())
    )
}

/// `1536` → `1.5 KiB`: storage figures, in binary units as `du -h` shows them.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n.abs() < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A query string built from pairs, skipping empty values: `?status=resolved&q=a%20b`, or `""`
/// when nothing is left.
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (key, value) in pairs {
        if !value.is_empty() {
            serializer.append_pair(key, value);
            any = true;
        }
    }
    if any {
        format!("?{}", serializer.finish())
    } else {
        String::new()
    }
}

/// A string cut to `max` characters with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Links between the pages of a keyset-paginated list. A cursor only leads forward, so the way
/// back travels in the URL: `prev` holds the cursors of the pages before (`-` for the first),
/// at most [`MAX_BACK`] of them (beyond that, "First page" still leads back).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pager {
    /// The first page, when this is not it.
    pub first: Option<String>,
    /// The page before, when it is not the first.
    pub prev: Option<String>,
    /// The page after, when there is one.
    pub next: Option<String>,
}

/// Pages remembered for "Previous".
pub const MAX_BACK: usize = 20;

impl Pager {
    /// The links of the page at `cursor` (with `prev` as received) of the list at `path`, whose
    /// other parameters are `keep`; `next_cursor` is the store's cursor of the next page.
    pub fn new(
        path: &str,
        keep: &[(&str, &str)],
        cursor: Option<&str>,
        prev: Option<&str>,
        next_cursor: Option<&str>,
    ) -> Pager {
        let link = |cursor: &str, back: &[&str]| {
            let back = back.join(",");
            let pairs = keep
                .iter()
                .copied()
                .chain([("cursor", cursor), ("prev", back.as_str())]);
            format!("{path}{}", query(pairs))
        };
        let back: Vec<&str> = prev
            .unwrap_or_default()
            .split(',')
            .filter(|c| !c.is_empty())
            .collect();
        let next = next_cursor.map(|next| {
            let mut forward = back.clone();
            forward.push(cursor.unwrap_or("-"));
            let skip = forward.len().saturating_sub(MAX_BACK);
            link(next, &forward[skip..])
        });
        let (first, prev) = match cursor {
            None => (None, None),
            Some(_) => {
                let prev = back
                    .split_last()
                    .and_then(|(last, rest)| (*last != "-").then(|| link(last, rest)));
                (Some(format!("{path}{}", query(keep.iter().copied()))), prev)
            }
        };
        Pager { first, prev, next }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn times_read_relative() {
        let now = datetime!(2026-11-23 14:00:00 UTC);
        assert_eq!(
            ago(datetime!(2026-11-23 13:55:00 UTC), now).unwrap(),
            "5 min ago"
        );
        assert_eq!(
            ago(now + time::Duration::minutes(3), now).unwrap(),
            "just now"
        );
        assert_eq!(
            ago(datetime!(2026-11-23 11:00 UTC), now).unwrap(),
            "3 h ago"
        );
        assert_eq!(
            ago(datetime!(2026-11-20 11:00 UTC), now).unwrap(),
            "3 d ago"
        );
        assert_eq!(ago(datetime!(2026-01-02 11:00 UTC), now), None);
    }

    #[test]
    fn numbers_and_queries() {
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-1_000), "-1,000");
        assert_eq!(query([("a", "x y"), ("b", ""), ("c", "&")]), "?a=x+y&c=%26");
        assert_eq!(query([("a", "")]), "");
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("abc", 3), "abc");
    }

    #[test]
    fn pages_lead_forward_and_back() {
        let keep = [("q", "x")];
        let first = Pager::new("/l", &keep, None, None, Some("c2"));
        assert_eq!(first.first, None);
        assert_eq!(first.prev, None);
        assert_eq!(first.next.as_deref(), Some("/l?q=x&cursor=c2&prev=-"));

        let second = Pager::new("/l", &keep, Some("c2"), Some("-"), Some("c3"));
        assert_eq!(second.first.as_deref(), Some("/l?q=x"));
        assert_eq!(second.prev, None, "the page before is the first");
        assert_eq!(second.next.as_deref(), Some("/l?q=x&cursor=c3&prev=-%2Cc2"));

        let third = Pager::new("/l", &keep, Some("c3"), Some("-,c2"), None);
        assert_eq!(third.prev.as_deref(), Some("/l?q=x&cursor=c2&prev=-"));
        assert_eq!(third.next, None);

        let long: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
        let deep = Pager::new("/l", &[], Some("c30"), Some(&long.join(",")), Some("c31"));
        let next = deep.next.unwrap();
        assert_eq!(next.matches("%2C").count(), MAX_BACK - 1, "{next}");
    }
}
