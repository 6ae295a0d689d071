//! Tests of the charts: each output is parsed as XML and checked for what a reader sees.

use time::macros::datetime;

use super::*;

/// Parses `svg` (which must be well-formed XML) and calls `check` with the document.
fn parse(svg: &Svg, check: impl FnOnce(&roxmltree::Document<'_>)) {
    let doc = roxmltree::Document::parse(svg.as_str())
        .unwrap_or_else(|e| panic!("not well-formed: {e}\n{}", svg.as_str()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    check(&doc);
}

fn with_class<'a>(
    doc: &'a roxmltree::Document<'a>,
    tag: &str,
    class: &str,
) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.has_tag_name(tag))
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split(' ').any(|c| c == class))
        })
        .collect()
}

fn texts(nodes: &[roxmltree::Node<'_, '_>]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| n.text().unwrap_or_default().to_string())
        .collect()
}

fn attr(node: &roxmltree::Node<'_, '_>, name: &str) -> f64 {
    node.attribute(name).unwrap().parse().unwrap()
}

fn hours(counts: &[u64]) -> Vec<(OffsetDateTime, u64)> {
    let start = datetime!(2026-11-23 00:00 UTC);
    counts
        .iter()
        .enumerate()
        .map(|(i, &n)| (start + Duration::hours(i as i64), n))
        .collect()
}

#[test]
fn volume_chart_has_a_bar_and_a_tooltip_per_bucket() {
    let mut counts = vec![0; 24];
    counts[14] = 42;
    counts[15] = 1;
    let svg = volume_chart(&hours(&counts), Bucket::Hour, 640, 180);
    parse(&svg, |doc| {
        let bars = with_class(doc, "rect", "bar");
        assert_eq!(bars.len(), 24);
        let titles: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("title"))
            .map(|n| n.text().unwrap().to_string())
            .collect();
        assert_eq!(titles.len(), 24);
        assert_eq!(titles[14], "2026-11-23 14:00 — 42 events");
        assert_eq!(titles[15], "2026-11-23 15:00 — 1 event");
        assert_eq!(titles[0], "2026-11-23 00:00 — 0 events");
        // Zero is drawn as zero; one event is still visible.
        assert_eq!(attr(&bars[0], "height"), 0.0);
        assert!(attr(&bars[15], "height") >= 1.0);
        assert!(attr(&bars[14], "height") > attr(&bars[15], "height"));
        let root = doc.root_element();
        assert_eq!(root.attribute("role"), Some("img"));
        assert!(root.attribute("aria-label").unwrap().contains("43 events"));
    });
}

#[test]
fn volume_chart_axes_are_round_and_readable() {
    let counts: Vec<u64> = (0..24).map(|i| i * 37).collect(); // max 851
    let svg = volume_chart(&hours(&counts), Bucket::Hour, 640, 180);
    parse(&svg, |doc| {
        let ticks = texts(&with_class(doc, "text", "tick"));
        assert_eq!(ticks, ["0", "200", "400", "600", "800", "1k"]);
        let times = texts(&with_class(doc, "text", "time"));
        // The day starts with its date, then round hours, never crowded.
        assert_eq!(times[0], "Nov 23");
        assert!(times.len() >= 4 && times.len() <= 9, "{times:?}");
        assert!(times[1..].iter().all(|t| t.ends_with(":00")), "{times:?}");
        // The top tick is above the highest bar: the tallest bar is not full height.
        let bars = with_class(doc, "rect", "bar");
        let plot = with_class(doc, "rect", "hit");
        assert!(attr(&bars[23], "height") < attr(&plot[23], "height"));
    });
}

#[test]
fn day_buckets_are_labelled_with_dates() {
    let start = datetime!(2026-11-01 00:00 UTC);
    let days: Vec<_> = (0..30).map(|i| (start + Duration::days(i), 5)).collect();
    let svg = volume_chart(&days, Bucket::Day, 640, 180);
    parse(&svg, |doc| {
        assert_eq!(with_class(doc, "rect", "bar").len(), 30);
        let times = texts(&with_class(doc, "text", "time"));
        assert!(times.len() >= 3 && times.len() <= 9, "{times:?}");
        assert!(times.iter().all(|t| t.starts_with("Nov ")), "{times:?}");
        let first_title = doc.descendants().find(|n| n.has_tag_name("title")).unwrap();
        assert_eq!(first_title.text(), Some("2026-11-01 — 5 events"));
    });
}

#[test]
fn an_empty_period_says_so() {
    let svg = volume_chart(&hours(&[0; 24]), Bucket::Hour, 640, 180);
    parse(&svg, |doc| {
        assert_eq!(with_class(doc, "rect", "bar").len(), 24);
        assert_eq!(
            texts(&with_class(doc, "text", "empty-label")),
            ["No events in this period"]
        );
        assert_eq!(texts(&with_class(doc, "text", "tick")), ["0", "1"]);
    });
    let svg = volume_chart(&[], Bucket::Day, 640, 180);
    parse(&svg, |doc| {
        assert!(with_class(doc, "rect", "bar").is_empty());
        assert_eq!(texts(&with_class(doc, "text", "empty-label")), ["No data"]);
    });
}

#[test]
fn a_huge_value_neither_overflows_nor_escapes_the_plot() {
    let svg = volume_chart(&hours(&[u64::MAX, 1, 0]), Bucket::Hour, 400, 160);
    parse(&svg, |doc| {
        let ticks = texts(&with_class(doc, "text", "tick"));
        assert_eq!(ticks, ["0", "5E", "10E", "15E", "20E"]);
        let bars = with_class(doc, "rect", "bar");
        let plot = with_class(doc, "rect", "hit");
        let (h, full) = (attr(&bars[0], "height"), attr(&plot[0], "height"));
        assert!(h > 0.9 * full && h <= full, "{h} of {full}");
        assert!(attr(&bars[0], "y") >= attr(&plot[0], "y"));
        let title = doc.descendants().find(|n| n.has_tag_name("title")).unwrap();
        assert_eq!(
            title.text(),
            Some("2026-11-23 00:00 — 18,446,744,073,709,551,615 events")
        );
    });
}

