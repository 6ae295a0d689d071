//! Alerts in a real browser (issue 16, acceptance 6; UI-06 "Manage alert rules", ALERT-06 the
//! alert reaches the dashboard live): a rule created through the dashboard's form, triggered by
//! a real event of the Rust `sentry` crate, appears on the open alert list without a reload and
//! is acknowledged there.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mesher_store::testing::Backend;
use sentry::protocol::{Event, Level};
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::common::TestServer;

/// The summary of the first row of the alert list, or null.
const FIRST_SUMMARY: &str = "var a = document.querySelector('tbody[data-live-alerts] tr a.cell-title'); return a ? a.textContent : null";

/// Issue 16, acceptance 6: create a rule in the dashboard, trigger it with a real SDK event,
/// see the alert appear live within 1 s (measured from the moment the test asks the SDK to
/// send the event, as the Live page's test measures, so the SDK's send, ingestion, the commit,
/// the engine and the stream are all in it), acknowledge it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_made_in_the_dashboard_alerts_live_and_is_acknowledged() {
    let server = TestServer::start(Backend::Sqlite).await;
    super::add_ada(&server).await;
    let p = server.project_id;
    let browser = Browser::start().await;
    browser
        .goto(&format!(
            "{}/signin?next=/projects/{p}/alerts/rules/new",
            server.url
        ))
        .await;
    browser
        .sign_in("ada@example.com", super::ADA_PASSWORD)
        .await;

    // The form: a new issue is the default trigger; the threshold's fields are hidden for it.
    let name = browser.find("input#rule-name").await;
    name.send_keys("Any new issue").await.unwrap();
    assert!(
        !browser
            .find("input#rule-count")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    browser.screenshot("alert-rule").await;
    browser.assert_no_console_errors().await;
    browser.click("form.rule-form button[type=submit]").await;
    assert_eq!(browser.text("p.alert-success").await, "Alert rule created.");
    assert_eq!(
        browser.text(".rules-table .rule-trigger").await,
        "A new issue"
    );

    // The alert list, subscribed to the project's stream.
    browser
        .click(r#"nav[aria-label="Main"] a[href$="/alerts"]"#)
        .await;
    browser
        .find(r#"section[data-live-stream][data-live-state="open"]"#)
        .await;
    assert_eq!(browser.eval(FIRST_SUMMARY).await, Value::Null);
    browser
        .eval("window.mesherNoReload = true; return null")
        .await;

    // The real SDK, its client made before the clock starts.
    let dsn = server.dsn.clone();
    let client = tokio::task::spawn_blocking(move || {
        let mut options = sentry::ClientOptions::default();
        options.dsn = Some(dsn.parse().unwrap());
        options.environment = Some("production".into());
        Arc::new(sentry::Client::from_config(sentry::apply_defaults(options)))
    })
    .await
    .unwrap();
    let title = "Refund failed: ledger locked";
    let sent_at = Instant::now();
    let sender = client.clone();
    tokio::task::spawn_blocking(move || {
        sender.capture_event(
            Event {
                message: Some(title.into()),
                level: Level::Error,
                ..Event::default()
            },
            None,
        )
    })
    .await
    .unwrap();
    let latency = loop {
        let value = browser.eval(FIRST_SUMMARY).await;
        let elapsed = sent_at.elapsed();
        if value.as_str().is_some_and(|s| s.contains(title)) {
            break elapsed;
        }
        assert!(
            elapsed < Duration::from_secs(1),
            "after {elapsed:?}, the first alert is {value}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    println!("alerts: the alert appeared on the alert list {latency:?} after the SDK's send");
    assert!(
        tokio::task::spawn_blocking(move || client.flush(Some(Duration::from_secs(5))))
            .await
            .unwrap()
    );

    let alerts = server.store.list_alerts(p, None, 10).await.unwrap();
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    let row = format!(
        r#"tbody[data-live-alerts] tr[data-alert-id="{}"]"#,
        alert.id
    );
    let cells = format!(
        "return Array.from(document.querySelectorAll('{row} td')).map(function (td) {{ return td.textContent.trim(); }})"
    );
    let cells = browser.eval(&cells).await;
    assert_eq!(cells[2], json!("new_issue"), "{cells}");
    assert_eq!(cells[3], json!("active"), "{cells}");
    assert_eq!(
        cells[4],
        json!(format!("#{}", alert.issue_id.unwrap())),
        "{cells}"
    );
    assert_eq!(browser.text("[data-live-alert-count]").await, "1 new");
    assert_eq!(
        browser.eval("return window.mesherNoReload === true").await,
        json!(true),
        "the row came without a reload"
    );
    browser.screenshot("alerts").await;
    browser.assert_no_console_errors().await;

    // Acknowledged from the row the script added.
    browser
        .click(&format!(r#"{row} button[value="acknowledged"]"#))
        .await;
    assert_eq!(browser.text("p.alert-success").await, "Alert acknowledged.");
    assert_eq!(
        browser
            .text(&format!("{row} [data-alert-field=state]"))
            .await,
        "acknowledged"
    );
    let stored = server.store.alert(alert.id).await.unwrap().unwrap();
    assert_eq!(stored.state.as_str(), "acknowledged");

    // Its page: who acknowledged it.
    browser.click(&format!("{row} a.cell-title")).await;
    assert_eq!(
        browser.find("#alert-state").await.text().await.unwrap(),
        "acknowledged"
    );
    let who = browser
        .eval("return document.querySelector('.history-table tbody td:nth-child(3)').textContent")
        .await;
    assert_eq!(who, json!("Ada Lovelace"));
    browser.assert_no_console_errors().await;
    browser.close().await;
}
