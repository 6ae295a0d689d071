//! The Releases page: a project's releases newest first, with the commits and deploys a build
//! pipeline recorded, and a link to each one's issues; before any release, the commands that
//! make one.

use axum::http::StatusCode;
use mesher_store::{NewDeploy, ReleaseCommit};
use time::Duration;

use crate::dashboard::{TestApp, python_error};

#[tokio::test]
async fn the_releases_page_lists_releases_with_their_commits_and_deploys() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let path = format!("/projects/{}/releases", world.project.id);

    // None yet: the page says how a build declares one, for this project.
    let page = ada.page(&app, &path, StatusCode::OK).await;
    assert_eq!(page.text("main h1"), "Releases");
    assert_eq!(page.text(".empty-heading"), "No releases yet");
    let snippet = page.text("pre.code");
    assert!(
        snippet.contains(&format!(
            "--org {} --project {}",
            world.org.slug, world.project.slug
        )),
        "{snippet}"
    );
    assert_eq!(
        page.attr(r#"nav[aria-label="Main"] a[aria-current="page"]"#, "href"),
        path
    );

    // One release from an event, one declared by a build with commits and two deploys.
    let mut event = python_error("boom");
    event["release"] = "shop@1.0".into();
    app.send_event(&world, event).await;
    let store = &app.store;
    let now = mesher_store::now();
    store
        .declare_release(world.project.id, "shop@1.1", now + Duration::seconds(5))
        .await
        .unwrap();
    let commit = ReleaseCommit {
        id: "0123456789abcdef0123456789abcdef01234567".into(),
        repository: Some("acme/shop".into()),
        message: Some("Fix coupon rounding\n\nThe long story.".into()),
        author_name: Some("Ada Lovelace".into()),
        author_email: Some("ada@example.com".into()),
        timestamp: Some(now),
    };
    store
        .set_release_commits(world.org.id, "shop@1.1", &[commit.clone(), commit])
        .await
        .unwrap();
    store
        .finalize_release(world.project.id, "shop@1.1", now)
        .await
        .unwrap();
    for (environment, name) in [("staging", None), ("production", Some("blue"))] {
        store
            .add_deploy(&NewDeploy {
                org_id: world.org.id,
                version: "shop@1.1",
                environment,
                name,
                url: None,
                date_started: None,
                date_finished: now,
            })
            .await
            .unwrap();
    }

    let page = ada.page(&app, &path, StatusCode::OK).await;
    assert_eq!(page.texts("tbody .cell-title"), ["shop@1.1", "shop@1.0"]);
    let rows = page.texts("tbody tr");
    assert!(
        rows[0].contains("0123456789ab Fix coupon rounding"),
        "{}",
        rows[0]
    );
    assert!(!rows[0].contains("long story"), "the first line only");
    assert!(
        rows[0].contains("by Ada Lovelace") && rows[0].contains("2 commits"),
        "{}",
        rows[0]
    );
    assert!(
        rows[0].contains("production blue") && rows[0].contains("2 deploys"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].contains("none given") && rows[1].contains("none"),
        "{}",
        rows[1]
    );
    assert!(rows[0].contains("released"), "{}", rows[0]);
    assert!(!rows[1].contains("released"), "{}", rows[1]);
    // Each release links to its issues, of any status.
    let issues = page.select("tbody tr a");
    let href = issues[1].value().attr("href").unwrap();
    assert_eq!(
        href,
        format!(
            "/projects/{}/issues?status=all&release=shop%401.0",
            world.project.id
        )
    );
    let listed = ada.page(&app, href, StatusCode::OK).await;
    assert_eq!(listed.count("table.issues-table tbody tr"), 1);

    // Members read it too; outsiders get the 404 page.
    let bob = app.session(&world.member).await;
    bob.page(&app, &path, StatusCode::OK).await;
    let eve = app.session(&world.outsider).await;
    eve.page(&app, &path, StatusCode::NOT_FOUND).await;
}
