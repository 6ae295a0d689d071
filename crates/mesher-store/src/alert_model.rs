//! Alerts as stored (issue 16): rules, the issue changes waiting for them, alerts with their
//! history, and the deliveries' outbox.
//!
//! A rule's trigger, filters and actions are JSON documents that the server validates and
//! interprets; the store keeps them whole and owns only what must be atomic: an alert fires once
//! per rule and `dedupe_key`, respects its rule's cooldown, and its deliveries are written with
//! it.

use std::str::FromStr;

use serde_json::Value;
use time::OffsetDateTime;

use crate::StoreError;

/// A rule to create.
#[derive(Debug, Clone)]
pub struct NewAlertRule<'a> {
    /// The project it watches.
    pub project_id: i64,
    /// A name people recognize.
    pub name: &'a str,
    /// When it fires (`{"type": …}`).
    pub trigger: &'a Value,
    /// Which events or issues count.
    pub filters: &'a Value,
    /// What firing does (`[{"type": …}, …]`).
    pub actions: &'a Value,
    /// The webhook signing secret.
    pub secret: &'a str,
    /// No second alert of the rule for the same issue (or project) within this many minutes.
    pub cooldown_minutes: i64,
    /// Disabled rules fire nothing.
    pub enabled: bool,
    /// Who made it.
    pub created_by: Option<i64>,
}

/// A rule's changeable parts (the secret stays).
#[derive(Debug, Clone)]
pub struct AlertRuleUpdate<'a> {
    /// See [`NewAlertRule`].
    pub name: &'a str,
    /// See [`NewAlertRule`].
    pub trigger: &'a Value,
    /// See [`NewAlertRule`].
    pub filters: &'a Value,
    /// See [`NewAlertRule`].
    pub actions: &'a Value,
    /// See [`NewAlertRule`].
    pub cooldown_minutes: i64,
    /// See [`NewAlertRule`].
    pub enabled: bool,
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// Its name.
    pub name: String,
    /// When it fires.
    pub trigger: Value,
    /// Which events or issues count.
    pub filters: Value,
    /// What firing does.
    pub actions: Value,
    /// The webhook signing secret.
    pub secret: String,
    /// The cooldown, in minutes.
    pub cooldown_minutes: i64,
    /// Whether it fires.
    pub enabled: bool,
    /// Who made it.
    pub created_by: Option<i64>,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// An issue change the writer recorded with its commit, waiting for the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertTrigger {
    /// Its id (unique: it keys the alerts it fires).
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The issue that changed.
    pub issue_id: i64,
    /// `new_issue`, `regression` or `escalation`.
    pub kind: String,
    /// The event that made the change: `level`, `environment`, `release`, `tags` (an object).
    pub event: Value,
    /// When the change was committed.
    pub created_at: OffsetDateTime,
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    /// Fired, nobody has looked.
    Active,
    /// Someone is on it.
    Acknowledged,
    /// Over, by a person or (thresholds that ask for it) because the condition cleared.
    Resolved,
}

impl AlertState {
    /// The stored and JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Active => "active",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    /// Whether a person may move an alert from this state to `to`: forward only.
    pub fn may_become(self, to: AlertState) -> bool {
        matches!(
            (self, to),
            (AlertState::Active, AlertState::Acknowledged)
                | (AlertState::Active, AlertState::Resolved)
                | (AlertState::Acknowledged, AlertState::Resolved)
        )
    }
}

impl FromStr for AlertState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(AlertState::Active),
            "acknowledged" => Ok(AlertState::Acknowledged),
            "resolved" => Ok(AlertState::Resolved),
            other => Err(StoreError::Invalid {
                field: "state",
                message: format!("{other:?} is not active, acknowledged or resolved"),
            }),
        }
    }
}

/// An alert to fire, with its deliveries.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// The rule that fires.
    pub rule_id: i64,
    /// Its project.
    pub project_id: i64,
    /// The issue it is about; `None` for a project-wide threshold.
    pub issue_id: Option<i64>,
    /// Unique per rule: a second firing with the same key is no firing.
    pub dedupe_key: String,
    /// The trigger's type, or `test` for a test a person asked for: never held back by, nor
    /// holding back, the cooldown and open-alert checks.
    pub kind: String,
    /// One line for people.
    pub summary: String,
    /// Resolved by itself when its condition clears (thresholds that ask for it).
    pub auto_resolve: bool,
    /// Not fired while an alert of the same rule and issue is still open (thresholds: one
    /// alert per episode).
    pub skip_if_open: bool,
    /// One target per action (JSON), each delivered once.
    pub deliveries: Vec<Value>,
}

/// Alerts to fire in one transaction, consuming the trigger that caused them.
#[derive(Debug, Clone)]
pub struct Firing {
    /// The claimed trigger, deleted with the firing; when another node consumed it first,
    /// nothing fires.
    pub trigger_id: Option<i64>,
    /// The alerts.
    pub alerts: Vec<NewAlert>,
    /// Now.
    pub at: OffsetDateTime,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its id.
    pub id: i64,
    /// The rule that fired it.
    pub rule_id: i64,
    /// Its project.
    pub project_id: i64,
    /// The issue, unless project-wide (or the issue was deleted since).
    pub issue_id: Option<i64>,
    /// What made the firing unique.
    pub dedupe_key: String,
    /// The trigger's type.
    pub kind: String,
    /// Its state.
    pub state: AlertState,
    /// One line for people.
    pub summary: String,
    /// Whether it resolves itself.
    pub auto_resolve: bool,
    /// When it fired.
    pub fired_at: OffsetDateTime,
    /// When its state last changed.
    pub updated_at: OffsetDateTime,
}

/// One change of an alert's state.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertHistoryEntry {
    /// The state it entered.
    pub state: AlertState,
    /// Who moved it; `None` for Mesher itself.
    pub actor_id: Option<i64>,
    /// Why, when said.
    pub note: Option<String>,
    /// When.
    pub at: OffsetDateTime,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not delivered yet; retried when due.
    Pending,
    /// Delivered (the receiver answered 2xx, or the SMTP server accepted it).
    Delivered,
    /// Given up.
    Failed,
}

impl DeliveryState {
    /// The stored and JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

impl FromStr for DeliveryState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(DeliveryState::Pending),
            "delivered" => Ok(DeliveryState::Delivered),
            "failed" => Ok(DeliveryState::Failed),
            other => Err(StoreError::Invalid {
                field: "delivery state",
                message: format!("{other:?} is not pending, delivered or failed"),
            }),
        }
    }
}

/// One action of one alert, in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Its id.
    pub id: i64,
    /// Its alert.
    pub alert_id: i64,
    /// The action (JSON, as the rule had it when the alert fired).
    pub target: Value,
    /// Sent with every attempt, so that a receiver can drop a repeat.
    pub idempotency_key: String,
    /// Where it is.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: i64,
    /// When the next attempt is due (while pending).
    pub next_attempt_at: OffsetDateTime,
    /// When it entered the outbox.
    pub created_at: OffsetDateTime,
    /// When it was delivered.
    pub delivered_at: Option<OffsetDateTime>,
    /// The last failure.
    pub last_error: Option<String>,
}

/// One attempt at a delivery, as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    /// When it started.
    pub at: OffsetDateTime,
    /// The receiver's HTTP status (or SMTP reply code), when it answered.
    pub status: Option<i32>,
    /// What went wrong, if it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// What an attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// Delivered.
    Delivered,
    /// Try again at this time.
    RetryAt(OffsetDateTime),
    /// Give up.
    GiveUp,
}
