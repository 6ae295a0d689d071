//! Charts drawn on the server as inline SVG: pure functions from numbers to markup, so they cost
//! no JavaScript, render without it, and are tested by parsing their output.
//!
//! Each bar carries a `<title>` (the browser's tooltip) with the exact number; axes use round
//! ticks with compact labels (`1.5k`, `20M`). Colours come from the stylesheet through classes,
//! so charts follow the theme. Every text in the markup is escaped.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::{self, Write};

use mesher_protocol::Level;
use time::{Duration, OffsetDateTime};

/// SVG markup made by this module. It is safe to insert into a page as is, which is why only this
/// module can make one, and why templates print it without escaping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svg(String);

impl Svg {
    /// The markup.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Svg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl askama::filters::HtmlSafe for Svg {}

/// The width of a time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// One hour (the 24-hour view).
    Hour,
    /// One day, UTC (the 7- and 30-day views).
    Day,
}

impl Bucket {
    /// Its length.
    pub fn duration(self) -> Duration {
        match self {
            Bucket::Hour => Duration::HOUR,
            Bucket::Day => Duration::DAY,
        }
    }

    /// Number of this bucket since the Unix epoch (UTC).
    fn index(self, t: OffsetDateTime) -> i64 {
        t.unix_timestamp()
            .div_euclid(self.duration().whole_seconds())
    }

    /// The start of the bucket holding `t`, in UTC.
    pub fn floor(self, t: OffsetDateTime) -> OffsetDateTime {
        let secs = self.index(t) * self.duration().whole_seconds();
        // `t` is a valid time and this is at most one bucket earlier: still valid.
        OffsetDateTime::from_unix_timestamp(secs).unwrap_or(t)
    }

    /// "2026-11-23 14:00" or "2026-11-23".
    fn long_label(self, t: OffsetDateTime) -> String {
        let t = t.to_offset(time::UtcOffset::UTC);
        let date = format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day());
        match self {
            Bucket::Hour => format!("{date} {:02}:00", t.hour()),
            Bucket::Day => date,
        }
    }

    /// The axis label: the hour, or the date ("Nov 23") at midnight and for days.
    fn short_label(self, t: OffsetDateTime) -> String {
        let t = t.to_offset(time::UtcOffset::UTC);
        if self == Bucket::Hour && t.hour() != 0 {
            return format!("{:02}:00", t.hour());
        }
        let month = t.month().to_string();
        format!("{} {}", &month[..3], t.day())
    }

    /// Steps between labelled buckets, from the densest.
    fn label_steps(self) -> &'static [i64] {
        match self {
            Bucket::Hour => &[1, 2, 3, 4, 6, 12, 24, 48, 72, 168, 336, 720],
            Bucket::Day => &[1, 2, 3, 7, 14, 28, 56, 91, 182, 364],
        }
    }
}

/// A dense series of the buckets starting in `[floor(from), to)`, with the counts of `sparse`
/// (which may omit empty buckets, hold unaligned times or repeat a bucket) and zero elsewhere.
pub fn fill(
    sparse: &[(OffsetDateTime, u64)],
    from: OffsetDateTime,
    to: OffsetDateTime,
    bucket: Bucket,
) -> Vec<(OffsetDateTime, u64)> {
    let mut counts: HashMap<i64, u64> = HashMap::new();
    for &(t, n) in sparse {
        let slot = counts.entry(bucket.index(t)).or_default();
        *slot = slot.saturating_add(n);
    }
    let mut out = Vec::new();
    let mut t = bucket.floor(from);
    while t < to {
        out.push((t, counts.get(&bucket.index(t)).copied().unwrap_or(0)));
        t += bucket.duration();
    }
    out
}

