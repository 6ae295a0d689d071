//! The figures of one run, as JSON and as text, and a table comparing several runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::fanout::LiveReport;
use crate::stats::LatencySummary;

/// Everything a run measured. Serialized as the `--json` output, read back by `table`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Names the run in tables (`sqlite`, `postgres`, `sink`, …).
    pub label: String,
    /// The endpoint.
    pub url: String,
    /// Connections, each with one request in flight.
    pub connections: usize,
    /// Events per second aimed at; `None`: as fast as the server answers.
    pub target_rate: Option<f64>,
    /// Whether bodies were gzip-compressed.
    pub gzip: bool,
    /// Envelopes in the corpus, replayed round-robin.
    pub corpus_envelopes: usize,
    /// Requests attempted.
    pub sent: u64,
    /// Requests answered 2xx.
    pub accepted: u64,
    /// Responses by status (`"200"`, `"503"`, …), and `"error"` for requests that got none.
    pub statuses: BTreeMap<String, u64>,
    /// The first transport error, if any.
    pub first_error: Option<String>,
    /// From the start until the last response.
    pub elapsed_secs: f64,
    /// `accepted / elapsed_secs`.
    pub accepted_per_sec: f64,
    /// From the start until the database held every accepted event.
    pub committed_secs: Option<f64>,
    /// `accepted / committed_secs`.
    pub committed_per_sec: Option<f64>,
    /// How `committed_secs` was established.
    pub committed_basis: String,
    /// Latency of 2xx responses.
    pub latency: LatencySummary,
    /// Mean envelope size before compression.
    pub mean_envelope_bytes: f64,
    /// Mean request body size as sent.
    pub mean_request_bytes: f64,
    /// Whether bodies were rendered before the clock started (else during the run).
    pub bodies_prebuilt: bool,
    /// The server's peak resident set size (VmHWM, since it started).
    pub server_peak_rss_bytes: Option<u64>,
    /// CPU the server used during the run.
    pub server_cpu_secs: Option<f64>,
    /// CPU this generator used during the run.
    pub client_cpu_secs: f64,
    /// `sqlite` or `postgres`, when the database was measured.
    pub database: Option<String>,
    /// Events in the database after the run.
    pub stored_events: Option<u64>,
    /// Bytes the database uses for them (see [`crate::measure::Footprint`]).
    pub database_bytes: Option<u64>,
    /// `database_bytes / stored_events`.
    pub bytes_per_event: Option<f64>,
    /// The live stream's subscribers, when the run had some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveReport>,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn statuses(report: &Report) -> String {
    report
        .statuses
        .iter()
        .map(|(status, n)| format!("{status}:{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Report {
    /// The report as text for a person.
    pub fn text(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_text(&mut out);
        out
    }

    fn write_text(&self, out: &mut String) -> std::fmt::Result {
        let rate = match self.target_rate {
            Some(r) => format!("target {r:.0} events/s"),
            None => "as fast as answered".to_string(),
        };
        writeln!(out, "mesher-bench {}: {}", self.label, self.url)?;
        writeln!(
            out,
            "  load        {} connections, {rate}, gzip {}, {} events from {} envelopes \
             (mean {:.1} KB, {:.1} KB on the wire{})",
            self.connections,
            if self.gzip { "on" } else { "off" },
            self.sent,
            self.corpus_envelopes,
            self.mean_envelope_bytes / 1000.0,
            self.mean_request_bytes / 1000.0,
            if self.gzip && !self.bodies_prebuilt {
                "; compressed during the run"
            } else {
                ""
            }
        )?;
        writeln!(
            out,
            "  accepted    {} in {:.2} s = {:.0} events/s",
            self.accepted, self.elapsed_secs, self.accepted_per_sec
        )?;
        match (self.committed_secs, self.committed_per_sec) {
            (Some(secs), Some(per_sec)) => writeln!(
                out,
                "  committed   {per_sec:.0} events/s (all in {secs:.2} s; {})",
                self.committed_basis
            )?,
            _ => writeln!(out, "  committed   unknown ({})", self.committed_basis)?,
        }
        let l = &self.latency;
        writeln!(
            out,
            "  latency     p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms, mean {:.2} ms",
            l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms, l.mean_ms
        )?;
        writeln!(out, "  responses   {}", statuses(self))?;
        if let Some(e) = &self.first_error {
            writeln!(out, "  first error {e}")?;
        }
        let mut server = Vec::new();
        if let Some(rss) = self.server_peak_rss_bytes {
            server.push(format!("peak RSS {}", mib(rss)));
        }
        if let Some(cpu) = self.server_cpu_secs {
            let per_event = if self.accepted > 0 {
                format!(
                    " = {:.0} µs per accepted event",
                    cpu * 1e6 / self.accepted as f64
                )
            } else {
                String::new()
            };
            server.push(format!("CPU {cpu:.2} s{per_event}"));
        }
        if !server.is_empty() {
            writeln!(out, "  server      {}", server.join(", "))?;
        }
        writeln!(out, "  generator   CPU {:.2} s", self.client_cpu_secs)?;
        if let (Some(db), Some(events), Some(bytes), Some(per_event)) = (
            &self.database,
            self.stored_events,
            self.database_bytes,
            self.bytes_per_event,
        ) {
            writeln!(
                out,
                "  database    {db}: {events} events in {} = {per_event:.0} bytes per event",
                mib(bytes)
            )?;
        }
        if let Some(live) = &self.live {
            write_live(out, live)?;
        }
        Ok(())
    }
}

fn write_live(out: &mut String, live: &LiveReport) -> std::fmt::Result {
    if live.subscribers > 0 {
        let messages = live
            .messages
            .iter()
            .map(|(kind, n)| format!("{kind}:{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        writeln!(
            out,
            "  stream      {} subscribers ({} unfiltered), opened in {:.2} s: {} of them got \
             exactly their events in order; {} lagged; messages {messages}; their CPU {:.2} s",
            live.subscribers,
            live.unfiltered,
            live.open_secs,
            live.complete,
            live.lagged_subscribers,
            live.client_cpu_secs
        )?;
        let l = &live.latency;
        writeln!(
            out,
            "  commit→sub  p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({})",
            l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms, live.basis
        )?;
        for (i, c) in live.checks.iter().enumerate().filter(|(_, c)| !c.ok()) {
            writeln!(out, "  FAILED      subscriber {i}: {c:?}")?;
        }
    }
    if let Some(s) = &live.stalled {
        match s.lagged_missed {
            Some(n) => writeln!(
                out,
                "  stalled     lagged: {n} missed, after {} messages it had not read",
                s.messages_before
            )?,
            None => writeln!(
                out,
                "  stalled     no `lagged` ({} messages read, {} of them events{})",
                s.messages_before,
                s.events,
                s.closed
                    .as_deref()
                    .map(|c| format!(", then closed: {c}"))
                    .unwrap_or_default()
            )?,
        }
    }
    Ok(())
}

/// One row per report: the comparison `scripts/bench` prints.
pub fn table(reports: &[Report]) -> String {
    let header = [
        "run",
        "accepted/s",
        "committed/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "peak RSS",
        "bytes/event",
        "srv CPU µs/ev",
        "subs",
        "stream p50/p99 ms",
        "responses",
    ];
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.label.clone(),
                format!("{:.0}", r.accepted_per_sec),
                r.committed_per_sec.map_or_else(dash, |c| format!("{c:.0}")),
                format!("{:.2}", r.latency.p50_ms),
                format!("{:.2}", r.latency.p95_ms),
                format!("{:.2}", r.latency.p99_ms),
                r.server_peak_rss_bytes.map_or_else(dash, mib),
                r.bytes_per_event.map_or_else(dash, |b| format!("{b:.0}")),
                match (r.server_cpu_secs, r.accepted) {
                    (Some(cpu), n) if n > 0 => format!("{:.0}", cpu * 1e6 / n as f64),
                    _ => dash(),
                },
                r.live.as_ref().map_or_else(dash, |l| {
                    let stalled = if l.stalled.is_some() { "+1" } else { "" };
                    format!("{}{stalled}", l.subscribers)
                }),
                r.live
                    .as_ref()
                    .filter(|l| l.subscribers > 0)
                    .map_or_else(dash, |l| {
                        format!("{:.1}/{:.1}", l.latency.p50_ms, l.latency.p99_ms)
                    }),
                statuses(r),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i] - c.chars().count();
                // Text columns left-aligned, numbers right-aligned.
                if i == 0 || i == cells.len() - 1 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            label: "sqlite".into(),
            url: "http://127.0.0.1:8000/api/1/envelope/".into(),
            connections: 16,
            sent: 100,
            accepted: 100,
            statuses: [("200".to_string(), 100)].into(),
            elapsed_secs: 2.0,
            accepted_per_sec: 50.0,
            committed_secs: Some(2.0),
            committed_per_sec: Some(50.0),
            committed_basis: "last 2xx response".into(),
            server_peak_rss_bytes: Some(64 * 1024 * 1024),
            server_cpu_secs: Some(0.5),
            database: Some("sqlite".into()),
            stored_events: Some(100),
            database_bytes: Some(400_000),
            bytes_per_event: Some(4000.0),
            ..Report::default()
        }
    }

    #[test]
    fn json_round_trips() {
        let r = sample();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), r);
    }

    #[test]
    fn text_and_table_show_the_figures() {
        let r = sample();
        let text = r.text();
        assert!(text.contains("100 in 2.00 s = 50 events/s"), "{text}");
        assert!(text.contains("5000 µs per accepted event"), "{text}");
        assert!(text.contains("4000 bytes per event"), "{text}");
        let mut pg = sample();
        pg.label = "postgres".into();
        pg.bytes_per_event = None;
        let t = table(&[r, pg]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("run "));
        assert!(
            lines[1].starts_with("sqlite ")
                && lines[1].contains("64.0 MiB")
                && lines[1].contains("200:100")
        );
        assert!(lines[2].starts_with("postgres ") && lines[2].contains(" - "));
    }
}
