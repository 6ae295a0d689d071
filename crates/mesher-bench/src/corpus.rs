//! The envelope corpus and its templates.
//!
//! File framing (written by `corpus/generate.py`): any number of lines starting with `#`, then
//! for each envelope a line holding its length in bytes as decimal ASCII, the envelope bytes,
//! and one `\n`. A length line makes the framing independent of what the envelope contains
//! (envelopes are themselves newline-framed, and their last item may end without a newline).
//!
//! A [`Template`] is one envelope prepared for replay: every occurrence of its event id (the
//! envelope header and the event payload carry it) gets a fresh id, and its RFC 3339 `sent_at`
//! and event `timestamp` get the current time. Ids must change or the server, idempotent on
//! event ids, would store one event per template; timestamps must change or a corpus older than
//! the server's retention would be replayed as stale events. Replacements keep every length, so
//! item `length` headers stay right and a render is a copy plus a few patched bytes.

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail, ensure};
use mesher_protocol::envelope::ItemType;
use serde_json::Value;
use time::OffsetDateTime;

/// The corpus shipped with this crate.
pub const DEFAULT_CORPUS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/python-sdk.envelopes");

/// Splits a corpus file into its envelopes (borrowed from `data`).
pub fn split(data: &[u8]) -> anyhow::Result<Vec<&[u8]>> {
    let mut envelopes = Vec::new();
    let mut pos = 0;
    let mut in_header = true;
    while pos < data.len() {
        let line_end = data[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i)
            .with_context(|| format!("byte {pos}: a length line must end with a newline"))?;
        let line = &data[pos..line_end];
        if in_header && line.starts_with(b"#") {
            pos = line_end + 1;
            continue;
        }
        in_header = false;
        let len: usize = std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .with_context(|| {
                format!(
                    "byte {pos}: expected the length of envelope {}, found {:?}",
                    envelopes.len() + 1,
                    String::from_utf8_lossy(&line[..line.len().min(40)])
                )
            })?;
        let start = line_end + 1;
        let end = start
            .checked_add(len)
            .filter(|&end| end < data.len() && data[end] == b'\n')
            .with_context(|| {
                format!(
                    "envelope {} (at byte {start}) is not {len} bytes followed by a newline",
                    envelopes.len() + 1
                )
            })?;
        envelopes.push(&data[start..end]);
        pos = end + 1;
    }
    Ok(envelopes)
}

