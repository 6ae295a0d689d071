//! The Live page (issue 15, UI-05) as the server renders it: the newest events with the stream's
//! filters (STREAM-02's filters, run on the server for the first render, on both backends), the
//! hooks its script uses, the navigation link, 404 outside the organization; and the hooks of
//! the overview's health cards and the issue list's counts. What the script does with them is
//! tested in a real browser (`dashboard_browser/live.rs`).

use axum::http::StatusCode;
use mesher_store::testing::Backend;
use serde_json::Value;

use crate::dashboard::{Page, Session, TestApp, World, message, python_error, see_other};

/// `event` as if it happened `secs` seconds ago (so that the order is certain).
fn ago(mut event: Value, secs: i64) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    event["timestamp"] = Value::from(now - secs);
    event
}

async fn live(app: &TestApp, who: &Session, world: &World, query: &str) -> Page {
    let path = format!("/projects/{}/live{query}", world.project.id);
    who.page(app, &path, StatusCode::OK).await
}

#[tokio::test]
async fn an_empty_project_has_a_live_page_in_the_navigation() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;

    // Every page of the project links to it.
    let overview = ada
        .page(&app, &format!("/projects/{p}"), StatusCode::OK)
        .await;
    assert_eq!(
        overview.attr(r#"nav[aria-label="Main"] a[href$="/live"]"#, "href"),
        format!("/projects/{p}/live")
    );

    let page = live(&app, &ada, &world, "").await;
    assert_eq!(page.text("title"), "Live · Web · Mesher");
    assert_eq!(page.text("main h1"), "Live");
    assert_eq!(
        page.text(r#"nav[aria-label="Main"] a[aria-current="page"]"#),
        "Live"
    );
    assert_eq!(
        page.texts(r#"nav[aria-label="Main"] a"#),
        [
            "Overview", "Issues", "Events", "Live", "Alerts", "Releases", "Settings"
        ]
    );
    assert_eq!(
        page.texts("#live-level option"),
        ["Any level", "Fatal", "Error", "Warning", "Info", "Debug"]
    );
    // Nothing yet: the empty state shows; the table is there, hidden, for the script to fill.
    assert_eq!(
        page.text("[data-live-empty] .empty-heading"),
        "No events yet"
    );
    assert!(page.one("[data-live-empty]").attr("hidden").is_none());
    assert!(page.one("[data-live-table]").attr("hidden").is_some());
    assert_eq!(page.count("tbody[data-live-rows] tr"), 0);

    // The script's hooks: the stream without filters, where rows link, the controls it reveals.
    assert_eq!(
        page.attr("section[data-live-stream]", "data-live-stream"),
        format!("/api/v1/projects/{p}/stream")
    );
    assert_eq!(
        page.attr("tbody[data-live-rows]", "data-issue-base"),
        format!("/projects/{p}/issues/")
    );
    assert!(page.one("[data-live-controls]").attr("hidden").is_some());
    let pause = page.one("[data-live-controls] button[data-live-pause]");
    assert_eq!(pause.attr("type"), Some("button"));
    assert_eq!(pause.attr("aria-pressed"), Some("false"));
    assert_eq!(page.attr("[data-live-status]", "role"), "status");
    let script = page.attr(r#"head script[src*="/live-"]"#, "src");
    assert!(script.starts_with("/static/live-") && script.ends_with(".js"));
    assert!(
        page.one(r#"head script[src*="/live-"]"#)
            .attr("defer")
            .is_some()
    );
    let response = app.get(&script).await;
    assert_eq!(response.status(), StatusCode::OK);
    // The strict policy holds: no inline code.
    assert_eq!(page.count("script:not([src])"), 0);
    assert_eq!(page.count("[style]"), 0);
    // Without the script, a reload is the way to see more.
    assert_eq!(
        page.attr(".page-header a.btn", "href"),
        format!("/projects/{p}/live")
    );
}

#[tokio::test]
async fn events_are_listed_newest_first_each_linking_to_its_event() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let oldest = app
        .send_event(&world, ago(message("cache warmed", "info"), 180))
        .await;
    let middle = app
        .send_event(&world, ago(python_error("'price'"), 120))
        .await;
    let newest = app
        .send_event(&world, ago(message("disk almost full", "warning"), 60))
        .await;
    let max = app.session(&world.member).await;
    let p = world.project.id;
    let page = live(&app, &max, &world, "").await;

    assert_eq!(
        page.texts("tbody[data-live-rows] a.cell-title"),
        ["disk almost full", "KeyError: 'price'", "cache warmed"]
    );
    assert!(page.one("[data-live-empty]").attr("hidden").is_some());
    assert!(page.one("[data-live-table]").attr("hidden").is_none());
    let issues = app.store.list_issues(p).await.unwrap();
    let issue_of = |title: &str| issues.iter().find(|i| i.title == title).unwrap().id;
    let links: Vec<String> = page
        .select("tbody a.cell-title")
        .iter()
        .map(|a| a.attr("href").unwrap().to_string())
        .collect();
    for (href, (id, title)) in links.iter().zip([
        (&newest, "disk almost full"),
        (&middle, "KeyError: 'price'"),
        (&oldest, "cache warmed"),
    ]) {
        assert_eq!(
            *href,
            format!("/projects/{p}/issues/{}?event={id}", issue_of(title))
        );
    }
    // The link leads to the event.
    let event = max.page(&app, &links[1], StatusCode::OK).await;
    assert_eq!(event.text(".event-id"), *middle);

    // The row's cells: time, level, issue, environment, release.
    let row = page.select("tbody tr")[1];
    let cells: Vec<String> = row
        .select(&scraper::Selector::parse("td").unwrap())
        .map(|td| td.text().collect::<String>().trim().to_string())
        .collect();
    assert_eq!(cells[0], "2 min ago");
    assert_eq!(cells[2], format!("#{}", issue_of("KeyError: 'price'")));
    assert_eq!(cells[3], "production");
    assert_eq!(cells[4], "web@1.4.2");
    assert_eq!(page.texts("tbody .badge"), ["warning", "error", "info"]);
}

#[tokio::test]
async fn filters_run_on_the_server_sqlite() {
    filters_run_on_the_server(Backend::Sqlite).await;
}

#[tokio::test]
async fn filters_run_on_the_server_postgres() {
    filters_run_on_the_server(Backend::Postgres).await;
}

/// Each filter alone and combined; the form keeps them and hands them to the stream.
async fn filters_run_on_the_server(backend: Backend) {
    let app = TestApp::on(backend).await;
    let world = app.world().await;
    // KeyError: error, production, web@1.4.2, browser "Firefox 128"; a message besides.
    let mut key_error = python_error("'price'");
    key_error["message"] = "while pricing the basket".into();
    app.send_event(&world, ago(key_error, 300)).await;
    let mut staging = message("disk almost full", "warning");
    staging["environment"] = "staging".into();
    app.send_event(&world, ago(staging, 240)).await;
    app.send_event(&world, ago(message("cache warmed", "info"), 180))
        .await;
    let mut fatal = message("database timeout after 3000 ms", "fatal");
    fatal["environment"] = "production".into();
    fatal["tags"] = serde_json::json!({"browser": "Chrome"});
    app.send_event(&world, ago(fatal, 120)).await;
    app.send_event(&world, ago(message("debug trace", "debug"), 60))
        .await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let warning_issue = app
        .store
        .list_issues(p)
        .await
        .unwrap()
        .iter()
        .find(|i| i.level == "warning")
        .unwrap()
        .id;

    let titles = |page: &Page| page.texts("tbody[data-live-rows] a.cell-title");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            String::new(),
            vec![
                "debug trace",
                "database timeout after 3000 ms",
                "cache warmed",
                "disk almost full",
                "KeyError: 'price'",
            ],
        ),
        // Level is "at least": warning brings warning, error and fatal, newest first.
        (
            "?level=warning".into(),
            vec![
                "database timeout after 3000 ms",
                "disk almost full",
                "KeyError: 'price'",
            ],
        ),
        (
            "?level=fatal".into(),
            vec!["database timeout after 3000 ms"],
        ),
        (
            "?level=debug".into(),
            vec![
                "debug trace",
                "database timeout after 3000 ms",
                "cache warmed",
                "disk almost full",
                "KeyError: 'price'",
            ],
        ),
        (
            "?environment=production".into(),
            vec!["database timeout after 3000 ms", "KeyError: 'price'"],
        ),
        ("?release=web%401.4.2".into(), vec!["KeyError: 'price'"]),
        ("?issue={warning}".into(), vec!["disk almost full"]),
        (
            "?tag=browser%3AChrome".into(),
            vec!["database timeout after 3000 ms"],
        ),
        (
            "?tag=browser%3AFirefox+128".into(),
            vec!["KeyError: 'price'"],
        ),
        (
            "?query=timeout".into(),
            vec!["database timeout after 3000 ms"],
        ),
        // Words of the title, in any case; not of the rest of the event (the stream's rule).
        ("?query=KEYERROR+price".into(), vec!["KeyError: 'price'"]),
        ("?query=basket".into(), vec![]),
        // Combined.
        (
            "?level=error&environment=production".into(),
            vec!["database timeout after 3000 ms", "KeyError: 'price'"],
        ),
        (
            "?level=error&environment=production&query=timeout".into(),
            vec!["database timeout after 3000 ms"],
        ),
        (
            "?level=warning&environment=staging&issue={warning}".into(),
            vec!["disk almost full"],
        ),
        ("?level=fatal&tag=browser%3AFirefox+128".into(), vec![]),
    ];
    for (query, expected) in cases {
        let query = query.replace("{warning}", &warning_issue.to_string());
        let page = live(&app, &ada, &world, &query).await;
        assert_eq!(titles(&page), expected, "{query}");
        if expected.is_empty() {
            assert_eq!(
                page.text("[data-live-empty] .empty-heading"),
                "No events match"
            );
        }
    }

    // The event search finds "basket" in the KeyError's message; the Live page, like the stream,
    // looks in titles only.
    let search = ada
        .page(
            &app,
            &format!("/projects/{p}/events?q=basket"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(search.texts("tbody a.cell-title"), ["KeyError: 'price'"]);

    // The form shows the filters, and the stream gets them (normalized).
    let page = live(
        &app,
        &ada,
        &world,
        "?level=WARN&environment=+production+&tag=browser%3AChrome&query=timeout",
    )
    .await;
    assert_eq!(
        page.attr("#live-level option[selected]", "value"),
        "warning"
    );
    assert_eq!(page.attr("#live-environment", "value"), " production ");
    assert_eq!(page.attr("#live-tag", "value"), "browser:Chrome");
    assert_eq!(page.attr("#live-query", "value"), "timeout");
    assert_eq!(
        page.attr("[data-live-stream]", "data-live-stream"),
        format!(
            "/api/v1/projects/{p}/stream?level=warning&environment=production\
             &tag=browser%3AChrome&query=timeout"
        )
    );
    assert_eq!(titles(&page), ["database timeout after 3000 ms"]);

    // What the form cannot produce is a page saying what is wrong.
    for (query, message) in [
        ("?level=loud", "level: \"loud\" is not a level"),
        ("?issue=x", "issue: \"x\" is not an issue number"),
        ("?tag=browser", "tag: \"browser\" is not key:value"),
    ] {
        let path = format!("/projects/{p}/live{query}");
        let page = ada.page(&app, &path, StatusCode::BAD_REQUEST).await;
        assert_eq!(page.text(".error-message"), message, "{query}");
    }
}

#[tokio::test]
async fn another_organizations_project_is_not_found() {
    let app = TestApp::start().await;
    let world = app.world().await;
    app.send_event(&world, message("secret", "error")).await;
    let p = world.project.id;
    let eve = app.session(&world.outsider).await;
    let page = eve
        .page(&app, &format!("/projects/{p}/live"), StatusCode::NOT_FOUND)
        .await;
    assert!(!page.source.contains("secret"));
    eve.page(&app, "/projects/999999/live", StatusCode::NOT_FOUND)
        .await;
    // Signed out: the sign-in page, which comes back here.
    let target = see_other(&app.get(&format!("/projects/{p}/live")).await);
    assert_eq!(target, format!("/signin?next=/projects/{p}/live"));
}

#[tokio::test]
async fn the_overview_cards_and_issue_counts_carry_live_hooks() {
    let app = TestApp::with_public_url("http://127.0.0.1:8000/mesher/").await;
    let world = app.world().await;
    app.send_event(&world, python_error("'price'")).await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let stream = format!("/mesher/api/v1/projects/{p}/stream");

    let overview = ada
        .page(&app, &format!("/mesher/projects/{p}"), StatusCode::OK)
        .await;
    assert_eq!(overview.attr("section.cards", "data-live-stream"), stream);
    let keys: Vec<&str> = overview
        .select(".cards .stat-value")
        .iter()
        .map(|e| e.attr("data-live-count").unwrap())
        .collect();
    assert_eq!(
        keys,
        ["unresolved_issues", "events_24h", "new_issues_today"]
    );
    assert!(
        overview
            .attr(r#"head script[src*="/live-"]"#, "src")
            .starts_with("/mesher/static/live-")
    );

    let issue = app.store.list_issues(p).await.unwrap()[0].id;
    let issues = ada
        .page(
            &app,
            &format!("/mesher/projects/{p}/issues"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(issues.attr(".table-wrap", "data-live-stream"), stream);
    let row = format!(r#"tr[data-live-issue="{issue}"]"#);
    assert_eq!(
        issues.text(&format!(r#"{row} [data-live-field="count"]"#)),
        "1"
    );
    assert_eq!(
        issues.text(&format!(r#"{row} [data-live-field="user_count"]"#)),
        "1"
    );
    // A count over a period is not the lifetime count the stream sends: it stays as rendered.
    let period = ada
        .page(
            &app,
            &format!("/mesher/projects/{p}/issues?period=24h"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        period.count(&format!(r#"{row} [data-live-field="count"]"#)),
        0
    );
    period.one(&format!(r#"{row} [data-live-field="user_count"]"#));

    // The Live page behind the prefix.
    let page = ada
        .page(&app, &format!("/mesher/projects/{p}/live"), StatusCode::OK)
        .await;
    assert_eq!(page.attr("[data-live-stream]", "data-live-stream"), stream);
    assert_eq!(
        page.attr("tbody[data-live-rows]", "data-issue-base"),
        format!("/mesher/projects/{p}/issues/")
    );
    assert_eq!(
        page.attr("form.filters", "action"),
        format!("/mesher/projects/{p}/live")
    );
}
