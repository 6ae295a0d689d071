//! What the live stream's subscribers of a run should receive, and whether they did.
//!
//! Every event a run sends is event `seq` of template `seq mod templates`, with the id
//! `prefix · 2⁶⁴ + seq` ([`crate::corpus::IdSource::id_at`]), so an id a subscriber receives
//! names its event and template. Each template's [`Profile`] (level, title, environment,
//! release, tags, grouping fingerprint) is derived once, before the run, the way the server
//! derives them: the protocol crate's `normalize_event`, then the processor's `prepare`. The
//! filters are then matched here, by this module's own reading of the README (level at least,
//! exact environment and release, every `key:value` tag present, every title word contained
//! case-insensitively, one issue): the server's filter code is what is under test, so it is not
//! reused. The expected set of a subscriber is every acknowledged (2xx) event whose template
//! matches its filter; readers check on every `event` message that the fields the message
//! carries agree with the template's profile, which is what makes the derivation trustworthy.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{Context, ensure};
use mesher_protocol::scrub::ScrubConfig;
use mesher_protocol::{EventId, Level, NormalizeContext, Timestamp, normalize_event};
use mesher_server::pipeline::Incoming;
use mesher_server::pipeline::processor::prepare;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::corpus::{IdSource, Stamp, Template};
use crate::stats::LatencySummary;

/// Tags the processor derives from event fields: filtering on them repeats the field filters.
const DERIVED_TAGS: [&str; 6] = [
    "level",
    "environment",
    "release",
    "server_name",
    "transaction",
    "logger",
];
/// Subscribers that take everything, out of every 25 (8 of 200): each costs a message per event.
const UNFILTERED_PER_25: usize = 1;
/// At most this many unfiltered subscribers.
const MAX_UNFILTERED: usize = 8;
/// Title words kept for filters match at most this share of the templates, so that a word
/// filter selects a fraction.
const MAX_WORD_SHARE: f64 = 0.25;

/// An event as the server will see it, from its template.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Severity.
    pub level: Level,
    /// Title.
    pub title: String,
    /// The title in lower case (word filters).
    pub title_lower: String,
    /// Environment.
    pub environment: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// Stored tags, derived ones included.
    pub tags: Vec<(String, String)>,
    /// Grouping hash: templates with the same one land in the same issue.
    pub fingerprint: String,
}

/// Profiles of `templates`, in order.
pub fn profiles(templates: &[Template]) -> anyhow::Result<Vec<Profile>> {
    let ids = IdSource::with_prefix(0);
    let stamp = Stamp::now();
    let received = Timestamp::from_datetime(OffsetDateTime::now_utc());
    let scrub = Arc::new(ScrubConfig::default());
    let mut out = Vec::with_capacity(templates.len());
    let mut bytes = Vec::new();
    for (i, t) in templates.iter().enumerate() {
        t.render_into(&mut bytes, &ids.id_at(i as u64), &stamp);
        let parsed = mesher_protocol::parse_envelope(&bytes)?;
        let item = parsed
            .items()
            .iter()
            .find(|i| i.ty == mesher_protocol::envelope::ItemType::Event)
            .context("a template without an event")?;
        let mut ctx = NormalizeContext::new(received, EventId::from_bytes([7; 16]));
        ctx.envelope_event_id = parsed.event_id();
        let event = normalize_event(item.payload, &ctx)
            .map_err(|e| anyhow::anyhow!("template {i}: {e}"))?;
        let e = prepare(Incoming {
            project_id: 0,
            event,
            scrub: scrub.clone(),
        })
        .map_err(|e| anyhow::anyhow!("template {i}: {e}"))?;
        out.push(Profile {
            level: e.level,
            title_lower: e.title.to_lowercase(),
            title: e.title,
            environment: e.environment,
            release: e.release,
            tags: e.tags,
            fingerprint: e.fingerprint,
        });
    }
    Ok(out)
}

/// One subscriber's filters, serialized as the `filters` of its `subscribe` message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// Lowest level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// Only this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Only this release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Only this issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<i64>,
    /// One `key:value` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Title words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// The issue of one template, learnt before the run (see `subscribers::probe`).
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The issue's id.
    pub issue_id: i64,
    /// The fingerprint of its events.
    pub fingerprint: String,
}

