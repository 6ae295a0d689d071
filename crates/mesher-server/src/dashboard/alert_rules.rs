//! A project's alert rules (issue 16, UI-06): the list with each rule's trigger, filters and
//! actions in words; a form to create or change one; deleting; sending a test alert.
//!
//! The form has one field per part of a rule (the threshold's fields, the filters, up to
//! [`ACTION_ROWS`] actions) and this module builds the JSON documents the API takes from them,
//! then hands them to [`ops::alerts`], which checks them: the dashboard refuses what the API
//! refuses, with the same words, shown above the form with what was typed kept.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mesher_store::{AlertRule, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

use super::context::{Notice, ProjectScope, done};
use super::extract::{FormFields, PagePath, PageQuery, Posted, SignedIn};
use super::issues::{Choice, choices};
use super::layout::{Layout, Nav};
use super::{HtmlError, impl_page, paths, render};
use crate::alerts::notify::{Target, WebhookFormat};
use crate::alerts::rule::{Metric, Per, Trigger};
use crate::error::ApiError;
use crate::ops::alerts::{self as ops_alerts, RuleInput};
use crate::ops::{Ops, OpsError};
use crate::state::AppState;

/// Action rows of the form; a rule made through the API may have more (up to ten), which the
/// form shows all of.
const ACTION_ROWS: usize = 3;

const TRIGGERS: &[(&str, &str)] = &[
    ("new_issue", "A new issue"),
    ("regression", "A regression (a resolved issue comes back)"),
    ("escalation", "An escalation (an archived issue escalates)"),
    (
        "threshold",
        "A threshold (more events or users than a count)",
    ),
];
const METRICS: &[(&str, &str)] = &[("events", "Events"), ("users", "Distinct users")];
const PERS: &[(&str, &str)] = &[("issue", "Per issue"), ("project", "In the whole project")];
const LEVELS: &[(&str, &str)] = &[
    ("", "Any level"),
    ("fatal", "Fatal"),
    ("error", "Error"),
    ("warning", "Warning"),
    ("info", "Info"),
    ("debug", "Debug"),
];
const ACTION_KINDS: &[(&str, &str)] = &[("", "None"), ("webhook", "Webhook"), ("email", "E-mail")];
const FORMATS: &[(&str, &str)] = &[
    ("generic", "Mesher JSON"),
    ("slack", "Slack"),
    ("discord", "Discord"),
];

/// The rules list.
#[derive(Template)]
#[template(path = "alert_rules.html")]
pub struct AlertRulesPage {
    layout: Layout,
    notice: Option<Notice>,
    rows: Vec<RuleRow>,
    /// A rule just created with a webhook: its name and signing secret, this once.
    secret: Option<(String, String)>,
    new_href: String,
    alerts_href: String,
}
impl_page!(AlertRulesPage);

/// A rule as the list shows it.
pub struct RuleRow {
    name: String,
    href: String,
    trigger: String,
    filters: String,
    actions: Vec<String>,
    cooldown: String,
    enabled: bool,
    test_action: String,
    delete_action: String,
}

/// The form to create or change a rule.
#[derive(Template)]
#[template(path = "alert_rule.html")]
pub struct RulePage {
    layout: Layout,
    notice: Option<Notice>,
    heading: String,
    form: RuleForm,
    triggers: Vec<Choice>,
    metrics: Vec<Choice>,
    pers: Vec<Choice>,
    levels: Vec<Choice>,
    actions: Vec<ActionRow>,
    action: String,
    /// An existing rule's Send test and Delete forms.
    existing: Option<(String, String)>,
    rules_href: String,
}
impl_page!(RulePage);

/// One action row of the form, numbered from 1.
pub struct ActionRow {
    n: usize,
    kinds: Vec<Choice>,
    url: String,
    formats: Vec<Choice>,
    to: String,
}

/// The form's values: a stored rule's, or what was typed when saving failed.
#[derive(Debug, Clone, Default)]
pub struct RuleForm {
    name: String,
    trigger: String,
    count: String,
    minutes: String,
    metric: String,
    per: String,
    auto_resolve: bool,
    environment: String,
    level: String,
    release: String,
    /// One `key=value` per line.
    tags: String,
    /// `(kind, url, format, recipients)`, kind `""` for an unused row.
    actions: Vec<(String, String, String, String)>,
    cooldown_minutes: String,
    enabled: bool,
}

