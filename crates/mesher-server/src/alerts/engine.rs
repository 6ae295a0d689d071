//! The alert engine: turns the issue changes the writer recorded (new issue, regression,
//! escalation) into alerts, once each, on whichever node claims them first (ALERT-02).
//!
//! The writer decided the change in its commit and recorded it there, so nothing is re-queried
//! per event and nothing is lost to a crash after the commit. Every node runs the engine: it
//! wakes when the bus says issues changed (its own writer's or a peer's) and every few seconds
//! regardless, claims the waiting changes for a lease, matches each against the project's
//! rules (those that existed when the change was received), and fires in one transaction that
//! consumes the change. A node that dies holding a claim leaves it to the next claimer when the
//! lease runs out; firing twice is impossible because the change is deleted with the firing and
//! alerts are unique per rule and change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use mesher_store::{AlertRule, AlertTrigger, Firing, NewAlert, Store};

use super::rule::{Filters, Trigger};
use crate::cluster::{Bus, BusMessage};
use crate::services::{Service, ServiceContext};

/// How long a claim holds a change: firing takes milliseconds, so this only delays a change
/// whose claimer died.
const CLAIM_LEASE: time::Duration = time::Duration::seconds(30);
/// Changes claimed at once.
const CLAIM_BATCH: usize = 100;
/// Looks for waiting changes this often even without news on the bus (another node's changes
/// when the bus dropped a message, a dead claimer's expired lease).
const POLL: Duration = Duration::from_secs(5);

/// The engine's service.
pub struct AlertEngine {
    store: Arc<dyn Store>,
    bus: Arc<Bus>,
    node: String,
}

impl AlertEngine {
    /// The engine of node `node`, woken by `bus` and announcing what fires there.
    pub fn new(store: Arc<dyn Store>, bus: Arc<Bus>, node: String) -> Self {
        AlertEngine { store, bus, node }
    }

    /// Fires what the waiting changes call for until none are left; answers how many alerts
    /// fired.
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut fired = 0;
        loop {
            let now = mesher_store::now();
            let claimed = self
                .store
                .claim_alert_triggers(now, now + CLAIM_LEASE, CLAIM_BATCH)
                .await?;
            if claimed.is_empty() {
                return Ok(fired);
            }
            let mut rules: HashMap<String, Vec<AlertRule>> = HashMap::new();
            for t in &claimed {
                if !rules.contains_key(&t.kind) {
                    let of_kind = self.store.enabled_alert_rules(&t.kind).await?;
                    rules.insert(t.kind.clone(), of_kind);
                }
            }
            let mut announced = Vec::new();
            // Most changes match no rule (most projects have none): those go in one statement,
            // not a transaction each.
            let mut unmatched = Vec::new();
            for t in claimed {
                let matching: Vec<&AlertRule> = rules[&t.kind]
                    .iter()
                    .filter(|r| r.project_id == t.project_id && passes(r, &t))
                    .collect();
                let alerts = self.alerts_for(&t, &matching).await?;
                if alerts.is_empty() {
                    unmatched.push(t.id);
                    continue;
                }
                let firing = Firing {
                    trigger_id: Some(t.id),
                    alerts,
                    at: mesher_store::now(),
                };
                for alert in self.store.fire_alerts(&firing).await? {
                    tracing::info!(alert = alert.id, rule = alert.rule_id, kind = %alert.kind, "alert fired");
                    announced.push((alert.project_id, alert.id));
                }
            }
            self.store.drop_alert_triggers(&unmatched).await?;
            fired += announced.len();
            self.bus.announce_alerts(&self.node, announced);
        }
    }

    async fn alerts_for(
        &self,
        t: &AlertTrigger,
        rules: &[&AlertRule],
    ) -> anyhow::Result<Vec<NewAlert>> {
        if rules.is_empty() {
            return Ok(Vec::new());
        }
        let title = match self.store.issue(t.issue_id).await? {
            Some(issue) => issue.title,
            // Deleted since: the firing would skip it anyway.
            None => return Ok(Vec::new()),
        };
        let what = match t.kind.as_str() {
            "new_issue" => "New issue",
            "regression" => "Regression",
            _ => "Escalation",
        };
        Ok(rules
            .iter()
            .map(|r| NewAlert {
                rule_id: r.id,
                project_id: t.project_id,
                issue_id: Some(t.issue_id),
                dedupe_key: format!("change-{}", t.id),
                kind: t.kind.clone(),
                summary: format!("{what}: {title}"),
                auto_resolve: false,
                skip_if_open: false,
                deliveries: deliveries(r),
            })
            .collect())
    }
}

/// The rule's actions, one delivery each.
pub(crate) fn deliveries(rule: &AlertRule) -> Vec<serde_json::Value> {
    rule.actions.as_array().cloned().unwrap_or_default()
}

/// Whether a change passes the rule's trigger and filters; a rule stored by another version
/// that this one cannot read passes nothing.
fn passes(rule: &AlertRule, t: &AlertTrigger) -> bool {
    // A rule answers what arrives once it exists, as Sentry's do, not a backlog from before
    // it: changes written while no node ran (an import, a restored database) or waiting behind
    // a busy engine would otherwise fire thousands of alerts the moment a first rule is made.
    if t.created_at < rule.created_at {
        return false;
    }
    let Ok(trigger) = serde_json::from_value::<Trigger>(rule.trigger.clone()) else {
        return false;
    };
    if trigger.kind() != t.kind {
        return false;
    }
    Filters::parse(&rule.filters).is_ok_and(|f| f.matches_event(&t.event))
}

impl Service for AlertEngine {
    fn name(&self) -> &'static str {
        "alert-engine"
    }

    fn run(self: Arc<Self>, ctx: ServiceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let mut bus = self.bus.subscribe();
            loop {
                if let Err(e) = ctx.busy(self.drain()).await {
                    // The database is away: waiting changes keep until it is back.
                    tracing::warn!(error = %format!("{e:#}"), "alert engine: cannot fire alerts now");
                }
                let news =
                    |m: &BusMessage| matches!(m, BusMessage::Issues { .. } | BusMessage::Resync);
                let woken = ctx.wait(super::news_or_timeout(&mut bus, POLL, news)).await;
                if woken.is_none() {
                    return Ok(());
                }
            }
        })
    }
}