impl Filter {
    /// Whether an event of `profile` matches. `probe` says which fingerprint an issue filter
    /// stands for (the only issue a mix names).
    pub fn matches(&self, p: &Profile, probe: Option<&Probe>) -> bool {
        let issue = match self.issue {
            None => true,
            Some(id) => {
                probe.is_some_and(|pr| pr.issue_id == id && pr.fingerprint == p.fingerprint)
            }
        };
        let tag = self.tag.as_deref().is_none_or(|t| {
            t.split_once(':')
                .is_some_and(|(k, v)| p.tags.iter().any(|(tk, tv)| tk == k && tv == v))
        });
        let words = self.query.as_deref().is_none_or(|q| {
            q.split_whitespace()
                .all(|w| p.title_lower.contains(&w.to_lowercase()))
        });
        issue
            && tag
            && words
            && self.level.is_none_or(|l| p.level >= l)
            && self
                .environment
                .as_ref()
                .is_none_or(|e| p.environment.as_ref() == Some(e))
            && self
                .release
                .as_ref()
                .is_none_or(|r| p.release.as_ref() == Some(r))
    }

    /// Whether the filter lets everything through.
    pub fn is_everything(&self) -> bool {
        *self == Filter::default()
    }
}

/// The filters of `n` subscribers: a few unfiltered ones (one in 25, at most 8, at least one),
/// then, round-robin, kinds that each select a fraction of the corpus: one tag value, one
/// title word, the probed issue, level at least `error` (once; `fatal` after), an environment
/// the corpus never uses (nothing may leak) or the corpus's own environment with a word, the
/// corpus's release with a tag, and a tag with a word. Tags and words rotate through the
/// corpus's values, most frequent first, so that most filtered subscribers differ.
pub fn mix(n: usize, profiles: &[Profile], probe: Option<&Probe>) -> Vec<Filter> {
    let unfiltered = (n * UNFILTERED_PER_25 / 25).clamp(1, MAX_UNFILTERED).min(n);
    let tags = common_tags(profiles);
    let words = common_words(profiles);
    let pick = |list: &[String], i: usize| -> Option<String> {
        (!list.is_empty()).then(|| list[i % list.len()].clone())
    };
    let most_common = |f: fn(&Profile) -> Option<&String>| -> Option<String> {
        let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
        for v in profiles.iter().filter_map(f) {
            *counts.entry(v).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(v, _)| v.clone())
    };
    let environment = most_common(|p| p.environment.as_ref());
    let release = most_common(|p| p.release.as_ref());
    let mut out = vec![Filter::default(); unfiltered];
    for j in 0..n - unfiltered {
        let round = j / 8;
        let f = match j % 8 {
            0 => Filter {
                tag: pick(&tags, round),
                ..Filter::default()
            },
            1 => Filter {
                query: pick(&words, round),
                ..Filter::default()
            },
            2 if probe.is_some() => Filter {
                issue: probe.map(|p| p.issue_id),
                ..Filter::default()
            },
            3 => Filter {
                level: Some(if round == 0 {
                    Level::Error
                } else {
                    Level::Fatal
                }),
                ..Filter::default()
            },
            4 if round % 2 == 0 => Filter {
                environment: Some("bench-nowhere".into()),
                ..Filter::default()
            },
            4 => Filter {
                environment: environment.clone(),
                query: pick(&words, round + 3),
                ..Filter::default()
            },
            5 => Filter {
                release: release.clone(),
                tag: pick(&tags, round + 7),
                ..Filter::default()
            },
            6 => Filter {
                tag: pick(&tags, round + 13),
                query: pick(&words, round + 1),
                ..Filter::default()
            },
            _ => Filter {
                level: Some(Level::Warning),
                tag: pick(&tags, round + 19),
                ..Filter::default()
            },
        };
        out.push(f);
    }
    out
}

/// The corpus's own tags (`key:value`), most frequent first.
fn common_tags(profiles: &[Profile]) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for p in profiles {
        for (k, v) in &p.tags {
            if !DERIVED_TAGS.contains(&k.as_str()) {
                *counts.entry(format!("{k}:{v}")).or_default() += 1;
            }
        }
    }
    by_frequency(counts)
}

/// Words of titles (letters only, four or more) that select at most a quarter of the templates,
/// most frequent first.
fn common_words(profiles: &[Profile]) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for p in profiles {
        let mut words: Vec<&str> = p
            .title_lower
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| w.chars().count() >= 4)
            .collect();
        words.sort_unstable();
        words.dedup();
        for w in words {
            *counts.entry(w.to_string()).or_default() += 1;
        }
    }
    // Counted again as the server matches: contained anywhere in the title.
    let limit = (profiles.len() as f64 * MAX_WORD_SHARE) as usize;
    let matching: HashMap<String, usize> = counts
        .into_keys()
        .map(|w| {
            let n = profiles
                .iter()
                .filter(|p| p.title_lower.contains(&w))
                .count();
            (w, n)
        })
        .filter(|(_, n)| *n <= limit)
        .collect();
    by_frequency(matching)
}