#[test]
fn fill_makes_a_dense_series() {
    let from = datetime!(2026-11-23 10:30 UTC);
    let to = datetime!(2026-11-23 15:00 UTC);
    let sparse = [
        (datetime!(2026-11-23 12:00 UTC), 3),
        (datetime!(2026-11-23 12:59 UTC), 2),
        (datetime!(2026-11-23 14:00 UTC), 1),
        (datetime!(2026-11-24 14:00 UTC), 99), // outside
    ];
    let dense = fill(&sparse, from, to, Bucket::Hour);
    let counts: Vec<u64> = dense.iter().map(|&(_, n)| n).collect();
    assert_eq!(counts, [0, 0, 5, 0, 1]);
    assert_eq!(dense[0].0, datetime!(2026-11-23 10:00 UTC));
    let days = fill(
        &[],
        datetime!(2026-11-01 05:00 UTC),
        datetime!(2026-11-08 00:00 UTC),
        Bucket::Day,
    );
    assert_eq!(days.len(), 7);
}

#[test]
fn level_bars_use_level_classes_and_tooltips() {
    let svg = level_bars(&[
        (Level::Fatal, 0),
        (Level::Error, 1234),
        (Level::Warning, 966),
        (Level::Info, 1),
        (Level::Debug, 0),
    ]);
    parse(&svg, |doc| {
        let rows = with_class(doc, "g", "level");
        assert_eq!(rows.len(), 5);
        assert!(rows[1].attribute("class").unwrap().contains("level-error"));
        let bars = with_class(doc, "rect", "bar");
        assert_eq!(attr(&bars[0], "width"), 0.0);
        assert!(attr(&bars[1], "width") > attr(&bars[2], "width"));
        assert!(attr(&bars[3], "width") >= 2.0);
        let titles: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("title"))
            .map(|n| n.text().unwrap().to_string())
            .collect();
        assert_eq!(titles[1], "error — 1,234 events (56%)");
        assert_eq!(titles[3], "info — 1 event (<1%)");
        assert_eq!(
            texts(&with_class(doc, "text", "count")),
            ["0", "1.2k", "966", "1", "0"]
        );
        assert_eq!(
            texts(&with_class(doc, "text", "level-name")),
            ["fatal", "error", "warning", "info", "debug"]
        );
    });
    parse(&level_bars(&[]), |doc| {
        assert_eq!(
            texts(&with_class(doc, "text", "empty-label")),
            ["No events"]
        );
    });
}

#[test]
fn sparklines_draw_non_zero_values() {
    let svg = sparkline(&[0, 3, 0, 6, u64::MAX]);
    parse(&svg, |doc| {
        let bars = with_class(doc, "rect", "bar");
        assert_eq!(bars.len(), 3);
        let heights: Vec<f64> = bars.iter().map(|b| attr(b, "height")).collect();
        assert!(
            heights.iter().all(|&h| (1.0..=19.0).contains(&h)),
            "{heights:?}"
        );
        assert_eq!(attr(&doc.root_element(), "height"), 20.0);
    });
    parse(&sparkline(&[]), |doc| {
        assert!(with_class(doc, "rect", "bar").is_empty());
    });
}

#[test]
fn every_text_is_escaped() {
    assert_eq!(
        escape(r#"<a href="x">'&'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
    assert!(matches!(escape("plain"), Cow::Borrowed(_)));
}

#[test]
fn numbers_are_compact_and_round() {
    assert_eq!(compact(0), "0");
    assert_eq!(compact(999), "999");
    assert_eq!(compact(1_500), "1.5k");
    assert_eq!(compact(15_000), "15k");
    assert_eq!(compact(999_950), "1M");
    assert_eq!(compact(2_000_000), "2M");
    assert_eq!(nice_ticks(1), [0, 1]);
    assert_eq!(nice_ticks(5), [0, 1, 2, 3, 4, 5]);
    assert_eq!(nice_ticks(7), [0, 2, 4, 6, 8]);
    assert_eq!(nice_ticks(100), [0, 20, 40, 60, 80, 100]);
    assert_eq!(with_separators(1_234_567), "1,234,567");
    assert_eq!(with_separators(12), "12");
}

#[test]
fn tag_distribution_splits_the_issue_with_a_rest() {
    let values = [("2.1.0".to_string(), 6), ("2.0.9".to_string(), 2)];
    parse(&tag_distribution("release", &values, 10), |doc| {
        let titles: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("title"))
            .map(|n| n.text().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            titles,
            [
                "release: 2.1.0 — 6 events (60%)",
                "release: 2.0.9 — 2 events (20%)",
                "release: other values or none — 2 events (20%)",
            ]
        );
        let segments: Vec<f64> = doc
            .descendants()
            .filter(|n| n.has_tag_name("g"))
            .filter_map(|g| g.children().find(|c| c.has_tag_name("rect")))
            .map(|r| attr(&r, "width"))
            .collect();
        assert_eq!(segments, [180.0, 60.0, 60.0]);
    });
    // Counts above the total (a tag repeated by a retried event): the bar never overflows.
    parse(&tag_distribution("k", &[("v".to_string(), 5)], 3), |doc| {
        let titles: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("title"))
            .collect();
        assert_eq!(titles.len(), 1);
    });
}
