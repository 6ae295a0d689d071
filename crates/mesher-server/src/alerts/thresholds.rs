//! Threshold rules (ALERT-01): "more than N events in M minutes" per issue or per project, and
//! "more than N distinct users" of an issue, checked every `alert_check_interval_secs` by one
//! node of the cluster (the jobs' lease), from the minute rollups and the issues' user counts,
//! never by scanning events.
//!
//! One alert per episode: a threshold alert is not fired again while the previous one for the
//! same rule and subject is open, nor within the rule's cooldown after it; rules that ask for
//! it resolve their alert when the count is back under the line. Two leaders racing for the
//! same slot (a lease handed over mid-run) fire once: the alert's key is the slot.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use mesher_store::{Alert, AlertRule, AlertState, Firing, NewAlert, Store, to_millis};
use time::OffsetDateTime;

use super::engine::deliveries;
use super::rule::{Filters, Metric, Per, Threshold, Trigger};
use crate::cluster::{Bus, ClusterJob};

/// Minute rollups older than this are pruned: the longest window, and an hour of slack.
const KEEP_MINUTES: time::Duration = time::Duration::minutes(super::rule::MAX_WINDOW_MINUTES + 60);
/// Distinct-user thresholds look at issues seen this recently.
const USERS_SEEN_WITHIN: time::Duration = time::Duration::days(1);

/// The threshold job.
pub struct ThresholdJob {
    interval: Duration,
    bus: Arc<Bus>,
    node: String,
}

impl ThresholdJob {
    /// A check every `interval`, announcing alerts on `bus` as node `node`.
    pub fn new(interval: Duration, bus: Arc<Bus>, node: String) -> Self {
        ThresholdJob {
            interval,
            bus,
            node,
        }
    }

    /// One check at `now`: fires, resolves and prunes; answers the alerts fired.
    pub async fn check(&self, store: &dyn Store, now: OffsetDateTime) -> anyhow::Result<usize> {
        let slot = to_millis(now) / (self.interval.as_millis().max(1) as i64);
        let mut fired = Vec::new();
        for rule in store.enabled_alert_rules("threshold").await? {
            let Ok(Trigger::Threshold(t)) = serde_json::from_value::<Trigger>(rule.trigger.clone())
            else {
                continue;
            };
            let filters = Filters::parse(&rule.filters).unwrap_or_default();
            let over = over_the_line(store, &rule, &t, &filters, now).await?;
            let open = store.open_alerts(rule.id).await?;
            if t.auto_resolve {
                resolve_cleared(store, &open, &over, now).await?;
            }
            // A subject whose alert is still open is held back by the firing anyway: skipping
            // it here saves its issue's read and a transaction every check of the episode.
            let still_open: HashSet<Option<i64>> = open
                .iter()
                .filter(|a| over.contains_key(&a.issue_id))
                .map(|a| a.issue_id)
                .collect();
            let mut alerts = Vec::new();
            for (subject, value) in over.iter().filter(|(s, _)| !still_open.contains(*s)) {
                let summary = summary(store, &t, *subject, *value).await?;
                alerts.push(NewAlert {
                    rule_id: rule.id,
                    project_id: rule.project_id,
                    issue_id: *subject,
                    dedupe_key: format!(
                        "threshold-{}-{slot}",
                        subject.map_or("project".to_string(), |i| i.to_string())
                    ),
                    kind: "threshold".into(),
                    summary,
                    auto_resolve: t.auto_resolve,
                    skip_if_open: true,
                    deliveries: deliveries(&rule),
                });
            }
            if alerts.is_empty() {
                continue;
            }
            let firing = Firing {
                trigger_id: None,
                alerts,
                at: now,
            };
            for alert in store.fire_alerts(&firing).await? {
                tracing::info!(
                    alert = alert.id,
                    rule = alert.rule_id,
                    "threshold alert fired"
                );
                fired.push((alert.project_id, alert.id));
            }
        }
        store.prune_minute_counts(now - KEEP_MINUTES).await?;
        let n = fired.len();
        self.bus.announce_alerts(&self.node, fired);
        Ok(n)
    }
}

/// The subjects over the rule's line with their counts: issues, or `None` for the project.
async fn over_the_line(
    store: &dyn Store,
    rule: &AlertRule,
    t: &Threshold,
    filters: &Filters,
    now: OffsetDateTime,
) -> anyhow::Result<HashMap<Option<i64>, i64>> {
    let over = match t.metric {
        Metric::Events => {
            // The current minute and the whole minutes before it: M minute rollups.
            let minute = now.replace_nanosecond(0)?.replace_second(0)?;
            let since = minute - time::Duration::minutes(t.minutes.unwrap_or(1).max(1) - 1);
            let counts = store
                .recent_issue_counts(rule.project_id, since, filters.environment.as_deref())
                .await?;
            match t.per {
                Per::Issue => counts
                    .into_iter()
                    .filter(|(_, n)| *n > t.count)
                    .map(|(i, n)| (Some(i), n))
                    .collect(),
                Per::Project => {
                    let total: i64 = counts.iter().map(|(_, n)| n).sum();
                    if total > t.count {
                        HashMap::from([(None, total)])
                    } else {
                        HashMap::new()
                    }
                }
            }
        }
        Metric::Users => store
            .issues_over_users(rule.project_id, t.count, now - USERS_SEEN_WITHIN)
            .await?
            .into_iter()
            .map(|(i, n)| (Some(i), n))
            .collect(),
    };
    Ok(over)
}

/// Resolves the rule's open alerts whose subject is no longer over the line.
async fn resolve_cleared(
    store: &dyn Store,
    open: &[Alert],
    over: &HashMap<Option<i64>, i64>,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    for alert in open {
        if alert.auto_resolve && !over.contains_key(&alert.issue_id) {
            store
                .set_alert_state(
                    alert.id,
                    AlertState::Resolved,
                    None,
                    Some("the count is back under the line"),
                    now,
                )
                .await?;
        }
    }
    Ok(())
}

async fn summary(
    store: &dyn Store,
    t: &Threshold,
    subject: Option<i64>,
    value: i64,
) -> anyhow::Result<String> {
    let what = match t.metric {
        Metric::Events => format!(
            "{value} events in {} minutes (more than {})",
            t.minutes.unwrap_or(1),
            t.count
        ),
        Metric::Users => format!("{value} users (more than {})", t.count),
    };
    Ok(match subject {
        Some(issue) => match store.issue(issue).await? {
            Some(i) => format!("{what}: {}", i.title),
            None => what,
        },
        None => format!("{what} in the project"),
    })
}

impl ClusterJob for ThresholdJob {
    fn name(&self) -> &'static str {
        "alert-thresholds"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn run<'a>(
        &'a self,
        store: &'a dyn Store,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.check(store, now).await?;
            Ok(())
        })
    }
}
