//! Alert rules and alerts (issue 16): `/api/v1/projects/{project_id}/alert-rules` and
//! `/api/v1/projects/{project_id}/alerts`.

use axum::extract::State;
use axum::http::StatusCode;
use mesher_store::{Alert, AlertHistoryEntry, AlertRule, Delivery, DeliveryAttempt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::auth::Caller;
use super::extract::{Json, Path, QueryPairs};
use crate::error::ApiError;
use crate::ops::Ops;
use crate::ops::alerts::{self as ops_alerts, RuleInput};
use crate::state::AppState;

/// The cooldown when a rule does not say (Sentry's default action interval).
const DEFAULT_COOLDOWN_MINUTES: i64 = 30;

/// A rule to create or replace.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    /// A name people recognize.
    pub name: String,
    /// `{"type": "new_issue" | "regression" | "escalation" | "threshold", …}`; a threshold has
    /// `count` (fires when more), `metric` (`events` or `users`), `minutes` (the window, for
    /// events), `per` (`issue` or `project`) and `auto_resolve`.
    #[schema(value_type = Object)]
    pub trigger: Value,
    /// `{"environment", "level" (at least), "release", "tag": "key=value" | [...]}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filters: Value,
    /// `[{"type": "webhook", "url", "format": "generic" | "slack" | "discord"} |
    /// {"type": "email", "to": [...]}]`; every alert also reaches the dashboard.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub actions: Value,
    /// No second alert for the same issue (or project) within this many minutes (30).
    pub cooldown_minutes: Option<i64>,
    /// Whether it fires (true).
    pub enabled: Option<bool>,
}

impl RuleRequest {
    fn input(&self) -> RuleInput<'_> {
        RuleInput {
            name: &self.name,
            trigger: &self.trigger,
            filters: &self.filters,
            actions: &self.actions,
            cooldown_minutes: self.cooldown_minutes.unwrap_or(DEFAULT_COOLDOWN_MINUTES),
            enabled: self.enabled.unwrap_or(true),
        }
    }
}

