//! The alert pages (issue 16, UI-06 "Manage alert rules"): rules made, changed, tested and
//! deleted through the forms (ALERT-04: their deliveries shown with the alert), alerts
//! acknowledged and resolved from the list (ALERT-06: the list subscribes to the project's
//! stream), on both backends; who may do what.

use axum::http::StatusCode;
use mesher_store::testing::Backend;

use crate::dashboard::{Page, TestApp, see_other};

#[tokio::test]
async fn rules_and_alerts_through_the_forms_sqlite() {
    rules_and_alerts_through_the_forms(Backend::Sqlite).await;
}

#[tokio::test]
async fn rules_and_alerts_through_the_forms_postgres() {
    rules_and_alerts_through_the_forms(Backend::Postgres).await;
}

/// The fields of a valid "new issue" rule with a Slack webhook.
fn new_issue_rule(name: &str) -> Vec<(&str, &str)> {
    vec![
        ("name", name),
        ("trigger", "new_issue"),
        ("metric", "events"),
        ("per", "issue"),
        ("environment", "production"),
        ("level", "error"),
        ("tags", "region=eu"),
        ("action1_kind", "webhook"),
        ("action1_url", "https://hooks.example.com/x"),
        ("action1_format", "slack"),
        ("action2_kind", ""),
        ("action3_kind", ""),
        ("cooldown_minutes", "30"),
        ("enabled", "on"),
    ]
}

