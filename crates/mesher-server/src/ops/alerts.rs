//! Alert rules and alerts (issue 16): creating, changing and deleting rules (members, write
//! scope), reading them and the alerts, and moving an alert on (acknowledge, resolve). The
//! rule's documents are checked here ([`RuleSpec`]) so that the API, the dashboard and the CLI
//! refuse the same things with the same words.

use mesher_store::{
    Alert, AlertHistoryEntry, AlertRule, AlertRuleUpdate, AlertState, Delivery, DeliveryAttempt,
    Firing, NewAlert, NewAlertRule, Role, Scope,
};
use serde_json::Value;

use super::{Actor, Ops, OpsError, projects};
use crate::accounts::generate_webhook_secret;
use crate::alerts::engine::deliveries;
use crate::alerts::notify::Target;
use crate::alerts::rule::RuleSpec;

/// Alerts listed at most at once.
pub const MAX_LISTED: usize = 500;

/// A rule as written by a person.
#[derive(Debug, Clone)]
pub struct RuleInput<'a> {
    /// Its name.
    pub name: &'a str,
    /// `{"type": …}`.
    pub trigger: &'a Value,
    /// `{…}` or null.
    pub filters: &'a Value,
    /// `[…]` or null.
    pub actions: &'a Value,
    /// The cooldown.
    pub cooldown_minutes: i64,
    /// Whether it fires.
    pub enabled: bool,
}

/// An alert with its history and deliveries.
pub type AlertDetail = (
    Alert,
    Vec<AlertHistoryEntry>,
    Vec<(Delivery, Vec<DeliveryAttempt>)>,
);

/// Checks a rule as written; in a serving node, its actions too as the node will deliver
/// them (webhook names resolved through the SSRF guard, e-mail set up at all).
async fn checked(ops: Ops<'_>, input: &RuleInput<'_>) -> Result<(String, RuleSpec), OpsError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(OpsError::Invalid(
            "name: between 1 and 200 characters".into(),
        ));
    }
    let spec = RuleSpec::parse(
        input.trigger,
        input.filters,
        input.actions,
        input.cooldown_minutes,
    )
    .map_err(OpsError::Invalid)?;
    if let Ops::Node(state) = ops
        && !spec.actions.is_empty()
    {
        let notifier = state.notifier().ok_or_else(|| {
            OpsError::Invalid(
                "actions: notifications are unavailable on this server (see its log)".into(),
            )
        })?;
        for (i, action) in spec.actions.iter().enumerate() {
            let checked = match action {
                // To the organization's members: only that e-mail is set up.
                Target::Email { to } if to.is_empty() => match notifier.email_enabled() {
                    true => Ok(()),
                    false => Err("e-mail is not set up on this server (set smtp_url)".into()),
                },
                other => notifier.check_target(other).await.map_err(|e| e.message),
            };
            checked.map_err(|e| OpsError::Invalid(format!("actions[{i}]: {e}")))?;
        }
    }
    Ok((name.to_string(), spec))
}

/// Creates a rule in a project; answers it with its webhook signing secret (shown once).
pub async fn create_rule(
    ops: Ops<'_>,
    actor: Actor<'_>,
    project_id: i64,
    input: &RuleInput<'_>,
) -> Result<AlertRule, OpsError> {
    projects::project(ops, actor, project_id, Scope::Write, Role::Member).await?;
    let (name, spec) = checked(ops, input).await?;
    let secret = generate_webhook_secret()?;
    let rule = ops
        .store()
        .create_alert_rule(&NewAlertRule {
            project_id,
            name: &name,
            trigger: &spec.trigger_json(),
            filters: &spec.filters.to_json(),
            actions: &spec.actions_json(),
            secret: &secret,
            cooldown_minutes: spec.cooldown_minutes,
            enabled: input.enabled,
            created_by: actor.user_id(),
        })
        .await?;
    Ok(rule)
}

/// A project's rules.
pub async fn list_rules(
    ops: Ops<'_>,
    actor: Actor<'_>,
    project_id: i64,
) -> Result<Vec<AlertRule>, OpsError> {
    projects::project(ops, actor, project_id, Scope::Read, Role::Member).await?;
    Ok(ops.store().list_alert_rules(project_id).await?)
}

/// One rule of a project.
pub async fn rule(
    ops: Ops<'_>,
    actor: Actor<'_>,
    project_id: i64,
    rule_id: i64,
    scope: Scope,
) -> Result<AlertRule, OpsError> {
    projects::project(ops, actor, project_id, scope, Role::Member).await?;
    ops.store()
        .alert_rule(rule_id)
        .await?
        .filter(|r| r.project_id == project_id)
        .ok_or(OpsError::NotFound("alert rule"))
}