/// Reads a corpus file and prepares a template per envelope.
pub fn load(path: &Path) -> anyhow::Result<Vec<Template>> {
    let data =
        std::fs::read(path).with_context(|| format!("cannot read corpus {}", path.display()))?;
    let templates = split(&data)?
        .into_iter()
        .enumerate()
        .map(|(i, envelope)| {
            Template::new(envelope).with_context(|| format!("corpus envelope {}", i + 1))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    ensure!(!templates.is_empty(), "corpus {} is empty", path.display());
    Ok(templates)
}

/// What a patched range receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// An event id, as 32 hex digits or as a dashed UUID (the Rust SDK's envelope header).
    EventId { dashed: bool },
    /// An RFC 3339 UTC time with this many fractional digits (`…T12:00:00.123456Z`: 6).
    Timestamp { fraction: usize },
}

/// One envelope, ready to be rendered with a fresh id and time.
#[derive(Debug, Clone)]
pub struct Template {
    bytes: Vec<u8>,
    /// Sorted, non-overlapping; each range's length matches its field's rendering.
    patches: Vec<(Range<usize>, Field)>,
}

impl Template {
    /// Prepares an envelope; it must hold an `event` item and carry its event id in the
    /// envelope header.
    pub fn new(envelope: &[u8]) -> anyhow::Result<Template> {
        let parsed = mesher_protocol::parse_envelope(envelope).context("invalid envelope")?;
        let headers = parsed.headers().raw();
        let Some(Value::String(event_id)) = headers.get("event_id") else {
            bail!("the envelope header has no event_id");
        };
        let Some(item) = parsed.items().iter().find(|i| i.ty == ItemType::Event) else {
            bail!("the envelope has no event item");
        };
        let payload: Value =
            serde_json::from_slice(item.payload).context("the event payload is not JSON")?;

        let mut wanted: Vec<(String, Field)> = Vec::new();
        let mut want_id = |id: &str| -> anyhow::Result<()> {
            let field = match id.len() {
                32 => Field::EventId { dashed: false },
                36 => Field::EventId { dashed: true },
                n => bail!("event id {id:?} has {n} characters, expected 32 or 36"),
            };
            ensure!(
                id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'),
                "event id {id:?} is not hex"
            );
            wanted.push((id.to_string(), field));
            Ok(())
        };
        want_id(event_id)?;
        if let Some(Value::String(id)) = payload.get("event_id") {
            want_id(id)?;
        }
        let times = [headers.get("sent_at"), payload.get("timestamp")];
        for time in times.into_iter().flatten() {
            // Numeric timestamps (Unix seconds) vary in length and are left alone.
            if let Some(text) = time.as_str()
                && let Some(fraction) = rfc3339_fraction(text)
            {
                wanted.push((text.to_string(), Field::Timestamp { fraction }));
            }
        }

        let mut patches = Vec::new();
        for (value, field) in &wanted {
            // Quoted, so an id never matches inside a longer string.
            let needle = format!("\"{value}\"");
            for at in find_all(envelope, needle.as_bytes()) {
                let range = at + 1..at + 1 + value.len();
                if !patches
                    .iter()
                    .any(|(r, _): &(Range<usize>, Field)| r == &range)
                {
                    patches.push((range, *field));
                }
            }
        }
        patches.sort_by_key(|(r, _)| r.start);
        Ok(Template {
            bytes: envelope.to_vec(),
            patches,
        })
    }

    /// Size of the envelope in bytes (every render has this size).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the envelope is empty (never, for a template that parsed).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// How many ranges a render rewrites (ids and timestamps).
    pub fn patch_count(&self) -> usize {
        self.patches.len()
    }

    /// Writes the envelope into `out` (cleared first) with `id` and `now` patched in.
    pub fn render_into(&self, out: &mut Vec<u8>, id: &FreshId, now: &Stamp) {
        out.clear();
        out.extend_from_slice(&self.bytes);
        for (range, field) in &self.patches {
            let target = &mut out[range.clone()];
            match *field {
                Field::EventId { dashed: false } => target.copy_from_slice(&id.hex),
                Field::EventId { dashed: true } => target.copy_from_slice(&id.dashed()),
                Field::Timestamp { fraction } => now.write(target, fraction),
            }
        }
    }
}

/// The number of fractional digits of an RFC 3339 UTC time written as
/// `YYYY-MM-DDTHH:MM:SS[.f…]Z`, or `None` for any other shape.
fn rfc3339_fraction(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let digits = |r: Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[b.len() - 1] == b'Z';
    if !shape {
        return None;
    }
    match b.len() {
        20 => Some(0),
        n if (22..=30).contains(&n) && b[19] == b'.' && digits(20..n - 1) => Some(n - 21),
        _ => None,
    }
}

fn find_all<'a>(haystack: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(move |(_, w)| *w == needle)
        .map(|(i, _)| i)
}

/// An event id as 32 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreshId {
    hex: [u8; 32],
}

impl FreshId {
    /// The id as 32 hex digits.
    pub fn as_str(&self) -> &str {
        // Built from ASCII hex digits only.
        std::str::from_utf8(&self.hex).unwrap_or_default()
    }

    fn dashed(&self) -> [u8; 36] {
        let mut out = [b'-'; 36];
        let mut src = self.hex.iter();
        for (i, slot) in out.iter_mut().enumerate() {
            if !matches!(i, 8 | 13 | 18 | 23)
                && let Some(&c) = src.next()
            {
                *slot = c;
            }
        }
        out
    }
}

/// Hands out event ids unique within a run, and across runs with overwhelming probability: a
/// random 64-bit prefix chosen once, then a counter. Cheaper than 128 random bits per event,
/// and collisions within a run are impossible rather than improbable.
#[derive(Debug)]
pub struct IdSource {
    prefix: u64,
    next: AtomicU64,
}

impl IdSource {
    /// A source with a random prefix.
    pub fn new() -> IdSource {
        IdSource::with_prefix(fastrand::u64(..))
    }

    /// The random prefix: the high 64 bits of every id of this source.
    pub fn prefix(&self) -> u64 {
        self.prefix
    }