/// A rule (never its secret, except once at creation).
#[derive(Serialize, ToSchema)]
pub struct RuleBody {
    /// Id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// Name.
    pub name: String,
    /// When it fires.
    #[schema(value_type = Object)]
    pub trigger: Value,
    /// Which events count.
    #[schema(value_type = Object)]
    pub filters: Value,
    /// What firing does.
    #[schema(value_type = Vec<Object>)]
    pub actions: Value,
    /// Cooldown, minutes.
    pub cooldown_minutes: i64,
    /// Whether it fires.
    pub enabled: bool,
    /// The webhook signing secret: in the creation's answer only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl RuleBody {
    fn new(r: AlertRule, with_secret: bool) -> Self {
        RuleBody {
            id: r.id,
            project_id: r.project_id,
            name: r.name,
            trigger: r.trigger,
            filters: r.filters,
            actions: r.actions,
            cooldown_minutes: r.cooldown_minutes,
            enabled: r.enabled,
            secret: with_secret.then_some(r.secret),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// An alert.
#[derive(Serialize, ToSchema)]
pub struct AlertBody {
    /// Id.
    pub id: i64,
    /// The rule that fired it.
    pub rule_id: i64,
    /// Its project.
    pub project_id: i64,
    /// The issue, unless project-wide.
    pub issue_id: Option<i64>,
    /// The trigger's type.
    pub kind: String,
    /// active, acknowledged or resolved.
    pub state: String,
    /// One line.
    pub summary: String,
    /// Resolves itself when the condition clears.
    pub auto_resolve: bool,
    /// Fired.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub fired_at: OffsetDateTime,
    /// State last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<Alert> for AlertBody {
    fn from(a: Alert) -> Self {
        AlertBody {
            id: a.id,
            rule_id: a.rule_id,
            project_id: a.project_id,
            issue_id: a.issue_id,
            kind: a.kind,
            state: a.state.as_str().into(),
            summary: a.summary,
            auto_resolve: a.auto_resolve,
            fired_at: a.fired_at,
            updated_at: a.updated_at,
        }
    }
}

/// One change of an alert's state.
#[derive(Serialize, ToSchema)]
pub struct HistoryBody {
    /// The state entered.
    pub state: String,
    /// Who; null for Mesher itself.
    pub actor_id: Option<i64>,
    /// Why.
    pub note: Option<String>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

impl From<AlertHistoryEntry> for HistoryBody {
    fn from(h: AlertHistoryEntry) -> Self {
        HistoryBody {
            state: h.state.as_str().into(),
            actor_id: h.actor_id,
            note: h.note,
            at: h.at,
        }
    }
}

/// One attempt at a delivery.
#[derive(Serialize, ToSchema)]
pub struct AttemptBody {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// The receiver's HTTP status or SMTP reply code.
    pub status: Option<i32>,
    /// What went wrong.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// A delivery of the alert to one action, with its attempts.
#[derive(Serialize, ToSchema)]
pub struct DeliveryBody {
    /// Id.
    pub id: i64,
    /// The action.
    #[schema(value_type = Object)]
    pub target: Value,
    /// Sent with each attempt (`Idempotency-Key`).
    pub idempotency_key: String,
    /// pending, delivered or failed.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When the next attempt is due, while pending.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub next_attempt_at: OffsetDateTime,
    /// When it was delivered.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<OffsetDateTime>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<AttemptBody>,
}

impl From<(Delivery, Vec<DeliveryAttempt>)> for DeliveryBody {
    fn from((d, attempts): (Delivery, Vec<DeliveryAttempt>)) -> Self {
        DeliveryBody {
            id: d.id,
            target: d.target,
            idempotency_key: d.idempotency_key,
            state: d.state.as_str().into(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            last_error: d.last_error,
            attempt_log: attempts
                .into_iter()
                .map(|a| AttemptBody {
                    at: a.at,
                    status: a.status,
                    error: a.error,
                    duration_ms: a.duration_ms,
                })
                .collect(),
        }
    }
}

/// An alert with its history and deliveries.
#[derive(Serialize, ToSchema)]
pub struct AlertDetailBody {
    /// The alert.
    #[serde(flatten)]
    pub alert: AlertBody,
    /// Its states, oldest first.
    pub history: Vec<HistoryBody>,
    /// Its deliveries.
    pub deliveries: Vec<DeliveryBody>,
}

/// A change of an alert's state.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertStateRequest {
    /// `acknowledged` or `resolved`.
    pub state: String,
    /// Why (kept in the history).
    pub note: Option<String>,
}

/// Create an alert rule; for webhooks, the answer carries the signing `secret`, once.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/alert-rules", tag = "alerts",
    params(("project_id" = i64, Path, description = "Project id")), request_body = RuleRequest,
    responses((status = 201, body = RuleBody)))]
pub async fn create_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<i64>,
    Json(body): Json<RuleRequest>,
) -> Result<(StatusCode, axum::Json<RuleBody>), ApiError> {
    let rule = ops_alerts::create_rule(
        Ops::Node(&state),
        (&caller).into(),
        project_id,
        &body.input(),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(RuleBody::new(rule, true))))
}

/// A project's alert rules.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/alert-rules", tag = "alerts",
    params(("project_id" = i64, Path, description = "Project id")),
    responses((status = 200, body = Vec<RuleBody>)))]
pub async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<i64>,
) -> Result<axum::Json<Vec<RuleBody>>, ApiError> {
    let rules = ops_alerts::list_rules(Ops::Node(&state), (&caller).into(), project_id).await?;
    Ok(axum::Json(
        rules.into_iter().map(|r| RuleBody::new(r, false)).collect(),
    ))
}

/// One alert rule.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/alert-rules/{rule_id}", tag = "alerts",
    params(("project_id" = i64, Path, description = "Project id"), ("rule_id" = i64, Path, description = "Rule id")),
    responses((status = 200, body = RuleBody)))]
pub async fn get_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, rule_id)): Path<(i64, i64)>,
) -> Result<axum::Json<RuleBody>, ApiError> {
    let rule = ops_alerts::rule(
        Ops::Node(&state),
        (&caller).into(),
        project_id,
        rule_id,
        mesher_store::Scope::Read,
    )
    .await?;
    Ok(axum::Json(RuleBody::new(rule, false)))
}

/// Replace an alert rule (its secret stays).
#[utoipa::path(put, path = "/api/v1/projects/{project_id}/alert-rules/{rule_id}", tag = "alerts",
    params(("project_id" = i64, Path, description = "Project id"), ("rule_id" = i64, Path, description = "Rule id")),
    request_body = RuleRequest, responses((status = 200, body = RuleBody)))]