/// Replaces a rule's name, trigger, filters, actions, cooldown and switch.
pub async fn update_rule(
    ops: Ops<'_>,
    actor: Actor<'_>,
    project_id: i64,
    rule_id: i64,
    input: &RuleInput<'_>,
) -> Result<AlertRule, OpsError> {
    rule(ops, actor, project_id, rule_id, Scope::Write).await?;
    let (name, spec) = checked(ops, input).await?;
    Ok(ops
        .store()
        .update_alert_rule(
            rule_id,
            &AlertRuleUpdate {
                name: &name,
                trigger: &spec.trigger_json(),
                filters: &spec.filters.to_json(),
                actions: &spec.actions_json(),
                cooldown_minutes: spec.cooldown_minutes,
                enabled: input.enabled,
            },
        )
        .await?)
}

/// Deletes a rule and its alerts.
pub async fn delete_rule(
    ops: Ops<'_>,
    actor: Actor<'_>,
    project_id: i64,
    rule_id: i64,
) -> Result<(), OpsError> {
    rule(ops, actor, project_id, rule_id, Scope::Write).await?;
    Ok(ops.store().delete_alert_rule(rule_id).await?)
}

/// Fires a test alert of a rule (members, write scope): it goes to the rule's actions and the
/// dashboard like any alert, marked `test`, whatever the cooldown.
pub async fn send_test(
    ops: Ops<'_>,
    actor: Actor<'_>,
    project_id: i64,
    rule_id: i64,
) -> Result<Alert, OpsError> {
    let found = rule(ops, actor, project_id, rule_id, Scope::Write).await?;
    let at = mesher_store::now();
    let fired = ops
        .store()
        .fire_alerts(&Firing {
            trigger_id: None,
            alerts: vec![NewAlert {
                rule_id,
                project_id,
                issue_id: None,
                dedupe_key: format!("test-{}", mesher_store::to_millis(at)),
                kind: "test".into(),
                summary: format!("Test of the rule {:?}", found.name),
                auto_resolve: false,
                skip_if_open: false,
                deliveries: deliveries(&found),
            }],
            at,
        })
        .await?;
    let alert = fired.into_iter().next().ok_or_else(|| {
        OpsError::Invalid("the rule is disabled, or a test was sent this millisecond".into())
    })?;
    ops.announce_alerts(vec![(alert.project_id, alert.id)]);
    Ok(alert)
}

/// A project's alerts, newest first, in a state when given.
pub async fn list_alerts(
    ops: Ops<'_>,
    actor: Actor<'_>,
    project_id: i64,
    state: Option<AlertState>,
    limit: usize,
) -> Result<Vec<Alert>, OpsError> {
    projects::project(ops, actor, project_id, Scope::Read, Role::Member).await?;
    Ok(ops
        .store()
        .list_alerts(project_id, state, limit.clamp(1, MAX_LISTED))
        .await?)
}

async fn alert(ops: Ops<'_>, project_id: i64, alert_id: i64) -> Result<Alert, OpsError> {
    ops.store()
        .alert(alert_id)
        .await?
        .filter(|a| a.project_id == project_id)
        .ok_or(OpsError::NotFound("alert"))
}

/// An alert with its history and its deliveries' attempts.
pub async fn alert_detail(
    ops: Ops<'_>,
    actor: Actor<'_>,
    project_id: i64,
    alert_id: i64,
) -> Result<AlertDetail, OpsError> {
    projects::project(ops, actor, project_id, Scope::Read, Role::Member).await?;
    let found = alert(ops, project_id, alert_id).await?;
    let history = ops.store().alert_history(alert_id).await?;
    let deliveries = ops.store().alert_deliveries(alert_id).await?;
    Ok((found, history, deliveries))
}

/// Reads a state as people write it.
pub fn parse_state(state: &str) -> Result<AlertState, OpsError> {
    match state {
        "acknowledged" | "acknowledge" | "ack" => Ok(AlertState::Acknowledged),
        "resolved" | "resolve" => Ok(AlertState::Resolved),
        other => Err(OpsError::Invalid(format!(
            "state: {other:?} is not acknowledged or resolved"
        ))),
    }
}

/// Acknowledges or resolves an alert (members, write scope); `note` says why.
pub async fn set_alert_state(
    ops: Ops<'_>,
    actor: Actor<'_>,
    project_id: i64,
    alert_id: i64,
    state: AlertState,
    note: Option<&str>,
) -> Result<Alert, OpsError> {
    projects::project(ops, actor, project_id, Scope::Write, Role::Member).await?;
    alert(ops, project_id, alert_id).await?;
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 1000) {
        return Err(OpsError::Invalid("note: 1000 characters at most".into()));
    }
    Ok(ops
        .store()
        .set_alert_state(alert_id, state, actor.user_id(), note, mesher_store::now())
        .await?)
}