fn by_frequency(counts: HashMap<String, usize>) -> Vec<String> {
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter().map(|(s, _)| s).collect()
}

/// What one subscriber's reader saw.
#[derive(Debug, Default)]
pub struct Received {
    /// The events of this run, by number, in the order they arrived.
    pub events: Vec<u64>,
    /// `event` messages whose id is not one of this run's.
    pub foreign: u64,
    /// Commit-to-subscriber latency of each event, in microseconds.
    pub latencies_us: Vec<u64>,
    /// Messages by type.
    pub messages: BTreeMap<String, u64>,
    /// Messages the server said this subscriber lost (`lagged`).
    pub lagged: u64,
    /// Events whose fields (level, title, environment, release, issue) differ from their
    /// template's profile, or that do not match the subscriber's filter.
    pub mismatched: u64,
    /// Events whose `committed_at` is earlier than the previous event's.
    pub backwards: u64,
    /// The first problem seen, to say what went wrong.
    pub first_problem: Option<String>,
    /// The `committed_at` of the last event (to catch it going backwards).
    pub last_committed_at: Option<OffsetDateTime>,
}

impl Received {
    /// Notes a problem, keeping the first description.
    pub fn problem(&mut self, what: impl FnOnce() -> String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(what());
        }
    }
}

/// The verdict on one subscriber.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Its filters.
    pub filter: Filter,
    /// Acknowledged events that match them.
    pub expected: u64,
    /// Events of this run received.
    pub received: u64,
    /// Expected but never received.
    pub missing: u64,
    /// Received but not expected (events whose request got no answer excepted: they may
    /// have been stored).
    pub unexpected: u64,
    /// Received more than once.
    pub duplicates: u64,
    /// Received before an event committed earlier (by the database's row order).
    pub out_of_order: u64,
    /// `committed_at` going backwards.
    pub backwards: u64,
    /// Messages lost (`lagged`).
    pub lagged: u64,
    /// Fields that disagree with the template, or events outside the filter.
    pub mismatched: u64,
    /// Events that were not this run's.
    pub foreign: u64,
    /// The first problem, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Check {
    /// Whether the subscriber got exactly its events, in order, without loss.
    pub fn ok(&self) -> bool {
        self.missing == 0
            && self.unexpected == 0
            && self.duplicates == 0
            && self.out_of_order == 0
            && self.backwards == 0
            && self.lagged == 0
            && self.mismatched == 0
            && self.foreign == 0
    }
}

/// What the run's acknowledgements and the database say every subscriber should have seen.
pub struct Truth<'a> {
    /// Numbers of the events answered 2xx.
    pub acked: &'a [u64],
    /// Numbers of the events whose request got no answer.
    pub unanswered: &'a [u64],
    /// Profiles of the templates, indexed by `seq mod len`.
    pub profiles: &'a [Profile],
    /// The probed issue.
    pub probe: Option<&'a Probe>,
    /// Each stored event's position in commit order, by number; `None`: order is only
    /// checked by `committed_at`.
    pub rank: Option<&'a HashMap<u64, usize>>,
}

/// Checks every subscriber's events against the truth.
pub fn verify(filters: &[Filter], received: &[Received], truth: &Truth<'_>) -> Vec<Check> {
    let len = truth.profiles.len() as u64;
    let top = truth
        .acked
        .iter()
        .chain(truth.unanswered)
        .copied()
        .max()
        .map_or(0, |m| m as usize + 1);
    let mut maybe = vec![false; top];
    for &s in truth.unanswered {
        maybe[s as usize] = true;
    }
    filters
        .iter()
        .zip(received)
        .map(|(filter, r)| {
            let matching: Vec<bool> = truth
                .profiles
                .iter()
                .map(|p| filter.matches(p, truth.probe))
                .collect();
            let mut wanted = vec![false; top];
            let mut expected = 0;
            for &s in truth.acked {
                if matching[(s % len) as usize] {
                    wanted[s as usize] = true;
                    expected += 1;
                }
            }
            let mut seen = vec![false; top];
            let (mut duplicates, mut unexpected, mut out_of_order) = (0, 0, 0);
            let mut last_rank = None;
            for &s in &r.events {
                let i = s as usize;
                if i >= top || !(wanted[i] || maybe[i]) {
                    unexpected += 1;
                    continue;
                }
                if std::mem::replace(&mut seen[i], true) {
                    duplicates += 1;
                }
                if let Some(ranks) = truth.rank {
                    match ranks.get(&s) {
                        Some(&rank) => {
                            if last_rank.is_some_and(|l| rank <= l) {
                                out_of_order += 1;
                            }
                            last_rank = Some(rank);
                        }
                        // Delivered but not stored: as bad as not wanted.
                        None => unexpected += 1,
                    }
                }
            }
            let received_ok = wanted.iter().zip(&seen).filter(|(w, s)| **w && **s).count();
            Check {
                filter: filter.clone(),
                expected,
                received: r.events.len() as u64,
                missing: expected - received_ok as u64,
                unexpected,
                duplicates,
                out_of_order,
                backwards: r.backwards,
                lagged: r.lagged,
                mismatched: r.mismatched,
                foreign: r.foreign,
                problem: r.first_problem.clone(),
            }
        })
        .collect()
}

