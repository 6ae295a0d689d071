//! A project's alerts (issue 16, UI-06): the list, newest first, filtered by state, with
//! Acknowledge and Resolve on each row; and one alert's page with its history and its
//! deliveries' attempts. Every read and change goes through [`ops::alerts`], which checks the
//! user's rights as the API does.
//!
//! The list is live: `static/live.js` opens the project's stream ([`paths::stream`]) and
//! prepends a row for each `alert` message (ALERT-06), with the same cells and forms the server
//! renders here (`macros.html`'s `alert_row`), and counts them in a badge. Without JavaScript a
//! reload shows them.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::response::Redirect;
use mesher_store::{Alert, AlertState, DeliveryState};
use serde::Deserialize;
use time::OffsetDateTime;

use super::alert_rules::describe_action;
use super::context::{Notice, ProjectScope, done};
use super::extract::{PagePath, PageQuery, Posted, SignedIn};
use super::format::When;
use super::layout::{Layout, Nav};
use super::zone::Zone;
use super::{HtmlError, impl_page, paths};
use crate::ops::Ops;
use crate::ops::alerts::{self as ops_alerts, MAX_LISTED};
use crate::state::AppState;

/// Alerts the list shows; the script keeps what arrives on top of them.
const ROWS: usize = 100;

/// The state filters, in the order of their links: the query value, the link's label.
const STATES: [(&str, &str); 4] = [
    ("all", "All"),
    ("active", "Active"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
];

/// The alert list.
#[derive(Template)]
#[template(path = "alerts.html")]
pub struct AlertsPage {
    layout: Layout,
    notice: Option<Notice>,
    states: Vec<StateLink>,
    /// The filter's value (`all` or a state), which the script compares with a new alert's.
    state: &'static str,
    rows: Vec<AlertRow>,
    /// The project's stream, for the script.
    stream: String,
    /// The path an alert id completes into its page and, with `/state`, its form's action.
    alert_base: String,
    /// The path an issue id completes into its page.
    issue_base: String,
    rules_href: String,
}
impl_page!(AlertsPage);

/// One state filter link.
pub struct StateLink {
    label: &'static str,
    href: String,
    current: bool,
}

/// An alert as the list shows it.
pub struct AlertRow {
    id: i64,
    summary: String,
    kind: String,
    state: &'static str,
    fired: When,
    href: String,
    /// The issue's page and its number, when the alert is about one.
    issue: Option<(String, String)>,
    state_action: String,
    can_acknowledge: bool,
    can_resolve: bool,
}

impl AlertRow {
    fn new(l: &Layout, a: &Alert, now: OffsetDateTime, zone: &Zone) -> AlertRow {
        let p = a.project_id;
        AlertRow {
            id: a.id,
            summary: a.summary.clone(),
            kind: a.kind.clone(),
            state: a.state.as_str(),
            fired: zone.when(a.fired_at, now),
            href: l.url(&paths::alert(p, a.id)),
            issue: a
                .issue_id
                .map(|i| (l.url(&paths::issue(p, i)), format!("#{i}"))),
            state_action: l.url(&format!("{}/state", paths::alert(p, a.id))),
            can_acknowledge: a.state.may_become(AlertState::Acknowledged),
            can_resolve: a.state.may_become(AlertState::Resolved),
        }
    }
}

/// The list's query.
#[derive(Debug, Deserialize)]
pub(super) struct AlertsQuery {
    state: Option<String>,
    done: Option<String>,
}

/// `GET /projects/{id}/alerts`.
pub(super) async fn page(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath(id): PagePath<i64>,
    PageQuery(q): PageQuery<AlertsQuery>,
) -> Result<AlertsPage, HtmlError> {
    let scope = ProjectScope::load(&state, &user, layout, id, Nav::Alerts, "Alerts").await?;
    // An unknown filter value lists them all rather than failing: links are ours.
    let filter = STATES
        .iter()
        .map(|(key, _)| *key)
        .find(|key| Some(*key) == q.state.as_deref())
        .unwrap_or("all");
    let wanted = match filter {
        "all" => None,
        key => key.parse::<AlertState>().ok(),
    };
    let actor = (&user.caller).into();
    let alerts =
        ops_alerts::list_alerts(Ops::Node(&state), actor, id, wanted, ROWS.min(MAX_LISTED)).await?;
    let l = &scope.layout;
    let now = mesher_store::now();
    let zone = &user.zone;
    let here = paths::alerts(id);
    Ok(AlertsPage {
        notice: Notice::from_done(q.done.as_deref()),
        states: STATES
            .iter()
            .map(|&(key, label)| StateLink {
                label,
                href: l.url(&if key == "all" {
                    here.clone()
                } else {
                    format!("{here}?state={key}")
                }),
                current: key == filter,
            })
            .collect(),
        state: filter,
        rows: alerts
            .iter()
            .map(|a| AlertRow::new(l, a, now, zone))
            .collect(),
        stream: l.url(&paths::stream(id)),
        alert_base: l.url(&format!("{here}/")),
        issue_base: l.url(&format!("{}/", paths::issues(id))),
        rules_href: l.url(&paths::alert_rules(id)),
        layout: scope.layout,
    })
}

/// One alert's page.
#[derive(Template)]
#[template(path = "alert.html")]
pub struct AlertPage {
    layout: Layout,
    notice: Option<Notice>,
    alert: AlertRow,
    rule_name: String,
    rule_href: String,
    history: Vec<HistoryItem>,
    deliveries: Vec<DeliveryItem>,
    list_href: String,
}
impl_page!(AlertPage);

/// A change of the alert's state.
pub struct HistoryItem {
    state: &'static str,
    /// The member's name, or "Mesher" for the server itself.
    who: String,
    note: String,
    when: When,
}

/// A delivery with its attempts.
pub struct DeliveryItem {
    target: String,
    key: String,
    state: &'static str,
    /// When it is tried next, while pending.
    next: Option<When>,
    delivered: Option<When>,
    last_error: String,
    attempts: Vec<AttemptItem>,
}

/// One attempt at a delivery.
pub struct AttemptItem {
    when: When,
    status: String,
    error: String,
    duration: String,
}

/// `GET /projects/{id}/alerts/{alert}`.
pub(super) async fn detail(
    State(state): State<AppState>,
    layout: Layout,
    user: SignedIn,
    PagePath((id, alert_id)): PagePath<(i64, i64)>,
    PageQuery(q): PageQuery<AlertsQuery>,
) -> Result<AlertPage, HtmlError> {
    let scope = ProjectScope::load(&state, &user, layout, id, Nav::Alerts, "Alert").await?;
    let actor = (&user.caller).into();
    let ops = Ops::Node(&state);
    let (alert, history, deliveries) = ops_alerts::alert_detail(ops, actor, id, alert_id).await?;
    let rule = ops_alerts::rule(ops, actor, id, alert.rule_id, mesher_store::Scope::Read).await?;
    let names: HashMap<i64, String> = state
        .store()
        .list_members(scope.org.id)
        .await?
        .into_iter()
        .map(|m| (m.user.id, m.user.name))
        .collect();
    let l = &scope.layout;
    let now = mesher_store::now();
    let zone = &user.zone;
    Ok(AlertPage {
        notice: Notice::from_done(q.done.as_deref()),
        alert: AlertRow::new(l, &alert, now, zone),
        rule_name: rule.name,
        rule_href: l.url(&paths::alert_rule(id, rule.id)),
        history: history
            .into_iter()
            .rev()
            .map(|h| HistoryItem {
                state: h.state.as_str(),
                who: match h.actor_id {
                    Some(user) => names
                        .get(&user)
                        .cloned()
                        .unwrap_or_else(|| "A former member".into()),
                    None => "Mesher".into(),
                },
                note: h.note.unwrap_or_default(),
                when: zone.when(h.at, now),
            })
            .collect(),
        deliveries: deliveries
            .into_iter()
            .map(|(d, attempts)| DeliveryItem {
                target: describe_action(&d.target),
                key: d.idempotency_key,
                state: d.state.as_str(),
                next: (d.state == DeliveryState::Pending)
                    .then(|| zone.when(d.next_attempt_at, now)),
                delivered: d.delivered_at.map(|t| zone.when(t, now)),
                last_error: d.last_error.unwrap_or_default(),
                attempts: attempts
                    .into_iter()
                    .map(|a| AttemptItem {
                        when: zone.when(a.at, now),
                        status: a.status.map(|s| s.to_string()).unwrap_or_default(),
                        error: a.error.unwrap_or_default(),
                        duration: format!("{} ms", a.duration_ms),
                    })
                    .collect(),
            })
            .collect(),
        list_href: l.url(&paths::alerts(id)),
        layout: scope.layout,
    })
}

/// `POST /projects/{id}/alerts/{alert}/state` (`state`: `acknowledged` or `resolved`, an
/// optional `note`; `back=detail` returns to the alert's page rather than the list). Members,
/// as in the API.
pub(super) async fn set_state(
    State(state): State<AppState>,
    layout: Layout,
    PagePath((id, alert_id)): PagePath<(i64, i64)>,
    Posted { user, form }: Posted,
) -> Result<Redirect, HtmlError> {
    let to = ops_alerts::parse_state(form.text("state"))?;
    let note = Some(form.text("note"));
    let actor = (&user.caller).into();
    ops_alerts::set_alert_state(Ops::Node(&state), actor, id, alert_id, to, note).await?;
    let key = match to {
        AlertState::Resolved => "alert-resolved",
        _ => "alert-acknowledged",
    };
    let back = match form.text("back") {
        "detail" => paths::alert(id, alert_id),
        _ => paths::alerts(id),
    };
    Ok(Redirect::to(&layout.url(&done(&back, key))))
}
