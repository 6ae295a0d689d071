//! `mesher alert …`: alert rules and alerts from the command line, through the same
//! operations as the API and the dashboard (issue 16).

use mesher_server::ops::alerts::{self as ops_alerts, RuleInput};
use mesher_server::ops::{Actor, Ops};
use mesher_store::{Alert, AlertRule, AlertState};
use serde_json::{Value, json};

use crate::cli::{AlertCommand, NewRuleArgs};
use crate::commands::{project_hint, table};

/// Runs one `mesher alert` command: its JSON and its text.
pub async fn run(
    ops: Ops<'_>,
    operator: Actor<'_>,
    command: AlertCommand,
) -> anyhow::Result<(Value, String)> {
    Ok(match command {
        AlertCommand::Rules { project } => {
            let rules = ops_alerts::list_rules(ops, operator, project)
                .await
                .map_err(|e| project_hint(e, project))?;
            let text = table(
                rules.iter().map(|r| {
                    vec![
                        r.id.to_string(),
                        r.name.clone(),
                        r.trigger["type"].as_str().unwrap_or("?").to_string(),
                        r.cooldown_minutes.to_string(),
                        if r.enabled { "on" } else { "off" }.to_string(),
                    ]
                }),
                &["ID", "NAME", "TRIGGER", "COOLDOWN", "ENABLED"],
            );
            (
                Value::Array(rules.into_iter().map(|r| rule_json(r, false)).collect()),
                text,
            )
        }
        AlertCommand::AddRule(args) => {
            let project = args.project;
            let (trigger, filters, actions) = documents(&args);
            let input = RuleInput {
                name: &args.name,
                trigger: &trigger,
                filters: &filters,
                actions: &actions,
                cooldown_minutes: args.cooldown,
                enabled: !args.disabled,
            };
            let rule = ops_alerts::create_rule(ops, operator, project, &input)
                .await
                .map_err(|e| project_hint(e, project))?;
            let text = format!(
                "Created alert rule {} ({:?}) in project {project}.\nWebhook signing secret \
                 (shown once): {}",
                rule.id, rule.name, rule.secret
            );
            (rule_json(rule, true), text)
        }
        AlertCommand::RemoveRule { project, id } => {
            ops_alerts::delete_rule(ops, operator, project, id)
                .await
                .map_err(|e| project_hint(e, project))?;
            (
                json!({"deleted": id}),
                format!("Deleted alert rule {id} and its alerts."),
            )
        }
        AlertCommand::TestRule { project, id } => {
            let alert = ops_alerts::send_test(ops, operator, project, id)
                .await
                .map_err(|e| project_hint(e, project))?;
            let text = format!(
                "Fired test alert {}; its deliveries go out from a running server.",
                alert.id
            );
            (alert_json(&alert), text)
        }
        AlertCommand::List {
            project,
            state,
            limit,
        } => {
            let state: Option<AlertState> = state.as_deref().map(str::parse).transpose()?;
            let alerts = ops_alerts::list_alerts(ops, operator, project, state, limit)
                .await
                .map_err(|e| project_hint(e, project))?;
            let text = table(
                alerts.iter().map(|a| {
                    vec![
                        a.id.to_string(),
                        a.state.as_str().to_string(),
                        a.kind.clone(),
                        rfc3339(a.fired_at),
                        a.summary.clone(),
                    ]
                }),
                &["ID", "STATE", "KIND", "FIRED", "SUMMARY"],
            );
            (Value::Array(alerts.iter().map(alert_json).collect()), text)
        }
        AlertCommand::Show { project, id } => {
            let (alert, history, deliveries) = ops_alerts::alert_detail(ops, operator, project, id)
                .await
                .map_err(|e| project_hint(e, project))?;
            let mut text = format!(
                "Alert {} ({}): {}\nFired {}\n",
                alert.id,
                alert.state.as_str(),
                alert.summary,
                rfc3339(alert.fired_at)
            );
            for h in &history {
                text.push_str(&format!(
                    "  {} {}{}\n",
                    rfc3339(h.at),
                    h.state.as_str(),
                    h.note
                        .as_deref()
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default()
                ));
            }
            let mut out = alert_json(&alert);
            out["history"] = history
                .iter()
                .map(|h| json!({"state": h.state.as_str(), "actor_id": h.actor_id, "note": h.note, "at": rfc3339(h.at)}))
                .collect();
            let mut listed = Vec::new();
            for (d, attempts) in &deliveries {
                text.push_str(&format!(
                    "Delivery {} to {}: {} after {} attempt(s)\n",
                    d.id,
                    d.target,
                    d.state.as_str(),
                    d.attempts
                ));
                listed.push(json!({
                    "id": d.id, "target": d.target, "state": d.state.as_str(),
                    "attempts": d.attempts, "idempotency_key": d.idempotency_key,
                    "attempt_log": attempts.iter().map(|a| json!({
                        "at": rfc3339(a.at), "status": a.status, "error": a.error,
                        "duration_ms": a.duration_ms,
                    })).collect::<Vec<_>>(),
                }));
            }
            out["deliveries"] = Value::Array(listed);
            (out, text.trim_end().to_string())
        }
        AlertCommand::Ack { project, id, note } => {
            move_on(ops, operator, project, id, AlertState::Acknowledged, note).await?
        }
        AlertCommand::Resolve { project, id, note } => {
            move_on(ops, operator, project, id, AlertState::Resolved, note).await?
        }
    })
}