pub async fn update_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, rule_id)): Path<(i64, i64)>,
    Json(body): Json<RuleRequest>,
) -> Result<axum::Json<RuleBody>, ApiError> {
    let rule = ops_alerts::update_rule(
        Ops::Node(&state),
        (&caller).into(),
        project_id,
        rule_id,
        &body.input(),
    )
    .await?;
    Ok(axum::Json(RuleBody::new(rule, false)))
}

/// Delete an alert rule and its alerts.
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/alert-rules/{rule_id}", tag = "alerts",
    params(("project_id" = i64, Path, description = "Project id"), ("rule_id" = i64, Path, description = "Rule id")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, rule_id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    ops_alerts::delete_rule(Ops::Node(&state), (&caller).into(), project_id, rule_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a test alert of a rule to its actions (and the dashboard), whatever the cooldown.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/alert-rules/{rule_id}/test", tag = "alerts",
    params(("project_id" = i64, Path, description = "Project id"), ("rule_id" = i64, Path, description = "Rule id")),
    responses((status = 201, body = AlertBody)))]
pub async fn send_test(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, rule_id)): Path<(i64, i64)>,
) -> Result<(StatusCode, axum::Json<AlertBody>), ApiError> {
    let alert =
        ops_alerts::send_test(Ops::Node(&state), (&caller).into(), project_id, rule_id).await?;
    Ok((StatusCode::CREATED, axum::Json(alert.into())))
}

/// A project's alerts, newest first; `state` filters, `limit` caps (100, at most 500).
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/alerts", tag = "alerts",
    params(("project_id" = i64, Path, description = "Project id"),
        ("state" = Option<String>, Query, description = "active, acknowledged or resolved"),
        ("limit" = Option<usize>, Query, description = "At most this many (100)")),
    responses((status = 200, body = Vec<AlertBody>)))]
pub async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<i64>,
    q: QueryPairs,
) -> Result<axum::Json<Vec<AlertBody>>, ApiError> {
    let wanted = match q.get("state") {
        None => None,
        Some(s) => Some(s.parse().map_err(|_| {
            ApiError::BadRequest(format!(
                "state: {s:?} is not active, acknowledged or resolved"
            ))
        })?),
    };
    let limit = q
        .parse("limit", |v| v.parse::<usize>().ok())?
        .unwrap_or(100);
    let alerts = ops_alerts::list_alerts(
        Ops::Node(&state),
        (&caller).into(),
        project_id,
        wanted,
        limit,
    )
    .await?;
    Ok(axum::Json(alerts.into_iter().map(Into::into).collect()))
}

/// One alert with its history and its deliveries' attempts.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/alerts/{alert_id}", tag = "alerts",
    params(("project_id" = i64, Path, description = "Project id"), ("alert_id" = i64, Path, description = "Alert id")),
    responses((status = 200, body = AlertDetailBody)))]
pub async fn get_alert(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, alert_id)): Path<(i64, i64)>,
) -> Result<axum::Json<AlertDetailBody>, ApiError> {
    let (alert, history, deliveries) =
        ops_alerts::alert_detail(Ops::Node(&state), (&caller).into(), project_id, alert_id).await?;
    Ok(axum::Json(AlertDetailBody {
        alert: alert.into(),
        history: history.into_iter().map(Into::into).collect(),
        deliveries: deliveries.into_iter().map(Into::into).collect(),
    }))
}

/// Acknowledge or resolve an alert.
#[utoipa::path(put, path = "/api/v1/projects/{project_id}/alerts/{alert_id}", tag = "alerts",
    params(("project_id" = i64, Path, description = "Project id"), ("alert_id" = i64, Path, description = "Alert id")),
    request_body = AlertStateRequest, responses((status = 200, body = AlertBody)))]
pub async fn set_alert_state(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, alert_id)): Path<(i64, i64)>,
    Json(body): Json<AlertStateRequest>,
) -> Result<axum::Json<AlertBody>, ApiError> {
    let wanted = ops_alerts::parse_state(&body.state)?;
    let alert = ops_alerts::set_alert_state(
        Ops::Node(&state),
        (&caller).into(),
        project_id,
        alert_id,
        wanted,
        body.note.as_deref(),
    )
    .await?;
    Ok(axum::Json(alert.into()))
}
