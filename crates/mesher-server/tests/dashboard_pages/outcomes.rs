//! RETAIN-04 on the settings page: the per-issue hourly cap among the settings, and the
//! project's outcomes per reason over the last day and 30 days.

use axum::http::StatusCode;
use mesher_store::OutcomeCount;

use crate::dashboard::{Page, TestApp};

fn fields(cap: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("name", "Web"),
        ("platform", "python"),
        ("retention_days", "90"),
        ("sample_rate", "1"),
        ("rate_limit_per_minute", "6000"),
        ("max_events_per_issue_per_hour", cap),
    ]
}

#[tokio::test]
async fn retain_04_the_issue_cap_is_set_checked_and_cleared_on_the_settings_page() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let path = format!("/projects/{p}/settings");
    let page = ada.page(&app, &path, StatusCode::OK).await;
    page.one("label[for=max_events_per_issue_per_hour]");
    assert_eq!(
        page.attr("input#max_events_per_issue_per_hour", "value"),
        ""
    );

    ada.post(&app, &path, &fields("25")).await;
    let cap = |app: &TestApp| {
        let store = app.store.clone();
        async move {
            store
                .project(p)
                .await
                .unwrap()
                .unwrap()
                .max_events_per_issue_per_hour
        }
    };
    assert_eq!(cap(&app).await, Some(25));
    let page = ada.page(&app, &path, StatusCode::OK).await;
    assert_eq!(
        page.attr("input#max_events_per_issue_per_hour", "value"),
        "25"
    );

    let response = ada.post(&app, &path, &fields("-2")).await;
    let page = Page::from_response(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        page.text("#max_events_per_issue_per_hour-error"),
        "Per-issue cap must be between 0 (no cap) and 100000000."
    );
    assert_eq!(
        page.attr("input#max_events_per_issue_per_hour", "aria-invalid"),
        "true"
    );
    assert_eq!(
        page.attr("input#max_events_per_issue_per_hour", "value"),
        "-2"
    );
    assert_eq!(cap(&app).await, Some(25));

    ada.post(&app, &path, &fields("")).await;
    assert_eq!(cap(&app).await, None);
}

#[tokio::test]
async fn retain_04_the_settings_page_shows_the_outcomes_per_reason() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let now = mesher_store::now();
    let count = |hour, reason: &str, count| OutcomeCount {
        project_id: p,
        hour,
        reason: reason.into(),
        count,
    };
    app.store
        .add_outcomes(&[
            count(now, "accepted", 1200),
            count(now, "sampled", 3),
            count(now - time::Duration::days(3), "capped", 7),
            count(now - time::Duration::days(3), "queue_full", 2),
        ])
        .await
        .unwrap();
    let page = ada
        .page(&app, &format!("/projects/{p}/settings"), StatusCode::OK)
        .await;
    assert_eq!(page.text("#outcomes-heading"), "Outcomes");
    assert_eq!(
        page.texts("#outcomes thead th[scope=col]"),
        ["Outcome", "Last 24 hours", "Last 30 days"]
    );
    assert_eq!(
        page.texts("#outcomes tbody th[scope=row]"),
        [
            "Accepted (stored)",
            "Rate limited",
            "Sampled out",
            "Invalid",
            "Too large",
            "Discarded issue",
            "Over the per-issue cap",
            "Server busy",
        ]
    );
    assert_eq!(
        page.texts("#outcomes tbody td"),
        [
            "1,200", "1,200", "0", "0", "3", "3", "0", "0", "0", "0", "0", "0", "0", "7", "0", "2",
        ]
    );
}