/// A bar chart of event counts per time bucket, `width`×`height` (viewBox units; it scales with
/// CSS): a y axis with round ticks, time labels that do not collide, and a tooltip per bucket
/// ("2026-11-23 14:00 — 42 events"). Give it a dense series ([`fill`]): a bucket of zero is drawn
/// as an empty slot that still has its tooltip.
pub fn volume_chart(
    buckets: &[(OffsetDateTime, u64)],
    bucket: Bucket,
    width: u32,
    height: u32,
) -> Svg {
    let (width, height) = (f64::from(width.max(120)), f64::from(height.max(80)));
    let max = buckets.iter().map(|&(_, n)| n).max().unwrap_or(0);
    let total: u128 = buckets.iter().map(|&(_, n)| u128::from(n)).sum();
    let ticks = nice_ticks(max);
    let top_tick = ticks.last().copied().unwrap_or(1).max(1);
    let tick_labels: Vec<String> = ticks.iter().map(|&t| compact(t)).collect();
    let widest = tick_labels.iter().map(String::len).max().unwrap_or(1);

    let (top, right, bottom) = (8.0, 8.0, 22.0);
    let left = 10.0 + 6.5 * widest as f64;
    let (plot_w, plot_h) = (width - left - right, height - top - bottom);
    let baseline = top + plot_h;

    let summary = match (buckets.first(), buckets.last()) {
        (Some(&(first, _)), Some(&(last, _))) => format!(
            "Event volume: {} from {} to {} (UTC)",
            events(total),
            bucket.long_label(first),
            bucket.long_label(last)
        ),
        _ => "Event volume: no data".to_string(),
    };
    let mut w = SvgWriter::open("chart chart-volume", width, height, &summary);

    for (&tick, label) in ticks.iter().zip(&tick_labels) {
        let y = baseline - plot_h * ratio(tick, top_tick);
        let class = if tick == 0 { "axis-line" } else { "grid-line" };
        w.raw(format_args!(
            r#"<line class="{class}" x1="{}" x2="{}" y1="{}" y2="{}"/>"#,
            Px(left),
            Px(left + plot_w),
            Px(y),
            Px(y)
        ));
        w.text(left - 6.0, y + 4.0, "end", "tick", label);
    }

    let n = buckets.len();
    let slot = if n == 0 { plot_w } else { plot_w / n as f64 };
    let gap = if slot > 4.0 { slot * 0.2 } else { 0.0 };
    for (i, &(t, count)) in buckets.iter().enumerate() {
        let x = left + slot * i as f64;
        let mut h = plot_h * ratio(u128::from(count), top_tick);
        if count > 0 {
            // One event must still show.
            h = h.max(1.0);
        }
        w.raw(format_args!(r#"<g class="bucket">"#));
        w.title(&format!(
            "{} — {}",
            bucket.long_label(t),
            events(count.into())
        ));
        w.raw(format_args!(
            r#"<rect class="hit" x="{}" y="{}" width="{}" height="{}"/>"#,
            Px(x),
            Px(top),
            Px(slot),
            Px(plot_h)
        ));
        w.raw(format_args!(
            r#"<rect class="bar" x="{}" y="{}" width="{}" height="{}"/></g>"#,
            Px(x + gap / 2.0),
            Px(baseline - h),
            Px((slot - gap).max(0.5)),
            Px(h)
        ));
    }

    for (i, label) in time_labels(buckets, bucket, plot_w) {
        let text_w = 6.5 * label.len() as f64;
        let x = (left + slot * (i as f64 + 0.5)).clamp(text_w / 2.0, width - text_w / 2.0);
        w.text(x, height - 6.0, "middle", "time", &label);
    }

    if total == 0 {
        let message = if n == 0 {
            "No data"
        } else {
            "No events in this period"
        };
        w.text(
            left + plot_w / 2.0,
            top + plot_h / 2.0,
            "middle",
            "empty-label",
            message,
        );
    }
    w.close()
}

/// Which buckets get a time label: at most one per ~64 units of width, on round boundaries
/// (every 6 hours, every Monday…), and at least one.
fn time_labels(
    buckets: &[(OffsetDateTime, u64)],
    bucket: Bucket,
    plot_w: f64,
) -> Vec<(usize, String)> {
    let room = ((plot_w / 64.0).floor() as usize).max(1);
    let steps = bucket.label_steps();
    let step = steps
        .iter()
        .copied()
        .find(|&k| buckets.len().div_ceil(k as usize) <= room)
        .unwrap_or(steps[steps.len() - 1]);
    // The epoch was a Thursday: shifting by 3 days puts weekly labels on Mondays.
    let shift = if bucket == Bucket::Day && step % 7 == 0 {
        3
    } else {
        0
    };
    let mut labels: Vec<(usize, String)> = buckets
        .iter()
        .enumerate()
        .filter(|&(_, &(t, _))| (bucket.index(t) + shift).rem_euclid(step) == 0)
        .map(|(i, &(t, _))| (i, bucket.short_label(t)))
        .collect();
    if labels.is_empty()
        && let Some(&(t, _)) = buckets.first()
    {
        labels.push((0, bucket.short_label(t)));
    }
    labels
}

/// Horizontal bars of event counts per level, in the level colours, with counts and tooltips
/// ("error — 1,234 events (56%)"). Levels are drawn in the order given.
pub fn level_bars(levels: &[(Level, u64)]) -> Svg {
    const WIDTH: f64 = 320.0;
    const ROW: f64 = 24.0;
    const LABEL: f64 = 64.0;
    const BAR_MAX: f64 = WIDTH - LABEL - 56.0;
    let total: u128 = levels.iter().map(|&(_, n)| u128::from(n)).sum();
    let max = levels.iter().map(|&(_, n)| n).max().unwrap_or(0);
    let height = if levels.is_empty() {
        ROW * 2.0
    } else {
        ROW * levels.len() as f64
    };
    let summary = if levels.is_empty() {
        "Events by level: no events".to_string()
    } else {
        let parts: Vec<String> = levels
            .iter()
            .map(|(level, n)| format!("{level} {}", with_separators((*n).into())))
            .collect();
        format!("Events by level: {}", parts.join(", "))
    };
    let mut w = SvgWriter::open("chart chart-levels", WIDTH, height, &summary);
    if levels.is_empty() {
        w.text(WIDTH / 2.0, ROW, "middle", "empty-label", "No events");
    }
    for (i, &(level, count)) in levels.iter().enumerate() {
        let y = ROW * i as f64;
        let mut bar = BAR_MAX * ratio(count.into(), max.into());
        if count > 0 {
            bar = bar.max(2.0);
        }
        w.raw(format_args!(r#"<g class="level level-{level}">"#));
        w.title(&format!(
            "{level} — {} ({})",
            events(count.into()),
            percent(count.into(), total)
        ));
        w.text(0.0, y + 16.0, "start", "level-name", level.as_str());
        w.raw(format_args!(
            r#"<rect class="bar" x="{}" y="{}" width="{}" height="14" rx="2"/>"#,
            Px(LABEL),
            Px(y + 5.0),
            Px(bar)
        ));
        w.text(
            LABEL + bar + 6.0,
            y + 16.0,
            "start",
            "count",
            &compact(count.into()),
        );
        w.raw(format_args!("</g>"));
    }
    w.close()
}

/// A small bar sparkline for a table row (one bar per value, oldest first), 20 units high.
pub fn sparkline(values: &[u64]) -> Svg {
    const HEIGHT: f64 = 20.0;
    const BAR: f64 = 3.0;
    const STEP: f64 = 4.0;
    let width = (STEP * values.len() as f64 - 1.0).max(STEP);
    let max = values.iter().copied().max().unwrap_or(0);
    let total: u128 = values.iter().map(|&n| u128::from(n)).sum();
    let summary = format!(
        "Trend: {} in {} intervals, at most {} in one",
        events(total),
        values.len(),
        with_separators(max.into())
    );
    let mut w = SvgWriter::open("sparkline", width, HEIGHT, &summary);
    w.raw(format_args!(
        r#"<line class="baseline" x1="0" x2="{}" y1="{}" y2="{}"/>"#,
        Px(width),
        Px(HEIGHT - 0.5),
        Px(HEIGHT - 0.5)
    ));
    for (i, &n) in values.iter().enumerate().filter(|&(_, &n)| n > 0) {
        let h = ((HEIGHT - 1.0) * ratio(n.into(), max.into())).max(1.0);
        w.raw(format_args!(
            r#"<rect class="bar" x="{}" y="{}" width="{}" height="{}"/>"#,
            Px(STEP * i as f64),
            Px(HEIGHT - 1.0 - h),
            Px(BAR),
            Px(h)
        ));
    }
    w.close()
}

/// How an issue's events split over the values of one tag: a stacked bar, 100% wide, one
/// segment per value (widest first, as given) and one for the rest, each with a tooltip
/// ("release: 2.1.0 — 40 events (67%)"). `total` is the issue's event count; events without the
/// tag or with rarer values make up the rest.
pub fn tag_distribution(key: &str, values: &[(String, u64)], total: u64) -> Svg {
    const WIDTH: f64 = 300.0;
    const HEIGHT: f64 = 10.0;
    let total = u128::from(total.max(values.iter().map(|&(_, n)| n).sum()));
    let parts: Vec<String> = values
        .iter()
        .map(|(v, n)| format!("{v} {}", percent((*n).into(), total)))
        .collect();
    let summary = format!("{key}: {}", parts.join(", "));
    let mut w = SvgWriter::open("tag-bar", WIDTH, HEIGHT, &summary);
    w.raw(format_args!(
        r#"<rect class="rest" x="0" y="0" width="{}" height="{}" rx="2"/>"#,
        Px(WIDTH),
        Px(HEIGHT)
    ));
    let mut x = 0.0;
    let mut shown: u128 = 0;
    for (i, (value, n)) in values.iter().enumerate() {
        let n = u128::from(*n);
        shown += n;
        let width = WIDTH * ratio(n, total);
        w.raw(format_args!(r#"<g class="segment segment-{}">"#, i % 5));
        w.title(&format!(
            "{key}: {value} — {} ({})",
            events(n),
            percent(n, total)
        ));
        w.raw(format_args!(
            r#"<rect x="{}" y="0" width="{}" height="{}"/></g>"#,
            Px(x),
            Px(width),
            Px(HEIGHT)
        ));
        x += width;
    }
    if total > shown {
        let rest = total - shown;
        w.raw(format_args!(r#"<g class="segment-rest">"#));
        w.title(&format!(
            "{key}: other values or none — {} ({})",
            events(rest),
            percent(rest, total)
        ));
        w.raw(format_args!(
            r#"<rect x="{}" y="0" width="{}" height="{}" fill-opacity="0"/></g>"#,
            Px(x),
            Px(WIDTH - x),
            Px(HEIGHT)
        ));
    }
    w.close()
}

/// Appends SVG markup to a string.
struct SvgWriter(String);

impl SvgWriter {
    /// `<svg>` with a class, a size and an accessible summary (screen readers read the summary;
    /// the per-bar tooltips are for the mouse).
    fn open(class: &str, width: f64, height: f64, summary: &str) -> SvgWriter {
        let mut w = SvgWriter(String::with_capacity(4096));
        w.raw(format_args!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="{}" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}">"#,
            escape(class),
            Px(width),
            Px(height),
            Px(width),
            Px(height),
            escape(summary)
        ));
        w
    }

    fn raw(&mut self, markup: fmt::Arguments<'_>) {
        // Writing to a String cannot fail.
        let _ = self.0.write_fmt(markup);
    }

    fn title(&mut self, text: &str) {
        self.raw(format_args!("<title>{}</title>", escape(text)));
    }

    fn text(&mut self, x: f64, y: f64, anchor: &str, class: &str, text: &str) {
        self.raw(format_args!(
            r#"<text class="{}" x="{}" y="{}" text-anchor="{}">{}</text>"#,
            escape(class),
            Px(x),
            Px(y),
            escape(anchor),
            escape(text)
        ));
    }

    fn close(mut self) -> Svg {
        self.0.push_str("</svg>");
        Svg(self.0)
    }
}

/// A coordinate with at most one decimal (`12`, `12.5`): short markup, no `-0`.
struct Px(f64);

impl fmt::Display for Px {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = (self.0 * 10.0).round() / 10.0;
        if v == 0.0 || !v.is_finite() {
            f.write_str("0")
        } else if v.fract() == 0.0 {
            write!(f, "{v:.0}")
        } else {
            write!(f, "{v:.1}")
        }
    }
}

/// Escapes text for XML and HTML (element content and quoted attributes).
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `part / whole` as a fraction in `[0, 1]` (0 when `whole` is 0).
fn ratio(part: u128, whole: u128) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64).clamp(0.0, 1.0)
    }
}

/// Round y-axis ticks from 0: a step of 1, 2 or 5 times a power of ten, at most 5 intervals, the
/// last tick at or above `max`. Computed in `u128` so that `u64::MAX` has a tick above it.
fn nice_ticks(max: u64) -> Vec<u128> {
    let max = u128::from(max);
    if max == 0 {
        return vec![0, 1];
    }
    let mut magnitude: u128 = 1;
    loop {
        for m in [1, 2, 5] {
            let step = m * magnitude;
            if step * 5 >= max {
                let intervals = max.div_ceil(step);
                return (0..=intervals).map(|i| i * step).collect();
            }
        }
        magnitude *= 10;
    }
}

/// A count in at most four characters or so: `950`, `1.5k`, `15k`, `2M`, `20E`.
fn compact(n: u128) -> String {
    const UNITS: [(u128, &str); 6] = [
        (1_000_000_000_000_000_000, "E"),
        (1_000_000_000_000_000, "P"),
        (1_000_000_000_000, "T"),
        (1_000_000_000, "B"),
        (1_000_000, "M"),
        (1_000, "k"),
    ];
    for (i, &(unit, suffix)) in UNITS.iter().enumerate() {
        if n < unit {
            continue;
        }
        let v = n as f64 / unit as f64;
        let mut s = if v < 9.95 {
            format!("{v:.1}")
        } else {
            format!("{v:.0}")
        };
        if s.ends_with(".0") {
            s.truncate(s.len() - 2);
        }
        // 999,950 rounds to "1000k": say "1M" instead.
        if s == "1000" && i > 0 {
            return format!("1{}", UNITS[i - 1].1);
        }
        return format!("{s}{suffix}");
    }
    n.to_string()
}

/// `1234567` → `1,234,567`.
pub(crate) fn with_separators(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "1 event", "1,234 events".
fn events(n: u128) -> String {
    let noun = if n == 1 { "event" } else { "events" };
    format!("{} {noun}", with_separators(n))
}

/// "56%", "<1%" for a small but non-zero share.
pub(crate) fn percent(part: u128, total: u128) -> String {
    let p = ratio(part, total) * 100.0;
    if part > 0 && p < 0.5 {
        "<1%".to_string()
    } else {
        format!("{p:.0}%")
    }
}

#[cfg(test)]
#[path = "charts_tests.rs"]
mod tests;