/// Each event's position in commit order, by number, from the database's ids in row order;
/// ids of other runs are left out.
pub fn ranks(order: &[u128], prefix: u64) -> HashMap<u64, usize> {
    order
        .iter()
        .filter(|id| (*id >> 64) as u64 == prefix)
        .enumerate()
        .map(|(rank, id)| (*id as u64, rank))
        .collect()
}

/// The stalled subscriber, read after the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stalled {
    /// The `missed` of its `lagged` message; `None`: it got none.
    pub lagged_missed: Option<u64>,
    /// Messages read before the `lagged` (what the socket buffers and the queue held).
    pub messages_before: u64,
    /// Of them, `event` messages.
    #[serde(default)]
    pub events: u64,
    /// How the stream ended while being read, if it did.
    pub closed: Option<String>,
}

/// The live stream's part of a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveReport {
    /// Fast subscribers.
    pub subscribers: usize,
    /// Of them, without filters.
    pub unfiltered: usize,
    /// How completeness and order were established.
    pub basis: String,
    /// Subscribers that got exactly their events, in order, without loss.
    pub complete: usize,
    /// Messages delivered to the fast subscribers, by type.
    pub messages: BTreeMap<String, u64>,
    /// `event` messages delivered to the fast subscribers.
    pub events_delivered: u64,
    /// Fast subscribers that received a `lagged`.
    pub lagged_subscribers: usize,
    /// Commit-to-subscriber latency over every event delivered (`committed_at` has
    /// millisecond resolution).
    pub latency: LatencySummary,
    /// CPU the subscribers' thread in this generator used from the start of the run until
    /// the end of the load.
    pub client_cpu_secs: f64,
    /// Seconds to open every subscriber before the run.
    pub open_secs: f64,
    /// The stalled subscriber, when there was one.
    pub stalled: Option<Stalled>,
    /// Every subscriber's verdict, in the order of the mix.
    pub checks: Vec<Check>,
}

impl LiveReport {
    /// Adds up the readers' figures and verdicts.
    pub fn new(
        checks: Vec<Check>,
        received: &mut [Received],
        basis: String,
        client_cpu_secs: f64,
        open_secs: f64,
        stalled: Option<Stalled>,
    ) -> LiveReport {
        let mut messages = BTreeMap::new();
        let mut latencies = Vec::new();
        for r in received.iter_mut() {
            for (k, n) in &r.messages {
                *messages.entry(k.clone()).or_default() += n;
            }
            latencies.append(&mut r.latencies_us);
        }
        LiveReport {
            subscribers: checks.len(),
            unfiltered: checks.iter().filter(|c| c.filter.is_everything()).count(),
            basis,
            complete: checks.iter().filter(|c| c.ok()).count(),
            events_delivered: messages.get("event").copied().unwrap_or(0),
            messages,
            lagged_subscribers: checks.iter().filter(|c| c.lagged > 0).count(),
            latency: LatencySummary::from_micros(&mut latencies),
            client_cpu_secs,
            open_secs,
            stalled,
            checks,
        }
    }