/// UI-06, ALERT-04, ALERT-06: a rule is created through the form (its secret shown once), a bad
/// form is answered with the error and the input kept, the rule is edited, sends a test alert
/// that the list shows, which is acknowledged then resolved from the list; its page shows the
/// history and the delivery; deleting the rule takes its alerts.
async fn rules_and_alerts_through_the_forms(backend: Backend) {
    let app = TestApp::on(backend).await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let rules = format!("/projects/{p}/alerts/rules");

    let page = ada.page(&app, &rules, StatusCode::OK).await;
    assert_eq!(page.text("title"), "Alert rules · Web · Mesher");
    assert_eq!(
        page.text(r#"nav[aria-label="Main"] a[aria-current="page"]"#),
        "Alerts"
    );
    assert_eq!(page.text(".empty-state .empty-heading"), "No alert rules");
    assert_eq!(
        page.attr(".page-header a.btn-primary", "href"),
        format!("{rules}/new")
    );

    let page = ada
        .page(&app, &format!("{rules}/new"), StatusCode::OK)
        .await;
    let form = format!(r#"form[method="post"][action="{rules}"]"#);
    assert_eq!(
        page.attr(&format!("{form} input[name=_csrf]"), "value"),
        ada.csrf
    );
    assert_eq!(
        page.attr("#rule-trigger option[selected]", "value"),
        "new_issue"
    );
    assert_eq!(page.attr("input#rule-cooldown", "value"), "30");
    assert_eq!(page.count("input#rule-enabled[checked]"), 1);
    assert_eq!(page.count(".threshold-fields input#rule-count"), 1);
    assert_eq!(page.count(".action-fields"), 3);
    for id in [
        "rule-name",
        "rule-trigger",
        "rule-level",
        "action1-url",
        "action3-to",
    ] {
        page.one(&format!("label[for={id}]"));
    }

    // Without the CSRF token: refused.
    let response = ada.post_raw(&app, &rules, &new_issue_rule("Forged")).await;
    Page::from_response(response, StatusCode::FORBIDDEN).await;

    // A threshold without its window: the API's message, and what was typed.
    let mut bad = new_issue_rule("Checkout spikes");
    bad[1] = ("trigger", "threshold");
    bad.extend([("count", "10"), ("minutes", "")]);
    bad[5] = ("level", "");
    bad[6] = ("tags", "");
    let response = ada.post(&app, &rules, &bad).await;
    let page = Page::from_response(response, StatusCode::BAD_REQUEST).await;
    assert!(
        page.text("[role=alert]").starts_with("trigger.minutes:"),
        "{}",
        page.text("[role=alert]")
    );
    assert_eq!(page.attr("input#rule-name", "value"), "Checkout spikes");
    assert_eq!(
        page.attr("#rule-trigger option[selected]", "value"),
        "threshold"
    );
    assert_eq!(page.attr("input#rule-count", "value"), "10");
    assert_eq!(
        page.attr("input#action1-url", "value"),
        "https://hooks.example.com/x"
    );
    assert_eq!(
        page.attr("#action1-format option[selected]", "value"),
        "slack"
    );
    // A number that is not one, said by the form.
    let mut bad = new_issue_rule("Slow");
    bad[12] = ("cooldown_minutes", "soon");
    let response = ada.post(&app, &rules, &bad).await;
    let page = Page::from_response(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        page.text("[role=alert]"),
        r#"Cooldown (minutes): "soon" is not a whole number"#
    );
    assert!(app.store.list_alert_rules(p).await.unwrap().is_empty());

    // Created: the signing secret, this once, with the list.
    let response = ada
        .post(&app, &rules, &new_issue_rule("New in production"))
        .await;
    let page = Page::from_response(response, StatusCode::OK).await;
    let stored = app.store.list_alert_rules(p).await.unwrap();
    assert_eq!(stored.len(), 1);
    let rule = &stored[0];
    assert_eq!(page.attr("input#rule-secret", "value"), rule.secret);
    assert!(rule.secret.starts_with("whsec_"));
    assert_eq!(page.text(".rules-table a.cell-title"), "New in production");
    assert_eq!(page.text(".rule-trigger"), "A new issue");
    assert_eq!(
        page.text(".rule-filters"),
        "environment production · level at least error · tag region=eu"
    );
    assert_eq!(
        page.text(".rule-actions"),
        "Webhook (Slack) to https://hooks.example.com/x"
    );
    let page = ada.page(&app, &rules, StatusCode::OK).await;
    assert_eq!(page.count("#rule-secret"), 0, "the secret is shown once");
    assert!(!page.source.contains(&rule.secret));

    // Edited: its form shows it as stored; the new values replace them.
    let edit = format!("{rules}/{}", rule.id);
    let page = ada.page(&app, &edit, StatusCode::OK).await;
    assert_eq!(page.attr("input#rule-name", "value"), "New in production");
    assert_eq!(page.attr("#rule-level option[selected]", "value"), "error");
    assert_eq!(page.text("textarea#rule-tags"), "region=eu");
    assert_eq!(
        page.attr("#action1-kind option[selected]", "value"),
        "webhook"
    );
    assert_eq!(page.attr("#action2-kind option[selected]", "value"), "");
    let mut changed = new_issue_rule("Errors anywhere");
    changed[4] = ("environment", "");
    changed[6] = ("tags", "");
    changed[10] = ("action2_kind", "email");
    changed.extend([("action2_to", "ops@example.com, dev@example.com")]);
    changed[12] = ("cooldown_minutes", "5");
    let response = ada.post(&app, &edit, &changed).await;
    assert_eq!(see_other(&response), format!("{rules}?done=rule-saved"));
    let page = ada.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(page.text("[role=status]"), "Alert rule saved.");
    assert_eq!(page.text(".rules-table a.cell-title"), "Errors anywhere");
    assert_eq!(page.text(".rule-filters"), "level at least error");
    assert_eq!(
        page.texts(".rule-actions .cell-sub"),
        [
            "Webhook (Slack) to https://hooks.example.com/x",
            "E-mail to ops@example.com, dev@example.com"
        ]
    );
    assert_eq!(page.text(".rules-table td:nth-child(4)"), "5 min");

    // Send test: a `test` alert on top of the list.
    let response = ada.post(&app, &format!("{edit}/test"), &[]).await;
    let list = format!("/projects/{p}/alerts");
    assert_eq!(see_other(&response), format!("{list}?done=test-sent"));
    let page = ada.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(page.text("title"), "Alerts · Web · Mesher");
    assert!(
        page.text("[role=status].alert-success")
            .starts_with("Test alert sent")
    );
    let live = page.one("section[data-live-stream]");
    assert_eq!(
        live.attr("data-live-stream"),
        Some(format!("/api/v1/projects/{p}/stream").as_str())
    );
    assert_eq!(page.attr("tbody[data-live-alerts]", "data-csrf"), ada.csrf);
    assert_eq!(
        page.attr("tbody[data-live-alerts]", "data-alert-state"),
        "all"
    );
    let alerts = app.store.list_alerts(p, None, 10).await.unwrap();
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    let row = format!(r#"tr[data-alert-id="{}"]"#, alert.id);
    assert_eq!(
        page.text(&format!("{row} a.cell-title")),
        r#"Test of the rule "Errors anywhere""#
    );
    assert_eq!(page.text(&format!("{row} td:nth-child(3)")), "test");
    assert_eq!(
        page.text(&format!("{row} [data-alert-field=state]")),
        "active"
    );
    assert_eq!(
        page.texts(&format!("{row} form button")),
        ["Acknowledge", "Resolve"]
    );

    // Acknowledged, then resolved, from the list.
    let state = format!("{list}/{}/state", alert.id);
    let response = ada.post(&app, &state, &[("state", "acknowledged")]).await;
    assert_eq!(
        see_other(&response),
        format!("{list}?done=alert-acknowledged")
    );
    let page = ada.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(
        page.text(&format!("{row} [data-alert-field=state]")),
        "acknowledged"
    );
    assert_eq!(page.texts(&format!("{row} form button")), ["Resolve"]);
    let response = ada
        .post(
            &app,
            &state,
            &[("state", "resolved"), ("note", "fixed the hook")],
        )
        .await;
    let page = ada.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(page.text("[role=status].alert-success"), "Alert resolved.");
    assert_eq!(
        page.text(&format!("{row} [data-alert-field=state]")),
        "resolved"
    );
    assert_eq!(page.count(&format!("{row} form")), 0);
    let active = ada
        .page(&app, &format!("{list}?state=active"), StatusCode::OK)
        .await;
    assert_eq!(active.count("tbody tr"), 0);
    assert_eq!(
        active.text(r#"nav[aria-label="Alert states"] [aria-current]"#),
        "Active"
    );
    let resolved = ada
        .page(&app, &format!("{list}?state=resolved"), StatusCode::OK)
        .await;
    assert_eq!(resolved.count("tbody tr"), 1);

    // The alert's page: the history, newest first, and a delivery per action.
    let page = ada
        .page(&app, &format!("{list}/{}", alert.id), StatusCode::OK)
        .await;
    assert_eq!(page.text("h1"), r#"Test of the rule "Errors anywhere""#);
    assert_eq!(page.text("#alert-state"), "resolved");
    assert_eq!(
        page.texts(".history-table tbody td:nth-child(2)"),
        ["resolved", "acknowledged", "active"]
    );
    let who = world.owner.name.as_str();
    assert_eq!(
        page.texts(".history-table tbody td:nth-child(3)"),
        [who, who, "Mesher"]
    );
    assert_eq!(
        page.texts(".history-table tbody td:nth-child(4)")[0],
        "fixed the hook"
    );
    let deliveries = app.store.alert_deliveries(alert.id).await.unwrap();
    assert_eq!(deliveries.len(), 2);
    assert_eq!(
        page.texts(".delivery h3"),
        [
            "Webhook (Slack) to https://hooks.example.com/x",
            "E-mail to ops@example.com, dev@example.com"
        ]
    );
    for (delivery, _) in &deliveries {
        assert!(page.source.contains(&delivery.idempotency_key));
    }
    assert_eq!(page.count(".delivery .badge[class*=delivery-]"), 2);

    // Deleted, with its alerts.
    let response = ada.post(&app, &format!("{edit}/delete"), &[]).await;
    assert_eq!(see_other(&response), format!("{rules}?done=rule-deleted"));
    assert!(app.store.list_alert_rules(p).await.unwrap().is_empty());
    assert!(app.store.list_alerts(p, None, 10).await.unwrap().is_empty());
    let page = ada.page(&app, &list, StatusCode::OK).await;
    assert_eq!(page.text(".empty-state .empty-heading"), "No alerts");
}

/// UI-06: members manage alert rules, as the API lets them (there is no read-only role in an
/// organization); someone of another organization finds none of these pages, and none of the
/// forms, and learns nothing from them.
#[tokio::test]
async fn members_manage_alerts_and_others_find_nothing() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let p = world.project.id;
    let max = app.session(&world.member).await;
    let rules = format!("/projects/{p}/alerts/rules");
    let response = max.post(&app, &rules, &new_issue_rule("Max's rule")).await;
    Page::from_response(response, StatusCode::OK).await;
    let rule = app.store.list_alert_rules(p).await.unwrap()[0].id;
    let response = max.post(&app, &format!("{rules}/{rule}/test"), &[]).await;
    see_other(&response);
    let alert = app.store.list_alerts(p, None, 10).await.unwrap()[0].id;

    let eve = app.session(&world.outsider).await;
    for path in [
        format!("/projects/{p}/alerts"),
        format!("/projects/{p}/alerts/{alert}"),
        rules.clone(),
        format!("{rules}/new"),
        format!("{rules}/{rule}"),
    ] {
        let page = eve.page(&app, &path, StatusCode::NOT_FOUND).await;
        assert_eq!(page.text("main h1"), "Page not found", "{path}");
    }
    for (path, fields) in [
        (rules.clone(), new_issue_rule("Eve's")),
        (format!("{rules}/{rule}"), new_issue_rule("Eve's")),
        (format!("{rules}/{rule}/test"), vec![]),
        (format!("{rules}/{rule}/delete"), vec![]),
        (
            format!("/projects/{p}/alerts/{alert}/state"),
            vec![("state", "resolved")],
        ),
    ] {
        let response = eve.post(&app, &path, &fields).await;
        Page::from_response(response, StatusCode::NOT_FOUND).await;
    }
    // A form from elsewhere is refused before anything is read.
    let response = max
        .post_raw(
            &app,
            &format!("/projects/{p}/alerts/{alert}/state"),
            &[("state", "resolved")],
        )
        .await;
    Page::from_response(response, StatusCode::FORBIDDEN).await;
    let rules_now = app.store.list_alert_rules(p).await.unwrap();
    assert_eq!(rules_now.len(), 1);
    assert_eq!(rules_now[0].name, "Max's rule");
    let alerts = app.store.list_alerts(p, None, 10).await.unwrap();
    assert_eq!(alerts[0].state.as_str(), "active");

    // An alert or a rule of another project is not found either.
    let page = max
        .page(
            &app,
            &format!("/projects/{p}/alerts/999999"),
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_eq!(page.text("main h1"), "Page not found");
    max.page(&app, &format!("{rules}/999999"), StatusCode::NOT_FOUND)
        .await;
}
