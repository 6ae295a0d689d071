//! Event search: words, `key:value` terms, empty states, permanent event addresses.

use axum::http::StatusCode;

use crate::dashboard::{TestApp, message, python_error, see_other};

#[tokio::test]
async fn a_project_without_events_says_so() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let page = ada
        .page(
            &app,
            &format!("/projects/{}/events", world.project.id),
            StatusCode::OK,
        )
        .await;
    assert_eq!(page.text("main h1"), "Events");
    assert_eq!(
        page.text(r#"nav[aria-label="Main"] a[aria-current="page"]"#),
        "Events"
    );
    assert_eq!(page.text(".empty-state .empty-heading"), "No events yet");
    assert_eq!(page.text(r#"label[for="events-q"]"#), "Search");
    assert_eq!(page.attr("#events-q", "aria-describedby"), "events-q-help");
    assert_eq!(page.text("#events-q-help summary"), "Search syntax");
}

#[tokio::test]
async fn search_by_words_tags_and_fields() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let key_error = app.send_event(&world, python_error("'price'")).await;
    app.send_event(&world, message("disk almost full on /var", "warning"))
        .await;
    let mut tagged = message("payment declined for order 1234", "error");
    tagged["tags"] = serde_json::json!({"gateway": "stripe"});
    app.send_event(&world, tagged).await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let search = |q: &str| {
        format!(
            "/projects/{p}/events?q={}",
            url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        )
    };

    let all = ada
        .page(&app, &format!("/projects/{p}/events"), StatusCode::OK)
        .await;
    assert_eq!(all.count("table.events-table tbody tr"), 3);
    // Newest first.
    assert_eq!(
        all.texts("tbody a.cell-title")[0],
        "payment declined for order 1234"
    );

    let page = ada.page(&app, &search("disk"), StatusCode::OK).await;
    assert_eq!(
        page.texts("tbody a.cell-title"),
        ["disk almost full on /var"]
    );
    assert_eq!(page.attr("#events-q", "value"), "disk");

    let page = ada
        .page(&app, &search("gateway:stripe"), StatusCode::OK)
        .await;
    assert_eq!(
        page.texts("tbody a.cell-title"),
        ["payment declined for order 1234"]
    );

    let page = ada
        .page(&app, &search(r#"browser:"Firefox 128""#), StatusCode::OK)
        .await;
    assert_eq!(page.count("tbody tr"), 1);
    let href = page.attr("tbody a.cell-title", "href");
    assert!(href.ends_with(&format!("?event={key_error}")), "{href}");

    let page = ada
        .page(&app, &search("level:warning"), StatusCode::OK)
        .await;
    assert_eq!(
        page.texts("tbody a.cell-title"),
        ["disk almost full on /var"]
    );
    assert_eq!(page.texts("tbody .badge"), ["warning"]);

    let issue = app
        .store
        .list_issues(p)
        .await
        .unwrap()
        .iter()
        .find(|i| i.level == "warning")
        .unwrap()
        .id;
    let page = ada
        .page(&app, &search(&format!("issue:{issue}")), StatusCode::OK)
        .await;
    assert_eq!(page.texts("tbody td.mono")[0], format!("#{issue}"));

    let page = ada
        .page(&app, &search("nothing-like-this"), StatusCode::OK)
        .await;
    assert_eq!(page.text(".empty-state .empty-heading"), "No events match");

    // A search that cannot be read: the page, the query kept, the reason beside it.
    for (q, reason) in [
        (
            "disk level:loud",
            "level:loud is not a level; use fatal, error",
        ),
        (r#"browser:"Chrome 120"#, "A quote is not closed"),
        ("is:resolved", "is: filters issues by state"),
    ] {
        let page = ada.page(&app, &search(q), StatusCode::BAD_REQUEST).await;
        assert_eq!(page.attr("#events-q", "value"), q);
        assert_eq!(page.attr("#events-q", "aria-invalid"), "true");
        assert_eq!(
            page.attr("#events-q", "aria-describedby"),
            "events-q-error events-q-help"
        );
        let error = page.text(r#"#events-q-error[role="alert"]"#);
        assert!(error.starts_with(reason), "{q}: {error}");
        assert_eq!(page.text("main h1"), "Events");
        assert_eq!(
            page.text(".empty-state .empty-heading"),
            "The search cannot be read"
        );
        let help = page.texts("#events-q-help dt");
        for term in [
            "level:error",
            "environment:production",
            "release:2.1.0",
            "issue:42",
        ] {
            assert!(help.iter().any(|t| t == term), "{term}: {help:?}");
        }
    }
}

#[tokio::test]
async fn an_event_address_shows_it_on_its_issue() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let id = app.send_event(&world, message("hello", "info")).await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let issue = app.store.list_issues(p).await.unwrap()[0].id;
    let target = see_other(&ada.get(&app, &format!("/projects/{p}/events/{id}")).await);
    assert_eq!(target, format!("/projects/{p}/issues/{issue}?event={id}"));
    let page = ada.page(&app, &target, StatusCode::OK).await;
    assert_eq!(page.text(".event-id"), id);
    assert_eq!(page.text("pre.message"), "hello");
    ada.page(
        &app,
        &format!("/projects/{p}/events/{:032x}", 1),
        StatusCode::NOT_FOUND,
    )
    .await;
    ada.page(
        &app,
        &format!("/projects/{p}/events/nope"),
        StatusCode::NOT_FOUND,
    )
    .await;
}
