//! The deliveries' outbox (ALERT-04): every node claims due deliveries for a while, makes one
//! attempt at each through the [`Notifier`], logs it, and schedules the next one with backoff
//! until the delivery succeeds, fails for good, or has been failing for an hour.
//!
//! Deliveries are written with the alert in its firing transaction, so a crash between firing
//! and sending loses none: after a restart the node releases its own claims at once, and any
//! other node takes a dead node's claims when their lease runs out. Each attempt carries the
//! delivery's idempotency key, so that the one case where a receiver can see a delivery twice
//! (the node died after the receiver answered and before the answer was recorded) can be
//! dropped by the receiver.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use mesher_store::{AttemptResult, Delivery, DeliveryAttempt, Store};
use time::OffsetDateTime;
use url::Url;

use super::notify::notice::{AlertPart, IssuePart, ProjectPart, RulePart};
use super::notify::{DeliveryError, Notice, Notifier, RETRY_FOR, Target, retry_delay};
use crate::cluster::{Bus, BusMessage};
use crate::services::{Service, ServiceContext};

/// How long a claim holds a delivery: longer than an attempt can take (an HTTP request times
/// out after 10 s, an SMTP exchange after a minute).
const CLAIM_LEASE: time::Duration = time::Duration::minutes(3);
/// Deliveries claimed at once.
const CLAIM_BATCH: usize = 32;
/// Attempts under way at once: one slow receiver must not hold up the others.
const IN_FLIGHT: usize = 8;
/// Looks for due deliveries this often (retries come due by the clock, not by news).
const POLL: Duration = Duration::from_secs(1);

/// The outbox's service.
pub struct Outbox {
    store: Arc<dyn Store>,
    notifier: Arc<Notifier>,
    bus: Arc<Bus>,
    node: String,
    public_url: Url,
    first_retry: Duration,
}

impl Outbox {
    /// The outbox of node `node`: attempts through `notifier`, links from `public_url`, the
    /// first retry `first_retry` after a failure (doubling from there).
    pub fn new(
        store: Arc<dyn Store>,
        notifier: Arc<Notifier>,
        bus: Arc<Bus>,
        node: String,
        public_url: Url,
        first_retry: Duration,
    ) -> Self {
        Outbox {
            store,
            notifier,
            bus,
            node,
            public_url,
            first_retry,
        }
    }

    /// Attempts every due delivery once; answers how many attempts were made.
    pub async fn run_due(&self) -> anyhow::Result<usize> {
        let mut attempted = 0;
        loop {
            let now = mesher_store::now();
            let due = self
                .store
                .claim_deliveries(&self.node, now, now + CLAIM_LEASE, CLAIM_BATCH)
                .await?;
            if due.is_empty() {
                return Ok(attempted);
            }
            attempted += due.len();
            let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(due)
                .map(|d| self.attempt(d))
                .buffer_unordered(IN_FLIGHT)
                .collect()
                .await;
            for r in results {
                r?;
            }
        }
    }

    async fn attempt(&self, d: Delivery) -> anyhow::Result<()> {
        let started = Instant::now();
        let at = mesher_store::now();
        let outcome = match self.prepare(&d).await? {
            Some((target, notice)) => {
                self.notifier
                    .deliver(&target, &notice, &d.idempotency_key)
                    .await
            }
            // The alert or its rule is gone (deleted since): nothing to say any more.
            None => Err(DeliveryError {
                retryable: false,
                status: None,
                message: "the alert or its rule was deleted".into(),
            }),
        };
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (attempt, result) = match outcome {
            Ok(delivered) => (
                DeliveryAttempt {
                    at,
                    status: delivered.status.map(i32::from),
                    error: None,
                    duration_ms,
                },
                AttemptResult::Delivered,
            ),
            Err(e) => {
                let result = self.next_step(&d, &e, at);
                tracing::info!(delivery = d.id, alert = d.alert_id, error = %e.message, ?result, "alert delivery failed");
                (
                    DeliveryAttempt {
                        at,
                        status: e.status.map(i32::from),
                        error: Some(e.message),
                        duration_ms,
                    },
                    result,
                )
            }
        };
        match self.store.record_attempt(d.id, &attempt, result).await {
            // Deleted with its alert meanwhile.
            Err(mesher_store::StoreError::NotFound(_)) => Ok(()),
            other => Ok(other?),
        }
    }