    /// A source with a given prefix (tests).
    pub fn with_prefix(prefix: u64) -> IdSource {
        IdSource {
            prefix,
            next: AtomicU64::new(0),
        }
    }

    /// The next id.
    pub fn next_id(&self) -> FreshId {
        self.id_at(self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// The id numbered `n`: the prefix, then `n`. A run names event `seq` `id_at(seq)`, so that
    /// an id a live stream delivers says which event (and template) it was.
    pub fn id_at(&self, n: u64) -> FreshId {
        let value = (u128::from(self.prefix) << 64) | u128::from(n);
        let mut hex = [0u8; 32];
        for (i, slot) in hex.iter_mut().enumerate() {
            let nibble = (value >> (124 - 4 * i)) & 0xf;
            *slot = b"0123456789abcdef"[nibble as usize];
        }
        FreshId { hex }
    }
}

impl Default for IdSource {
    fn default() -> Self {
        IdSource::new()
    }
}

/// A moment in UTC, pre-rendered as `YYYY-MM-DDTHH:MM:SS.fffffffffZ` so each timestamp field
/// takes the prefix it needs.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    text: [u8; 30],
}

impl Stamp {
    /// The current time.
    pub fn now() -> Stamp {
        Stamp::at(OffsetDateTime::now_utc())
    }

    /// A given time (converted to UTC).
    pub fn at(t: OffsetDateTime) -> Stamp {
        let t = t.to_offset(time::UtcOffset::UTC);
        let mut text = *b"0000-00-00T00:00:00.000000000Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for i in (at..at + width).rev() {
                text[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        // Years outside 0..=9999 cannot come from a clock this program runs under.
        put(0, 4, t.year().clamp(0, 9999) as u32);
        put(5, 2, u32::from(u8::from(t.month())));
        put(8, 2, u32::from(t.day()));
        put(11, 2, u32::from(t.hour()));
        put(14, 2, u32::from(t.minute()));
        put(17, 2, u32::from(t.second()));
        put(20, 9, t.nanosecond());
        Stamp { text }
    }

    /// Writes the time with `fraction` fractional digits; `target` has exactly that shape.
    fn write(&self, target: &mut [u8], fraction: usize) {
        if fraction == 0 {
            target[..19].copy_from_slice(&self.text[..19]);
        } else {
            target[..20 + fraction].copy_from_slice(&self.text[..20 + fraction]);
        }
        target[target.len() - 1] = b'Z';
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTHON_LIKE: &[u8] = b"{\"event_id\":\"0123456789abcdef0123456789abcdef\",\"sent_at\":\"2024-06-07T10:00:00.123456Z\"}\n\
{\"type\":\"event\",\"content_type\":\"application/json\",\"length\":104}\n\
{\"event_id\":\"0123456789abcdef0123456789abcdef\",\"timestamp\":\"2024-06-07T10:00:00.012345Z\",\"message\":\"hi\"}\n";

    fn framed(envelopes: &[&[u8]]) -> Vec<u8> {
        let mut out = b"# a comment\n# another\n".to_vec();
        for e in envelopes {
            out.extend_from_slice(format!("{}\n", e.len()).as_bytes());
            out.extend_from_slice(e);
            out.push(b'\n');
        }
        out
    }

    #[test]
    fn split_reads_length_framing_with_comments() {
        // Envelopes may hold newlines and may or may not end with one.
        let a: &[u8] = b"{}\n{\"type\":\"event\"}\n{}";
        let b: &[u8] = b"{}\n";
        let data = framed(&[a, b]);
        assert_eq!(split(&data).unwrap(), vec![a, b]);
        assert!(split(b"").unwrap().is_empty());
    }

    #[test]
    fn split_rejects_bad_framing() {
        assert!(split(b"5\n{}\n").is_err(), "length longer than the data");
        assert!(split(b"2\n{}x").is_err(), "no newline after the envelope");
        assert!(split(b"two\n{}\n").is_err(), "length not a number");
        assert!(
            split(b"2\n{}\n# late comment\n").is_err(),
            "comments only at the top"
        );
    }

    #[test]
    fn the_shipped_corpus_loads() {
        let templates = load(Path::new(DEFAULT_CORPUS)).unwrap();
        assert!(templates.len() >= 150, "{} envelopes", templates.len());
        for (i, t) in templates.iter().enumerate() {
            // Header id, payload id, sent_at and timestamp.
            assert_eq!(t.patch_count(), 4, "envelope {}", i + 1);
        }
    }

    #[test]
    fn render_replaces_ids_and_timestamps_everywhere_and_keeps_lengths() {
        let t = Template::new(PYTHON_LIKE).unwrap();
        assert_eq!(t.patch_count(), 4);
        let ids = IdSource::with_prefix(0xfeed);
        let now = Stamp::at(time::macros::datetime!(2031-02-03 04:05:06.789012345 UTC));
        let mut out = Vec::new();
        t.render_into(&mut out, &ids.next_id(), &now);
        assert_eq!(out.len(), PYTHON_LIKE.len());
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(!text.contains("0123456789abcdef0123456789abcdef"));
        assert_eq!(text.matches("000000000000feed0000000000000000").count(), 2);
        assert!(text.contains("\"sent_at\":\"2031-02-03T04:05:06.789012Z\""));
        assert!(text.contains("\"timestamp\":\"2031-02-03T04:05:06.789012Z\""));

        // The server's parser sees the new id in the header and the payload.
        let env = mesher_protocol::parse_envelope(&out).unwrap();
        assert_eq!(
            env.event_id().unwrap().to_string(),
            "000000000000feed0000000000000000"
        );
        let second = ids.next_id();
        t.render_into(&mut out, &second, &now);
        assert!(String::from_utf8_lossy(&out).contains("000000000000feed0000000000000001"));
    }

    #[test]
    fn dashed_ids_and_other_time_shapes() {
        let env = b"{\"event_id\":\"01234567-89ab-cdef-0123-456789abcdef\",\"sent_at\":\"2024-06-07T10:00:00Z\"}\n\
{\"type\":\"event\"}\n{\"event_id\":\"0123456789abcdef0123456789abcdef\",\"timestamp\":1717754400.5}\n";
        let t = Template::new(env).unwrap();
        assert_eq!(t.patch_count(), 3, "numeric timestamps are left alone");
        let mut out = Vec::new();
        let now = Stamp::at(time::macros::datetime!(2031-02-03 04:05:06.7 UTC));
        t.render_into(&mut out, &IdSource::with_prefix(1).next_id(), &now);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\"event_id\":\"00000000-0000-0001-0000-000000000000\""));
        assert!(text.contains("\"event_id\":\"00000000000000010000000000000000\""));
        assert!(text.contains("\"sent_at\":\"2031-02-03T04:05:06Z\""));
        assert!(text.contains("1717754400.5"));
    }