impl RuleForm {
    /// A new rule's: a new issue, a cooldown of 30 minutes (the API's default), enabled.
    fn blank() -> RuleForm {
        RuleForm {
            trigger: "new_issue".into(),
            metric: "events".into(),
            per: "issue".into(),
            cooldown_minutes: "30".into(),
            enabled: true,
            ..RuleForm::default()
        }
    }

    fn of(rule: &AlertRule) -> RuleForm {
        let mut form = RuleForm {
            name: rule.name.clone(),
            cooldown_minutes: rule.cooldown_minutes.to_string(),
            enabled: rule.enabled,
            ..RuleForm::blank()
        };
        let text = |v: &Value, key: &str| match v.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        form.trigger = text(&rule.trigger, "type");
        if form.trigger == "threshold" {
            form.count = text(&rule.trigger, "count");
            form.minutes = text(&rule.trigger, "minutes");
            form.metric = text(&rule.trigger, "metric");
            form.per = text(&rule.trigger, "per");
            form.auto_resolve = rule.trigger["auto_resolve"] == json!(true);
        }
        form.environment = text(&rule.filters, "environment");
        form.level = text(&rule.filters, "level");
        form.release = text(&rule.filters, "release");
        form.tags = match &rule.filters["tag"] {
            Value::String(one) => one.clone(),
            Value::Array(many) => lines(many),
            _ => String::new(),
        };
        form.actions = rule
            .actions
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let to = a["to"].as_array().map(|to| {
                    to.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                });
                (
                    text(a, "type"),
                    text(a, "url"),
                    text(a, "format"),
                    to.unwrap_or_default(),
                )
            })
            .collect();
        form
    }

    fn posted(form: &FormFields) -> RuleForm {
        // As many rows as the form had: more than ACTION_ROWS when the rule was made with more.
        let rows = (1..=MAX_ROWS_POSTED)
            .filter(|n| form.get(&format!("action{n}_kind")).is_some())
            .max()
            .unwrap_or(0)
            .max(ACTION_ROWS);
        RuleForm {
            name: form.text("name").into(),
            trigger: form.text("trigger").into(),
            count: form.text("count").into(),
            minutes: form.text("minutes").into(),
            metric: form.text("metric").into(),
            per: form.text("per").into(),
            auto_resolve: form.get("auto_resolve").is_some(),
            environment: form.text("environment").into(),
            level: form.text("level").into(),
            release: form.text("release").into(),
            tags: form.text("tags").into(),
            actions: (1..=rows)
                .map(|n| {
                    let field = |name: &str| form.text(&format!("action{n}_{name}")).to_string();
                    (field("kind"), field("url"), field("format"), field("to"))
                })
                .collect(),
            cooldown_minutes: form.text("cooldown_minutes").into(),
            enabled: form.get("enabled").is_some(),
        }
    }

    /// The trigger, filters and actions documents and the cooldown, as the API takes them; a
    /// number that does not parse is a 400 naming its field (ops checks everything else).
    fn documents(&self) -> Result<(Value, Value, Value, i64), ApiError> {
        let number = |value: &str, label: &str| {
            value.parse::<i64>().map_err(|_| {
                ApiError::BadRequest(format!("{label}: {value:?} is not a whole number"))
            })
        };
        let trigger = if self.trigger == "threshold" {
            let mut t = json!({
                "type": "threshold",
                "count": number(&self.count, "Count")?,
                "metric": self.metric,
                "per": self.per,
                "auto_resolve": self.auto_resolve,
            });
            // Users are counted over an issue's whole life: the window is for events only.
            if self.metric != "users" && !self.minutes.is_empty() {
                t["minutes"] = number(&self.minutes, "Minutes")?.into();
            }
            t
        } else {
            json!({"type": self.trigger})
        };
        let mut filters = serde_json::Map::new();
        for (key, value) in [
            ("environment", &self.environment),
            ("level", &self.level),
            ("release", &self.release),
        ] {
            if !value.is_empty() {
                filters.insert(key.into(), value.clone().into());
            }
        }
        let tags: Vec<Value> = self
            .tags
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(Value::from)
            .collect();
        if !tags.is_empty() {
            filters.insert("tag".into(), tags.into());
        }
        let actions: Vec<Value> = self
            .actions
            .iter()
            .filter_map(|(kind, url, format, to)| match kind.as_str() {
                // A row left blank is ignored: the form always has a few.
                "" => None,
                "webhook" if url.is_empty() => None,
                "webhook" => Some(json!({"type": "webhook", "url": url, "format": format})),
                "email" => {
                    let to: Vec<&str> = to
                        .split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .collect();
                    Some(json!({"type": "email", "to": to}))
                }
                other => Some(json!({"type": other})),
            })
            .collect();
        let cooldown = number(&self.cooldown_minutes, "Cooldown (minutes)")?;
        Ok((
            trigger,
            Value::Object(filters),
            Value::Array(actions),
            cooldown,
        ))
    }
}

