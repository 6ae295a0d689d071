//! The project overview: the first-run hint, health cards, charts and top issues; 404 for
//! anyone outside the organization.

use axum::http::StatusCode;

use crate::dashboard::{TestApp, message, python_error};

#[tokio::test]
async fn a_project_without_events_shows_how_to_send_the_first() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let page = ada
        .page(
            &app,
            &format!("/projects/{}", world.project.id),
            StatusCode::OK,
        )
        .await;

    assert_eq!(page.text("title"), "Overview · Web · Mesher");
    assert_eq!(page.text("main h1"), "Web");
    assert_eq!(
        page.text(r#"nav[aria-label="Main"] a[aria-current="page"]"#),
        "Overview"
    );
    assert_eq!(page.text("details.switcher > summary"), "Acme / Web");

    let dsn = page.attr("section.setup input#setup-dsn", "value");
    assert_eq!(
        dsn,
        format!(
            "http://{}@127.0.0.1:8000/{}",
            world.key.public_key, world.project.id
        )
    );
    assert_eq!(
        page.texts("section.setup details.snippet-choice > summary"),
        ["Python", "JavaScript", "Rust"]
    );
    // The project's platform is open; the others fold (an exclusive accordion).
    assert_eq!(page.count("section.setup details.snippet-choice[open]"), 1);
    assert!(
        page.text("details.snippet-choice[open] pre code")
            .contains("sentry_sdk.init(")
    );
    for code in page.texts("section.setup pre code") {
        assert!(code.contains(&dsn), "{code}");
    }
    assert_eq!(page.texts(".cards .stat-value"), ["0", "0", "0"]);
    // Nothing to chart yet.
    assert_eq!(page.count("svg.chart"), 0);
}

#[tokio::test]
async fn the_overview_shows_health_volume_levels_and_top_issues() {
    let app = TestApp::start().await;
    let world = app.world().await;
    for _ in 0..3 {
        app.send_event(&world, python_error("'price'")).await;
    }
    app.send_event(&world, message("disk almost full", "warning"))
        .await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let page = ada
        .page(&app, &format!("/projects/{p}"), StatusCode::OK)
        .await;

    assert_eq!(page.count("section.setup"), 0);
    let labels = page.texts(".cards .stat-label");
    assert_eq!(
        labels,
        ["Unresolved issues", "Events in 24 h", "New issues today"]
    );
    assert_eq!(page.texts(".cards .stat-value"), ["2", "4", "2"]);
    assert_eq!(
        page.select(".cards a.stat")[0].attr("href"),
        Some(&*format!("/projects/{p}/issues"))
    );

    // 24 hourly buckets with tooltips, and an accessible summary.
    let volume = page.one("#volume-heading + .chart-wrap svg.chart-volume");
    assert_eq!(volume.attr("role"), Some("img"));
    assert!(
        volume
            .attr("aria-label")
            .unwrap()
            .starts_with("Event volume: 4 events")
    );
    assert_eq!(page.count("svg.chart-volume g.bucket > title"), 24);
    let levels = page.attr("svg.chart-levels", "aria-label");
    assert_eq!(levels, "Events by level: error 3, warning 1");

    let rows = page.select("table tbody tr");
    assert_eq!(rows.len(), 2);
    assert_eq!(page.texts("table tbody td.num"), ["3", "1"]);
    assert!(page.texts("table tbody a.cell-title")[0].starts_with("KeyError"));
    let first = page.select("table tbody a.cell-title")[0]
        .attr("href")
        .unwrap()
        .to_string();
    assert!(
        first.starts_with(&format!("/projects/{p}/issues/")),
        "{first}"
    );

    // Other ranges: daily buckets.
    let week = ada
        .page(&app, &format!("/projects/{p}?range=7d"), StatusCode::OK)
        .await;
    assert_eq!(week.text(r#".segmented a[aria-current="true"]"#), "7 d");
    assert_eq!(week.count("svg.chart-volume g.bucket"), 7);
    let month = ada
        .page(&app, &format!("/projects/{p}?range=30d"), StatusCode::OK)
        .await;
    assert_eq!(month.count("svg.chart-volume g.bucket"), 30);
}

#[tokio::test]
async fn the_cards_follow_the_chosen_range() {
    let app = TestApp::start().await;
    let world = app.world().await;
    app.send_event(&world, python_error("'price'")).await;
    // Three days ago: in the week and the month, not in the last 24 hours.
    let mut old = message("disk almost full", "warning");
    let three_days_ago = time::OffsetDateTime::now_utc() - time::Duration::days(3);
    old["timestamp"] = three_days_ago.unix_timestamp().into();
    app.send_event(&world, old).await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;

    let day = ada
        .page(&app, &format!("/projects/{p}"), StatusCode::OK)
        .await;
    assert_eq!(
        day.texts(".cards .stat-label"),
        ["Unresolved issues", "Events in 24 h", "New issues today"]
    );
    assert_eq!(day.texts(".cards .stat-value")[1], "1");
    assert_eq!(day.count(".cards [data-live-count]"), 3);

    for (range, days) in [("7d", "7 days"), ("30d", "30 days")] {
        let page = ada
            .page(
                &app,
                &format!("/projects/{p}?range={range}"),
                StatusCode::OK,
            )
            .await;
        assert_eq!(
            page.texts(".cards .stat-label"),
            [
                "Unresolved issues".to_string(),
                format!("Events in {days}"),
                format!("New issues in {days}"),
            ]
        );
        assert_eq!(page.texts(".cards .stat-value"), ["2", "2", "2"]);
        // The stream's figures are the day's: it must not overwrite the range's.
        assert_eq!(page.count(".cards [data-live-count]"), 1);
        assert_eq!(
            page.select(".cards a.stat")[2].attr("href"),
            Some(&*format!(
                "/projects/{p}/issues?sort=first_seen&status=all&period={range}"
            ))
        );
    }
}

#[tokio::test]
async fn projects_outside_ones_organizations_are_not_found() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let eve = app.session(&world.outsider).await;
    let p = world.project.id;
    for path in [
        format!("/projects/{p}"),
        format!("/projects/{p}/issues"),
        format!("/projects/{p}/events"),
        format!("/projects/{p}/settings"),
        "/projects/999999".to_string(),
        "/projects/not-a-number".to_string(),
        "/orgs/acme/members".to_string(),
        "/orgs/acme/projects/new".to_string(),
    ] {
        let page = eve.page(&app, &path, StatusCode::NOT_FOUND).await;
        assert_eq!(page.text(".error-status"), "404", "{path}");
        assert_eq!(page.text("main h1"), "Page not found", "{path}");
        assert!(
            !page.source.contains("Acme"),
            "{path} reveals the organization"
        );
    }
}