    /// Fails unless every fast subscriber got exactly its events.
    pub fn ensure_complete(&self) -> anyhow::Result<()> {
        let bad: Vec<String> = self
            .checks
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.ok())
            .take(5)
            .map(|(i, c)| format!("subscriber {i}: {c:?}"))
            .collect();
        ensure!(
            bad.is_empty(),
            "{} of {} subscribers did not get exactly their events: {}",
            self.subscribers - self.complete,
            self.subscribers,
            bad.join("; ")
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(level: Level, title: &str, tags: &[(&str, &str)], fp: &str) -> Profile {
        Profile {
            level,
            title: title.into(),
            title_lower: title.to_lowercase(),
            environment: Some("production".into()),
            release: Some("shop@1".into()),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            fingerprint: fp.into(),
        }
    }

    #[test]
    fn filters_match_as_documented() {
        let p = profile(
            Level::Error,
            "KeyError: 'SKU-8'",
            &[("browser", "cart-1")],
            "a",
        );
        let probe = Probe {
            issue_id: 4,
            fingerprint: "a".into(),
        };
        let f = |f: Filter| f.matches(&p, Some(&probe));
        assert!(f(Filter::default()));
        assert!(f(Filter {
            level: Some(Level::Warning),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            level: Some(Level::Fatal),
            ..Filter::default()
        }));
        assert!(f(Filter {
            tag: Some("browser:cart-1".into()),
            query: Some("keyerror SKU".into()),
            issue: Some(4),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            tag: Some("browser:cart-2".into()),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            environment: Some("staging".into()),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            issue: Some(5),
            ..Filter::default()
        }));
        assert_eq!(
            serde_json::to_value(Filter {
                level: Some(Level::Error),
                tag: Some("k:v".into()),
                ..Filter::default()
            })
            .unwrap(),
            serde_json::json!({"level": "error", "tag": "k:v"})
        );
    }

    #[test]
    fn the_mix_of_the_shipped_corpus_selects_fractions() {
        let templates =
            crate::corpus::load(std::path::Path::new(crate::corpus::DEFAULT_CORPUS)).unwrap();
        let profiles = profiles(&templates).unwrap();
        let probe = Probe {
            issue_id: 1,
            fingerprint: profiles[0].fingerprint.clone(),
        };
        let filters = mix(200, &profiles, Some(&probe));
        assert_eq!(filters.len(), 200);
        assert_eq!(filters.iter().filter(|f| f.is_everything()).count(), 8);
        let share = |f: &Filter| {
            profiles
                .iter()
                .filter(|p| f.matches(p, Some(&probe)))
                .count() as f64
                / profiles.len() as f64
        };
        let filtered: Vec<f64> = filters[8..].iter().map(share).collect();
        let mean = filtered.iter().sum::<f64>() / filtered.len() as f64;
        // The fan-out the benchmark documents: 8 + 192 × a few percent messages per event.
        assert!(
            mean < 0.1,
            "filtered subscribers take {mean:.3} of events each"
        );
        assert!(
            filtered.iter().filter(|s| **s > 0.0).count() > 150,
            "most filters select something"
        );
        assert_eq!(mix(10, &profiles, None).len(), 10);
    }

    #[test]
    fn verify_finds_loss_duplicates_and_disorder() {
        let profiles = vec![
            profile(Level::Error, "a", &[], "x"),
            profile(Level::Info, "b", &[], "y"),
        ];
        let filters = vec![
            Filter::default(),
            Filter {
                level: Some(Level::Error),
                ..Filter::default()
            },
        ];
        let acked = [0, 1, 2, 3];
        let rank: HashMap<u64, usize> = [(0, 0), (1, 1), (2, 2), (3, 3)].into();
        let truth = Truth {
            acked: &acked,
            unanswered: &[],
            profiles: &profiles,
            probe: None,
            rank: Some(&rank),
        };
        let received = vec![
            Received {
                events: vec![0, 2, 1, 3, 3],
                ..Received::default()
            },
            Received {
                events: vec![0, 2],
                ..Received::default()
            },
        ];
        let checks = verify(&filters, &received, &truth);
        assert_eq!(checks[0].expected, 4);
        assert_eq!(checks[0].missing, 0);
        assert_eq!(checks[0].duplicates, 1);
        assert_eq!(checks[0].out_of_order, 2);
        assert!(!checks[0].ok());
        assert!(checks[1].ok(), "{:?}", checks[1]);
        let short = vec![Received {
            events: vec![2, 1],
            ..Received::default()
        }];
        let c = verify(&filters[1..], &short, &truth);
        assert_eq!((c[0].missing, c[0].unexpected), (1, 1));
        let ids = [(7u128 << 64) | 5, (8u128 << 64) | 1, (7u128 << 64) | 2];
        assert_eq!(ranks(&ids, 7), [(5, 0), (2, 1)].into());
    }
}
