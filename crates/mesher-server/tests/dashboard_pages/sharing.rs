//! What makes an issue easy to tell apart and to pass on: tab titles that name it, the raw
//! event's JSON, and the event's id and link to copy.

use axum::http::StatusCode;

use crate::dashboard::{TestApp, message};

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