async fn move_on(
    ops: Ops<'_>,
    operator: Actor<'_>,
    project: i64,
    id: i64,
    state: AlertState,
    note: Option<String>,
) -> anyhow::Result<(Value, String)> {
    let alert = ops_alerts::set_alert_state(ops, operator, project, id, state, note.as_deref())
        .await
        .map_err(|e| project_hint(e, project))?;
    let text = format!("Alert {} is {}.", alert.id, alert.state.as_str());
    Ok((alert_json(&alert), text))
}

/// The rule's trigger, filters and actions documents, from the flags; the operations layer
/// checks them as it checks the API's.
fn documents(a: &NewRuleArgs) -> (Value, Value, Value) {
    let mut trigger = json!({"type": a.trigger});
    if a.trigger == "threshold" {
        let t = trigger.as_object_mut().expect("an object");
        if let Some(c) = a.count {
            t.insert("count".into(), c.into());
        }
        if let Some(m) = a.minutes {
            t.insert("minutes".into(), m.into());
        }
        if let Some(m) = &a.metric {
            t.insert("metric".into(), m.clone().into());
        }
        if let Some(p) = &a.per {
            t.insert("per".into(), p.clone().into());
        }
        t.insert("auto_resolve".into(), a.auto_resolve.into());
    }
    let mut filters = serde_json::Map::new();
    for (key, value) in [
        ("environment", &a.environment),
        ("level", &a.level),
        ("release", &a.release),
    ] {
        if let Some(v) = value {
            filters.insert(key.into(), v.clone().into());
        }
    }
    if !a.tag.is_empty() {
        filters.insert("tag".into(), a.tag.clone().into());
    }
    let mut actions: Vec<Value> = a
        .webhook
        .iter()
        .map(|url| json!({"type": "webhook", "url": url, "format": a.format}))
        .collect();
    if let Some(to) = &a.email {
        let to: Vec<&str> = match to.trim() {
            "members" => Vec::new(),
            list => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect(),
        };
        actions.push(json!({"type": "email", "to": to}));
    }
    (trigger, Value::Object(filters), Value::Array(actions))
}

fn rule_json(r: AlertRule, with_secret: bool) -> Value {
    let mut v = json!({
        "id": r.id, "project_id": r.project_id, "name": r.name, "trigger": r.trigger,
        "filters": r.filters, "actions": r.actions, "cooldown_minutes": r.cooldown_minutes,
        "enabled": r.enabled, "created_at": rfc3339(r.created_at),
    });
    if with_secret {
        v["secret"] = r.secret.into();
    }
    v
}

fn alert_json(a: &Alert) -> Value {
    json!({
        "id": a.id, "rule_id": a.rule_id, "project_id": a.project_id, "issue_id": a.issue_id,
        "kind": a.kind, "state": a.state.as_str(), "summary": a.summary,
        "fired_at": rfc3339(a.fired_at), "updated_at": rfc3339(a.updated_at),
    })
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
