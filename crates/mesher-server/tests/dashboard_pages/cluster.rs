//! The Cluster page (issue 14): for organization admins and owners; one node on SQLite.

use std::time::Duration;

use axum::http::StatusCode;

use crate::dashboard::TestApp;

#[tokio::test]
async fn the_cluster_page_shows_this_node_to_admins_only() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    // The load monitor registers the node as it starts.
    let mut page = ada.page(&app, "/cluster", StatusCode::OK).await;
    for _ in 0..50 {
        if page.count("tbody tr") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        page = ada.page(&app, "/cluster", StatusCode::OK).await;
    }
    assert_eq!(page.text("main h1"), "Cluster");
    assert!(page.text("main p.muted").contains("the only node"));
    assert_eq!(page.count("tbody tr"), 1);
    assert_eq!(page.text("tbody .status-resolved"), "up");
    let name = app.state.cluster().identity().name.clone();
    assert_eq!(page.text("tbody .cell-title"), name);
    assert!(page.text("tbody").contains("this node"));
    assert!(
        page.text("tbody").contains("load-monitor"),
        "{}",
        page.source
    );
    // Linked from the header for admins and owners only.
    let link = |p: &crate::dashboard::Page| {
        p.select("header a")
            .iter()
            .any(|a| a.value().attr("href") == Some("/cluster"))
    };
    assert!(link(&page));
    let bob = app.session(&world.member).await;
    let page = bob.page(&app, "/me/tokens", StatusCode::OK).await;
    assert!(!link(&page));
    bob.page(&app, "/cluster", StatusCode::FORBIDDEN).await;
}