    /// After a failed attempt: again later with backoff, while retrying makes sense and the
    /// delivery has not been failing for [`RETRY_FOR`].
    fn next_step(&self, d: &Delivery, e: &DeliveryError, at: OffsetDateTime) -> AttemptResult {
        let attempts = u32::try_from(d.attempts + 1).unwrap_or(u32::MAX);
        let next = at + scaled(retry_delay(attempts), self.first_retry);
        let deadline = d.created_at + RETRY_FOR;
        if e.retryable && next <= deadline {
            AttemptResult::RetryAt(next)
        } else {
            AttemptResult::GiveUp
        }
    }

    /// The target (with the rule's secret, and the members' addresses for an e-mail to
    /// nobody in particular) and the notice of a delivery; `None` when its alert or rule is
    /// gone.
    async fn prepare(&self, d: &Delivery) -> anyhow::Result<Option<(Target, Notice)>> {
        let store = self.store.as_ref();
        let Some(alert) = store.alert(d.alert_id).await? else {
            return Ok(None);
        };
        let Some(rule) = store.alert_rule(alert.rule_id).await? else {
            return Ok(None);
        };
        let Some(project) = store.project(alert.project_id).await? else {
            return Ok(None);
        };
        let mut target: Target = serde_json::from_value(d.target.clone())?;
        match &mut target {
            Target::Webhook { secret, .. } => secret.clone_from(&rule.secret),
            Target::Email { to } if to.is_empty() => {
                *to = store
                    .list_members(project.org_id)
                    .await?
                    .into_iter()
                    .map(|m| m.user.email)
                    .collect();
            }
            Target::Email { .. } => {}
        }
        let link = |path: &str| {
            self.public_url
                .join(path)
                .map_or_else(|_| path.to_string(), String::from)
        };
        let issue = match alert.issue_id {
            Some(id) => store.issue(id).await?.map(|i| IssuePart {
                id: i.id,
                url: link(&format!("projects/{}/issues/{}", project.id, i.id)),
                title: i.title,
                culprit: i.culprit,
                level: i.level,
            }),
            None => None,
        };
        let notice = Notice {
            alert: AlertPart {
                id: alert.id,
                kind: alert.kind.clone(),
                state: alert.state.as_str().into(),
                fired_at: alert.fired_at,
                summary: alert.summary.clone(),
                url: link(&format!("projects/{}/alerts/{}", project.id, alert.id)),
            },
            rule: RulePart {
                id: rule.id,
                name: rule.name,
            },
            issue,
            project: ProjectPart {
                id: project.id,
                url: link(&format!("projects/{}", project.id)),
                name: project.name,
                slug: project.slug,
            },
        };
        Ok(Some((target, notice)))
    }
}

/// `delay`, computed for a first retry of 10 s, for a first retry of `first` instead.
fn scaled(delay: Duration, first: Duration) -> time::Duration {
    let factor = first.as_secs_f64() / 10.0;
    time::Duration::seconds_f64(delay.as_secs_f64() * factor)
}

impl Service for Outbox {
    fn name(&self) -> &'static str {
        "alert-outbox"
    }

    fn run(self: Arc<Self>, ctx: ServiceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let mut bus = self.bus.subscribe();
            // This node restarted (or its service did): it holds nothing now.
            match ctx.busy(self.store.release_deliveries(&self.node)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    deliveries = n,
                    "released the alert deliveries this node held before it restarted"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot release this node's alert deliveries"),
            }
            loop {
                if let Err(e) = ctx.busy(self.run_due()).await {
                    tracing::warn!(error = %format!("{e:#}"), "alert outbox: cannot deliver now");
                }
                let news = |m: &BusMessage| matches!(m, BusMessage::Alerts { .. });
                let woken = ctx.wait(super::news_or_timeout(&mut bus, POLL, news)).await;
                if woken.is_none() {
                    return Ok(());
                }
            }
        })
    }
}
