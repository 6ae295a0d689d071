//! What makes an issue easy to tell apart and to pass on: tab titles that name it, the raw
//! event's JSON, and the event's id and link to copy.

use axum::http::StatusCode;

use crate::dashboard::{TestApp, body, message, see_other};

#[tokio::test]
async fn the_tab_title_names_the_issue_and_the_linked_event() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let long = format!("<b>Tom & Jerry</b> {}", "x".repeat(100));
    let event = app.send_event(&world, message(&long, "error")).await;
    let issue = app.store.list_issues(world.project.id).await.unwrap()[0].id;
    let ada = app.session(&world.owner).await;
    let here = format!("/projects/{}/issues/{issue}", world.project.id);

    let page = ada.page(&app, &here, StatusCode::OK).await;
    // Cut to 60 characters; the markup in it is escaped text, not elements.
    let cut: String = long.chars().take(60).collect();
    assert_eq!(page.text("head > title"), format!("{cut}… · Web · Mesher"));
    assert!(
        page.source.contains("<title>&#60;b&#62;"),
        "{}",
        &page.source[..400]
    );
    assert_eq!(page.count("head > title b"), 0);

    let page = ada
        .page(&app, &format!("{here}?event={event}"), StatusCode::OK)
        .await;
    assert_eq!(
        page.text("head > title"),
        format!("{cut}… · event {} · Web · Mesher", &event[..8])
    );
}

#[tokio::test]
async fn the_event_offers_its_json_its_id_and_its_link() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let event = app.send_event(&world, message("disk full", "error")).await;
    let issue = app.store.list_issues(world.project.id).await.unwrap()[0].id;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let page = ada
        .page(
            &app,
            &format!("/projects/{p}/issues/{issue}"),
            StatusCode::OK,
        )
        .await;

    // The raw event, from the API, with the session's cookie.
    let json = page.attr(".event-share a[type=\"application/json\"]", "href");
    assert_eq!(json, format!("/api/v1/projects/{p}/events/{event}/json"));
    assert_eq!(
        page.text(".event-share a[type=\"application/json\"]"),
        "JSON"
    );
    let response = ada.get(&app, &json).await;
    assert_eq!(response.status(), StatusCode::OK);
    let raw: serde_json::Value = serde_json::from_slice(&body(response).await).unwrap();
    assert_eq!(raw["event_id"], event.as_str());

    // Without a script, the id and the link are there as text; the buttons that copy them
    // appear with the script.
    assert_eq!(page.text("#event-id"), event);
    let link = format!("http://127.0.0.1:8000/projects/{p}/events/{event}");
    assert_eq!(page.text("#event-link"), link);
    assert_eq!(page.attr("#event-link", "href"), link);
    for (target, label) in [("event-id", "Copy event id"), ("event-link", "Copy link")] {
        let button = page.one(&format!(".event-share button[data-copy=\"{target}\"]"));
        assert_eq!(button.attr("type"), Some("button"));
        assert!(button.attr("hidden").is_some());
        assert_eq!(button.text().collect::<String>(), label);
    }
    // The link leads to the event on its issue's page.
    let response = ada
        .get(&app, &format!("/projects/{p}/events/{event}"))
        .await;
    assert_eq!(
        see_other(&response),
        format!("/projects/{p}/issues/{issue}?event={event}")
    );
}