    #[test]
    fn templates_need_an_event_with_an_id() {
        assert!(Template::new(b"{}\n{\"type\":\"event\"}\n{}\n").is_err());
        assert!(Template::new(b"{\"event_id\":\"0123456789abcdef0123456789abcdef\"}\n{\"type\":\"session\"}\n{}\n").is_err());
    }

    #[test]
    fn rfc3339_shapes() {
        assert_eq!(rfc3339_fraction("2024-06-07T10:00:00Z"), Some(0));
        assert_eq!(rfc3339_fraction("2024-06-07T10:00:00.1Z"), Some(1));
        assert_eq!(rfc3339_fraction("2024-06-07T10:00:00.123456789Z"), Some(9));
        assert_eq!(rfc3339_fraction("2024-06-07T10:00:00+00:00"), None);
        assert_eq!(rfc3339_fraction("2024-06-07T10:00:00.Z"), None);
        assert_eq!(rfc3339_fraction("2024-06-07 10:00:00Z"), None);
    }

    #[test]
    fn ids_are_unique_and_hex() {
        let ids = IdSource::new();
        let a = ids.next_id();
        let b = ids.next_id();
        assert_ne!(a, b);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(mesher_protocol::EventId::parse(a.as_str()).is_ok());
        let fixed = IdSource::with_prefix(0xab);
        assert_eq!(fixed.id_at(5).as_str(), "00000000000000ab0000000000000005");
        assert_eq!(fixed.next_id(), fixed.id_at(0));
        assert_eq!(fixed.prefix(), 0xab);
    }
}