/// Action rows read from a post at most, whatever it claims (a rule holds ten).
const MAX_ROWS_POSTED: usize = 10;

fn lines(values: &[Value]) -> String {
    values
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A trigger in words: "A new issue", "More than 10 events in 5 min in the project".
pub(super) fn describe_trigger(trigger: &Value) -> String {
    let Ok(trigger) = serde_json::from_value::<Trigger>(trigger.clone()) else {
        return "A trigger this version cannot read".into();
    };
    match trigger {
        Trigger::NewIssue => "A new issue".into(),
        Trigger::Regression => "A resolved issue comes back (regression)".into(),
        Trigger::Escalation => "An archived issue escalates".into(),
        Trigger::Threshold(t) => {
            let what = match (t.metric, t.per) {
                (Metric::Users, _) => format!("More than {} users of an issue", t.count),
                (Metric::Events, per) => format!(
                    "More than {} events in {} min {}",
                    t.count,
                    t.minutes.unwrap_or_default(),
                    if per == Per::Project {
                        "in the project"
                    } else {
                        "in an issue"
                    }
                ),
            };
            if t.auto_resolve {
                format!("{what}; resolves itself when back under")
            } else {
                what
            }
        }
    }
}

/// Filters in words: "Any event", or "environment production · level at least error".
fn describe_filters(filters: &Value) -> String {
    let mut parts = Vec::new();
    let text = |key: &str| filters.get(key).and_then(Value::as_str);
    if let Some(e) = text("environment") {
        parts.push(format!("environment {e}"));
    }
    if let Some(l) = text("level") {
        parts.push(format!("level at least {l}"));
    }
    if let Some(r) = text("release") {
        parts.push(format!("release {r}"));
    }
    match filters.get("tag") {
        Some(Value::String(t)) => parts.push(format!("tag {t}")),
        Some(Value::Array(tags)) => parts.extend(
            tags.iter()
                .filter_map(Value::as_str)
                .map(|t| format!("tag {t}")),
        ),
        _ => {}
    }
    if parts.is_empty() {
        "Any event".into()
    } else {
        parts.join(" · ")
    }
}

/// An action (or a delivery's target, which is the action) in words.
pub(super) fn describe_action(action: &Value) -> String {
    match serde_json::from_value::<Target>(action.clone()) {
        Ok(Target::Webhook { url, format, .. }) => {
            let format = match format {
                WebhookFormat::Generic => "Mesher JSON",
                WebhookFormat::Slack => "Slack",
                WebhookFormat::Discord => "Discord",
            };
            format!("Webhook ({format}) to {url}")
        }
        Ok(Target::Email { to }) if to.is_empty() => "E-mail to the organization's members".into(),
        Ok(Target::Email { to }) => format!("E-mail to {}", to.join(", ")),
        Err(_) => "An action this version cannot read".into(),
    }
}

/// The query of the rules list.
#[derive(Debug, Deserialize)]
pub(super) struct RulesQuery {
    done: Option<String>,
}

/// `GET /projects/{id}/alerts/rules`.
pub(super) async fn page(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath(id): PagePath<i64>,
    PageQuery(q): PageQuery<RulesQuery>,
) -> Result<AlertRulesPage, HtmlError> {
    let notice = Notice::from_done(q.done.as_deref());
    list(&state, &user, layout, id, notice, None).await
}

async fn list(
    state: &AppState,
    user: &SignedIn,
    layout: Layout,
    id: i64,
    notice: Option<Notice>,
    secret: Option<(String, String)>,
) -> Result<AlertRulesPage, HtmlError> {
    let scope = ProjectScope::load(state, user, layout, id, Nav::Alerts, "Alert rules").await?;
    let rules = ops_alerts::list_rules(Ops::Node(state), (&user.caller).into(), id).await?;
    let l = &scope.layout;
    Ok(AlertRulesPage {
        notice,
        rows: rules
            .iter()
            .map(|r| {
                let href = paths::alert_rule(id, r.id);
                RuleRow {
                    name: r.name.clone(),
                    trigger: describe_trigger(&r.trigger),
                    filters: describe_filters(&r.filters),
                    actions: r
                        .actions
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(describe_action)
                        .collect(),
                    cooldown: format!("{} min", r.cooldown_minutes),
                    enabled: r.enabled,
                    test_action: l.url(&format!("{href}/test")),
                    delete_action: l.url(&format!("{href}/delete")),
                    href: l.url(&href),
                }
            })
            .collect(),
        secret,
        new_href: l.url(&format!("{}/new", paths::alert_rules(id))),
        alerts_href: l.url(&paths::alerts(id)),
        layout: scope.layout,
    })
}

/// The form page, for a new rule (`rule` none) or an existing one.
async fn form_page(
    state: &AppState,
    user: &SignedIn,
    layout: Layout,
    id: i64,
    rule: Option<(i64, &str)>,
    form: RuleForm,
    notice: Option<Notice>,
) -> Result<RulePage, HtmlError> {
    let title = if rule.is_some() {
        "Alert rule"
    } else {
        "New alert rule"
    };
    let scope = ProjectScope::load(state, user, layout, id, Nav::Alerts, title).await?;
    let l = &scope.layout;
    let blank = (String::new(), String::new(), String::new(), String::new());
    let rows = form.actions.len().max(ACTION_ROWS);
    let actions = (0..rows)
        .map(|i| {
            let (kind, url, format, to) = form.actions.get(i).unwrap_or(&blank);
            ActionRow {
                n: i + 1,
                kinds: choices(ACTION_KINDS, kind),
                url: url.clone(),
                formats: choices(FORMATS, if format.is_empty() { "generic" } else { format }),
                to: to.clone(),
            }
        })
        .collect();
    let rules = paths::alert_rules(id);
    Ok(RulePage {
        notice,
        heading: match rule {
            Some((_, name)) => format!("Alert rule “{name}”"),
            None => "New alert rule".into(),
        },
        triggers: choices(TRIGGERS, &form.trigger),
        metrics: choices(METRICS, &form.metric),
        pers: choices(PERS, &form.per),
        levels: choices(LEVELS, &form.level),
        actions,
        action: l.url(&match rule {
            Some((rule_id, _)) => paths::alert_rule(id, rule_id),
            None => rules.clone(),
        }),
        existing: rule.map(|(rule_id, _)| {
            let href = paths::alert_rule(id, rule_id);
            (
                l.url(&format!("{href}/test")),
                l.url(&format!("{href}/delete")),
            )
        }),
        rules_href: l.url(&rules),
        form,
        layout: scope.layout,
    })
}

/// `GET /projects/{id}/alerts/rules/new`.
pub(super) async fn new_rule(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath(id): PagePath<i64>,
) -> Result<RulePage, HtmlError> {
    form_page(&state, &user, layout, id, None, RuleForm::blank(), None).await
}

/// `GET /projects/{id}/alerts/rules/{rule}`.
pub(super) async fn edit(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath((id, rule_id)): PagePath<(i64, i64)>,
) -> Result<RulePage, HtmlError> {
    let actor = (&user.caller).into();
    let rule = ops_alerts::rule(Ops::Node(&state), actor, id, rule_id, Scope::Read).await?;
    let form = RuleForm::of(&rule);
    let existing = Some((rule.id, rule.name.as_str()));
    form_page(&state, &user, layout, id, existing, form, None).await
}

/// Saves a posted form through `save` (create or update); a refusal of the input shows the
/// form again with the message and what was typed, as a 400.
async fn submitted<F, Fut>(
    state: &AppState,
    user: &SignedIn,
    layout: Layout,
    id: i64,
    rule: Option<(i64, &str)>,
    form: &FormFields,
    save: F,
) -> Result<Result<AlertRule, Response>, HtmlError>
where
    F: FnOnce(RuleInputOwned) -> Fut,
    Fut: std::future::Future<Output = Result<AlertRule, OpsError>>,
{
    let typed = RuleForm::posted(form);
    let error = match typed.documents() {
        Ok((trigger, filters, actions, cooldown_minutes)) => {
            let input = RuleInputOwned {
                name: typed.name.clone(),
                trigger,
                filters,
                actions,
                cooldown_minutes,
                enabled: typed.enabled,
            };
            match save(input).await {
                Ok(rule) => return Ok(Ok(rule)),
                Err(OpsError::Invalid(message)) => ApiError::BadRequest(message),
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => e,
    };
    let status = error.status();
    let notice = Some(Notice::error(error.public_message()));
    let page = form_page(state, user, layout, id, rule, typed, notice).await?;
    Ok(Err(render(status, &page)))
}

/// A rule's input owned by the handler while ops borrows it.
struct RuleInputOwned {
    name: String,
    trigger: Value,
    filters: Value,
    actions: Value,
    cooldown_minutes: i64,
    enabled: bool,
}

impl RuleInputOwned {
    fn input(&self) -> RuleInput<'_> {
        RuleInput {
            name: &self.name,
            trigger: &self.trigger,
            filters: &self.filters,
            actions: &self.actions,
            cooldown_minutes: self.cooldown_minutes,
            enabled: self.enabled,
        }
    }
}

/// `POST /projects/{id}/alerts/rules`: a new rule. One with a webhook is answered with the list
/// and its signing secret, shown this once (no redirect, which would lose it).
pub(super) async fn create(
    State(state): State<AppState>,
    layout: Layout,
    PagePath(id): PagePath<i64>,
    Posted { user, form }: Posted,
) -> Result<Response, HtmlError> {
    let (ops, caller) = (Ops::Node(&state), &user.caller);
    let saved = submitted(&state, &user, layout.clone(), id, None, &form, |input| async move {
        ops_alerts::create_rule(ops, caller.into(), id, &input.input()).await
    })
    .await?;
    let rule = match saved {
        Ok(rule) => rule,
        Err(page) => return Ok(page),
    };
    let has_webhook = rule
        .actions
        .as_array()
        .is_some_and(|a| a.iter().any(|a| a["type"] == "webhook"));
    if !has_webhook {
        let to = done(&paths::alert_rules(id), "rule-created");
        return Ok(Redirect::to(&layout.url(&to)).into_response());
    }
    let notice =
        Notice::done("Rule created. Copy its webhook signing secret now: it is not shown again.");
    let secret = Some((rule.name, rule.secret));
    let page = list(&state, &user, layout, id, Some(notice), secret).await?;
    Ok(render(StatusCode::OK, &page))
}

/// `POST /projects/{id}/alerts/rules/{rule}`: saves the form over the rule.
pub(super) async fn update(
    State(state): State<AppState>,
    layout: Layout,
    PagePath((id, rule_id)): PagePath<(i64, i64)>,
    Posted { user, form }: Posted,
) -> Result<Response, HtmlError> {
    let ops = Ops::Node(&state);
    let caller = &user.caller;
    // Read first: a rule of another project is a 404 before anything is checked.
    let current = ops_alerts::rule(ops, caller.into(), id, rule_id, Scope::Write).await?;
    let existing = Some((rule_id, current.name.as_str()));
    let saved = submitted(
        &state,
        &user,
        layout.clone(),
        id,
        existing,
        &form,
        |input| async move {
            ops_alerts::update_rule(ops, caller.into(), id, rule_id, &input.input()).await
        },
    )
    .await?;
    Ok(match saved {
        Ok(_) => {
            let to = done(&paths::alert_rules(id), "rule-saved");
            Redirect::to(&layout.url(&to)).into_response()
        }
        Err(page) => page,
    })
}

/// `POST /projects/{id}/alerts/rules/{rule}/delete`: the rule and its alerts.
pub(super) async fn delete(
    State(state): State<AppState>,
    layout: Layout,
    PagePath((id, rule_id)): PagePath<(i64, i64)>,
    Posted { user, .. }: Posted,
) -> Result<Redirect, HtmlError> {
    ops_alerts::delete_rule(Ops::Node(&state), (&user.caller).into(), id, rule_id).await?;
    Ok(Redirect::to(
        &layout.url(&done(&paths::alert_rules(id), "rule-deleted")),
    ))
}

/// `POST /projects/{id}/alerts/rules/{rule}/test`: fires a test alert of the rule, then shows
/// the alert list, where it is on top.
pub(super) async fn send_test(
    State(state): State<AppState>,
    layout: Layout,
    PagePath((id, rule_id)): PagePath<(i64, i64)>,
    Posted { user, .. }: Posted,
) -> Result<Redirect, HtmlError> {
    ops_alerts::send_test(Ops::Node(&state), (&user.caller).into(), id, rule_id).await?;
    Ok(Redirect::to(
        &layout.url(&done(&paths::alerts(id), "test-sent")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> FormFields {
        FormFields::from_pairs(
            pairs
                .iter()
                .map(|&(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn the_form_becomes_the_apis_documents() {
        let posted = RuleForm::posted(&form(&[
            ("name", "Checkout spikes"),
            ("trigger", "threshold"),
            ("count", "10"),
            ("minutes", "5"),
            ("metric", "events"),
            ("per", "project"),
            ("auto_resolve", "on"),
            ("environment", "production"),
            ("level", ""),
            ("tags", "region=eu\n\n"),
            ("action1_kind", "webhook"),
            ("action1_url", "https://hooks.example.com/x"),
            ("action1_format", "slack"),
            ("action2_kind", "email"),
            ("action2_to", "a@example.com, b@example.com"),
            ("action3_kind", "webhook"),
            ("action3_url", ""),
            ("cooldown_minutes", "15"),
        ]));
        let (trigger, filters, actions, cooldown) = posted.documents().unwrap();
        assert_eq!(
            trigger,
            json!({"type": "threshold", "count": 10, "minutes": 5, "metric": "events",
                   "per": "project", "auto_resolve": true})
        );
        assert_eq!(
            filters,
            json!({"environment": "production", "tag": ["region=eu"]})
        );
        assert_eq!(
            actions,
            json!([{"type": "webhook", "url": "https://hooks.example.com/x", "format": "slack"},
                   {"type": "email", "to": ["a@example.com", "b@example.com"]}])
        );
        assert_eq!(cooldown, 15);
        assert!(!posted.enabled);

        // A rule made through the API with more actions keeps them all when saved again.
        let many = RuleForm::posted(&form(&[
            ("action5_kind", "email"),
            ("action5_to", "e@example.com"),
        ]));
        assert_eq!(many.actions.len(), 5);

        let bad = RuleForm::posted(&form(&[("trigger", "threshold"), ("count", "many")]));
        assert!(bad.documents().is_err());
    }

    #[test]
    fn rules_read_in_words() {
        assert_eq!(
            describe_trigger(
                &json!({"type": "threshold", "count": 3, "minutes": 10, "per": "issue"})
            ),
            "More than 3 events in 10 min in an issue"
        );
        assert_eq!(
            describe_trigger(&json!({"type": "new_issue"})),
            "A new issue"
        );
        assert_eq!(
            describe_filters(&json!({"level": "error", "tag": ["a=b"]})),
            "level at least error · tag a=b"
        );
        assert_eq!(describe_filters(&json!({})), "Any event");
        assert_eq!(
            describe_action(&json!({"type": "email", "to": []})),
            "E-mail to the organization's members"
        );
    }
}
