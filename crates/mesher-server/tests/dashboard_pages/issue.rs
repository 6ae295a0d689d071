//! An issue's page: header, actions, the event in full, tags, activity, grouping; state changes,
//! assignment and deletion with the roles they need.

use axum::http::StatusCode;

use mesher_store::IssueStatus;
use mesher_store::testing::Backend;

use crate::dashboard::{Page, TestApp, World, message, python_error, see_other};

async fn issue_with_events(app: &TestApp, world: &World, n: usize) -> (i64, Vec<String>) {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(app.send_event(world, python_error("'price'")).await);
    }
    let issue = app.store.list_issues(world.project.id).await.unwrap()[0].id;
    (issue, ids)
}

#[tokio::test]
async fn the_issue_page_shows_the_latest_event_in_full() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (issue, ids) = issue_with_events(&app, &world, 2).await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let page = ada
        .page(
            &app,
            &format!("/projects/{p}/issues/{issue}"),
            StatusCode::OK,
        )
        .await;

    assert_eq!(page.text("main h1"), "KeyError: 'price'");
    assert!(
        page.text(".issue-heading .culprit").contains("cart_total"),
        "{}",
        page.text(".culprit")
    );
    assert_eq!(page.text("#issue-status"), "unresolved");
    assert_eq!(
        page.text(r#"nav[aria-label="Main"] a[aria-current="page"]"#),
        "Issues"
    );
    assert_eq!(
        page.texts(".issue-actions form.action-row button"),
        ["Resolve", "Resolve in next release", "Discard"]
    );
    assert_eq!(page.text(".archive-menu summary"), "Archive…");
    assert_eq!(
        page.texts(".kv-facts dt")[..4],
        ["Events", "Users", "First seen", "Last seen"]
    );
    assert_eq!(page.texts(".kv-facts dd")[..2], ["2", "1"]);
    assert_eq!(
        page.count(r#"section[aria-labelledby="timeline-heading"] svg.chart-volume"#),
        1
    );

    // The latest event, with the way to the one before.
    assert_eq!(page.text(".event-id"), ids[1]);
    let older = page.attr(r#".event-nav a[rel="prev"]"#, "href");
    assert_eq!(
        older,
        format!("/projects/{p}/issues/{issue}?event={}", ids[0])
    );
    assert_eq!(page.count(r#".event-nav [aria-disabled="true"]"#), 1);

    // The stack trace: most recent call first, application frames emphasised, the most recent
    // one unfolded with its source, library frames folded.
    assert_eq!(page.text(".exception-type"), "KeyError");
    assert_eq!(page.text(".exception-value"), "'price'");
    assert!(page.text(".exception-notes").contains("unhandled"));
    let app_frames = page.texts("ol.stacktrace > li.frame.in-app .frame-function");
    assert_eq!(app_frames, ["cart_total", "checkout"]);
    assert_eq!(page.count("li.frame.in-app > details[open]"), 1);
    assert_eq!(
        page.text("li.frame.in-app > details[open] ol.code-context li.current"),
        "return sum(item[\"price\"] for item in cart[\"items\"])"
    );
    assert_eq!(
        page.attr("li.frame.in-app > details[open] ol.code-context", "start"),
        "16"
    );
    assert!(
        page.text("li.frame.in-app > details[open] .frame-location")
            .starts_with("shop/pricing.py:17")
    );
    assert_eq!(
        page.count("li.frame-group > details.system-frames:not([open])"),
        2
    );
    assert_eq!(
        page.texts("details.system-frames .frame-function"),
        ["__add__", "_get_response"]
    );

    assert_eq!(
        page.texts("table.breadcrumbs tbody td.crumb-message")[1],
        "Pay button"
    );
    assert_eq!(page.count("table.breadcrumbs tbody tr"), 2);
    let tags = page.select(".tag-list a");
    assert!(!tags.is_empty());
    let browser = tags
        .iter()
        .find(|a| a.text().collect::<String>().contains("Firefox 128"))
        .unwrap();
    assert_eq!(
        browser.attr("href"),
        Some(&*format!(
            "/projects/{p}/events?q=browser%3A%22Firefox+128%22"
        ))
    );
    let user = page.texts(".event-block dl.kv dd");
    assert!(user.contains(&"buyer@example.com".to_string()), "{user:?}");
    assert!(
        page.text(".request-line")
            .starts_with("POST https://shop.example.com/checkout")
    );
    let contexts: Vec<String> = page.texts(".event-block h3");
    assert!(contexts.contains(&"runtime".to_string()), "{contexts:?}");

    // Tags of all the issue's events, with their shares.
    let keys = page.texts(".tag-breakdown .tag-key");
    assert!(keys.contains(&"browser".to_string()), "{keys:?}");
    assert!(page.count(".tag-breakdown svg.tag-bar title") >= 1);

    // Why grouped here.
    let grouping = page.text("section.grouping p.grouping-rule");
    assert!(
        grouping.contains("the exception's stack trace"),
        "{grouping}"
    );
    assert!(
        grouping.contains("only in-app frames decided"),
        "{grouping}"
    );
    let components = page.texts("ol.components li");
    assert!(
        components.contains(&"cart_total".to_string()),
        "{components:?}"
    );
    assert!(page.count(".grouping-tree li.ignored") >= 1);
    assert_eq!(
        page.texts(".activity li > span:first-child"),
        ["First seen"]
    );

    // The older event: the way forward, and back to the latest.
    let page = ada.page(&app, &older, StatusCode::OK).await;
    assert_eq!(page.text(".event-id"), ids[0]);
    assert_eq!(page.count(r#".event-nav a[rel="next"]"#), 1);
    assert_eq!(page.count(r#".event-nav a[rel="prev"]"#), 0);
    let latest = page
        .select(".event-nav a")
        .into_iter()
        .find(|a| a.text().collect::<String>() == "Latest")
        .unwrap();
    assert_eq!(
        latest.attr("href"),
        Some(&*format!("/projects/{p}/issues/{issue}"))
    );
}

#[tokio::test]
async fn unknown_issues_and_events_are_not_found() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (issue, _) = issue_with_events(&app, &world, 1).await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    for path in [
        format!("/projects/{p}/issues/999999"),
        format!("/projects/{p}/issues/{issue}?event=nothex"),
        format!("/projects/{p}/issues/{issue}?event={:032x}", 7),
    ] {
        let page = ada.page(&app, &path, StatusCode::NOT_FOUND).await;
        assert_eq!(page.text(".error-status"), "404", "{path}");
    }
    // The issue exists, but in a project of another organization.
    let other = app
        .store
        .list_orgs()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.slug == "other")
        .unwrap();
    let (theirs, _) =
        mesher_server::accounts::create_project(app.store.as_ref(), other.id, "Theirs", None, None)
            .await
            .unwrap();
    ada.page(
        &app,
        &format!("/projects/{}/issues/{issue}", theirs.id),
        StatusCode::NOT_FOUND,
    )
    .await;
    let eve = app.session(&world.outsider).await;
    eve.page(
        &app,
        &format!("/projects/{}/issues/{issue}", theirs.id),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn resolving_changes_the_state_and_the_activity() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (issue, _) = issue_with_events(&app, &world, 1).await;
    let max = app.session(&world.member).await;
    let p = world.project.id;
    let here = format!("/projects/{p}/issues/{issue}");

    let response = max
        .post(&app, &format!("{here}/status"), &[("status", "resolve")])
        .await;
    assert_eq!(see_other(&response), format!("{here}?done=resolved"));
    let page = max
        .page(&app, &format!("{here}?done=resolved"), StatusCode::OK)
        .await;
    assert_eq!(page.text("[role=status]"), "Issue resolved.");
    assert_eq!(page.text("#issue-status"), "resolved");
    assert_eq!(
        page.texts(".issue-actions form.action-row button"),
        ["Unresolve", "Resolve in next release", "Discard"]
    );
    assert_eq!(
        page.texts(".activity li > span:first-child"),
        ["max resolved the issue", "First seen"]
    );

    let response = max
        .post(
            &app,
            &format!("{here}/status"),
            &[("status", "resolve_in_next_release")],
        )
        .await;
    let page = max.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(
        page.text(".issue-badges .muted"),
        "in the next release after web@1.4.2"
    );

    let response = max
        .post(&app, &format!("{here}/status"), &[("status", "archive")])
        .await;
    let page = max.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(page.text("#issue-status"), "archived");
    assert_eq!(
        page.texts(".issue-actions form.action-row button"),
        ["Resolve", "Unresolve", "Resolve in next release", "Discard"]
    );

    let response = max
        .post(&app, &format!("{here}/status"), &[("status", "explode")])
        .await;
    Page::from_response(response, StatusCode::BAD_REQUEST).await;
}

/// Issue 12, row 5: the Archive menu offers Sentry's conditions, and the page says in words how
/// the issue is archived.
#[tokio::test]
async fn the_archive_menu_offers_every_condition() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (issue, _) = issue_with_events(&app, &world, 1).await;
    let max = app.session(&world.member).await;
    let here = format!("/projects/{}/issues/{issue}", world.project.id);
    let page = max.page(&app, &here, StatusCode::OK).await;
    assert_eq!(
        page.texts("select#archive-until option"),
        [
            "Until it escalates",
            "Forever",
            "For 1 hour",
            "For 24 hours",
            "For 7 days",
            "Until 10 more events",
            "Until 100 more events",
            "Until 1000 more events",
            "Until 10 more users",
            "Until 100 more users"
        ]
    );

    let response = max
        .post(
            &app,
            &format!("{here}/status"),
            &[("status", "archive_24h")],
        )
        .await;
    assert_eq!(
        see_other(&response),
        format!("{here}?done=archived_as_chosen")
    );
    let page = max.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(page.text("[role=status]"), "Issue archived.");
    assert_eq!(page.text("#issue-status"), "archived");
    assert!(
        page.text(".issue-badges .muted")
            .starts_with("for 1 day, until "),
        "{}",
        page.text(".issue-badges .muted")
    );
    assert_eq!(
        page.texts(".activity li > span:first-child")[0],
        "max archived the issue for 1 day"
    );

    let response = max
        .post(
            &app,
            &format!("{here}/status"),
            &[("status", "archive_100_events")],
        )
        .await;
    let page = max.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(page.text(".issue-badges .muted"), "until 100 more events");
    assert_eq!(
        page.text("select#archive-until option[selected]"),
        "Until 100 more events"
    );

    let response = max
        .post(&app, &format!("{here}/status"), &[("status", "archive")])
        .await;
    let page = max.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(
        page.text(".issue-badges .muted"),
        "until it escalates (more than 10 new events in an hour)"
    );
}

#[tokio::test]
async fn assigning_lists_the_members() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (issue, _) = issue_with_events(&app, &world, 1).await;
    let ada = app.session(&world.owner).await;
    let here = format!("/projects/{}/issues/{issue}", world.project.id);
    let page = ada.page(&app, &here, StatusCode::OK).await;
    assert_eq!(page.text(r#"label[for="assignee"]"#), "Assignee");
    assert_eq!(
        page.texts("#assignee option"),
        ["Nobody", "ada (ada@example.com)", "max (max@example.com)"]
    );
    assert_eq!(page.attr("#assignee option[selected]", "value"), "");

    let max_id = world.member.id.to_string();
    let response = ada
        .post(&app, &format!("{here}/assign"), &[("assignee", &max_id)])
        .await;
    let page = ada.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(page.attr("#assignee option[selected]", "value"), max_id);
    assert_eq!(
        page.texts(".activity li > span:first-child")[0],
        "ada assigned the issue to max"
    );
    let list = ada
        .page(
            &app,
            &format!("/projects/{}/issues?assignee={max_id}", world.project.id),
            StatusCode::OK,
        )
        .await;
    assert_eq!(list.texts("tbody td.fit:last-child"), ["max"]);

    // Someone outside the organization cannot be assigned.
    let eve = world.outsider.id.to_string();
    let response = ada
        .post(&app, &format!("{here}/assign"), &[("assignee", &eve)])
        .await;
    Page::from_response(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn deleting_needs_the_admin_role() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (issue, _) = issue_with_events(&app, &world, 1).await;
    let p = world.project.id;
    let here = format!("/projects/{p}/issues/{issue}");

    // A member sees no delete button, and is refused with a page.
    let max = app.session(&world.member).await;
    let page = max.page(&app, &here, StatusCode::OK).await;
    assert_eq!(page.count("details.confirm-menu"), 0);
    let response = max.post(&app, &format!("{here}/delete"), &[]).await;
    let page = Page::from_response(response, StatusCode::FORBIDDEN).await;
    assert_eq!(page.text("main h1"), "Access denied");
    assert_eq!(page.text(".error-message"), "this needs the admin role");

    // The owner confirms in a disclosure that works without JavaScript.
    let ada = app.session(&world.owner).await;
    let page = ada.page(&app, &here, StatusCode::OK).await;
    assert_eq!(page.text("details.confirm-menu > summary"), "Delete…");
    assert_eq!(
        page.attr("details.confirm-menu form", "action"),
        format!("{here}/delete")
    );
    let response = ada.post(&app, &format!("{here}/delete"), &[]).await;
    let target = see_other(&response);
    assert_eq!(target, format!("/projects/{p}/issues?done=deleted"));
    let page = ada.page(&app, &target, StatusCode::OK).await;
    assert_eq!(page.text("[role=status]"), "Issue deleted.");
    ada.page(&app, &here, StatusCode::NOT_FOUND).await;
}

/// Issue 12, row 10: discarding deletes the events and keeps a tombstone; only an admin lifts
/// it, and the next event then opens a new issue.
#[tokio::test]
async fn discarding_deletes_the_events_and_an_admin_lifts_it() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (issue, ids) = issue_with_events(&app, &world, 2).await;
    let p = world.project.id;
    let here = format!("/projects/{p}/issues/{issue}");

    let max = app.session(&world.member).await;
    let response = max
        .post(&app, &format!("{here}/status"), &[("status", "discard")])
        .await;
    let page = max.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(
        page.text("[role=status]"),
        "Issue discarded: its events are deleted and new ones will be dropped."
    );
    assert_eq!(page.text("#issue-status"), "discarded");
    assert_eq!(
        page.texts(".issue-actions form.action-row button"),
        ["Stop discarding"]
    );
    max.page(
        &app,
        &format!("/projects/{p}/events/{}", ids[0]),
        StatusCode::NOT_FOUND,
    )
    .await;

    // A member cannot lift it.
    let response = max
        .post(&app, &format!("{here}/status"), &[("status", "undiscard")])
        .await;
    let page = Page::from_response(response, StatusCode::FORBIDDEN).await;
    assert_eq!(page.text(".error-message"), "this needs the admin role");

    let ada = app.session(&world.owner).await;
    let response = ada
        .post(&app, &format!("{here}/status"), &[("status", "undiscard")])
        .await;
    let target = see_other(&response);
    assert_eq!(target, format!("/projects/{p}/issues?done=undiscarded"));
    let page = ada.page(&app, &target, StatusCode::OK).await;
    assert_eq!(
        page.text("[role=status]"),
        "Discard lifted: the next event of this kind opens a new issue."
    );
    ada.page(&app, &here, StatusCode::NOT_FOUND).await;
    app.send_event(&world, python_error("'price'")).await;
    let issues = app.store.list_issues(p).await.unwrap();
    assert_eq!(issues.len(), 1);
    assert_ne!(issues[0].id, issue);
    assert_eq!(issues[0].event_count, 1);
}

#[tokio::test]
async fn resolve_in_next_release_without_release_data_is_said_on_the_page_sqlite() {
    resolve_in_next_release_without_release_data_is_said_on_the_page(Backend::Sqlite).await;
}

#[tokio::test]
async fn resolve_in_next_release_without_release_data_is_said_on_the_page_postgres() {
    resolve_in_next_release_without_release_data_is_said_on_the_page(Backend::Postgres).await;
}

/// Issue 12, row 13: an issue without a release offers "Resolve in next release"; in a project
/// without any release, the page and the bulk action say why it cannot (Sentry's message, as an
/// alert, not an error page) and nothing changes; with a release in the project, the issue
/// resolves after it.
async fn resolve_in_next_release_without_release_data_is_said_on_the_page(backend: Backend) {
    let app = TestApp::on(backend).await;
    let world = app.world().await;
    app.send_event(&world, message("disk almost full", "warning"))
        .await;
    let issue = app.store.list_issues(world.project.id).await.unwrap()[0].id;
    let max = app.session(&world.member).await;
    let p = world.project.id;
    let here = format!("/projects/{p}/issues/{issue}");
    let page = max.page(&app, &here, StatusCode::OK).await;
    assert_eq!(
        page.texts(".issue-actions form.action-row button"),
        ["Resolve", "Resolve in next release", "Discard"]
    );

    let response = max
        .post(
            &app,
            &format!("{here}/status"),
            &[("status", "resolve_in_next_release")],
        )
        .await;
    assert_eq!(see_other(&response), format!("{here}?done=no-release"));
    let page = max.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(
        page.text("[role=alert]"),
        "No release data present in the system to form a basis for 'Next Release'."
    );
    assert_eq!(page.text("#issue-status"), "unresolved");

    let back = format!("/projects/{p}/issues?status=unresolved");
    let response = max
        .post(
            &app,
            &format!("/projects/{p}/issues/bulk"),
            &[
                ("issue", issue.to_string().as_str()),
                ("action", "resolve_in_next_release"),
                ("back", &back),
            ],
        )
        .await;
    assert_eq!(see_other(&response), format!("{back}&done=no-release"));
    let issue_now = app.store.issue(issue).await.unwrap().unwrap();
    assert_eq!(issue_now.status, IssueStatus::Unresolved);

    // Another issue brings the project a release: the issue resolves after it.
    app.send_event(&world, python_error("'price'")).await;
    let response = max
        .post(
            &app,
            &format!("{here}/status"),
            &[("status", "resolve_in_next_release")],
        )
        .await;
    let page = max.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(
        page.text(".issue-badges .muted"),
        "in the next release after web@1.4.2"
    );
}

/// RETAIN-02: after retention deleted an issue's events, its page says so and keeps its
/// counts; the settings page shows what the project stores and since when events expired.
#[tokio::test]
async fn the_issue_page_says_when_its_events_expired() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let (issue, _) = issue_with_events(&app, &world, 2).await;
    let p = world.project.id;
    app.store
        .update_project(
            p,
            &mesher_store::ProjectUpdate {
                retention_days: Some(1),
                ..mesher_store::ProjectUpdate::default()
            },
        )
        .await
        .unwrap();
    let ada = app.session(&world.owner).await;
    let settings = ada
        .page(&app, &format!("/projects/{p}/settings"), StatusCode::OK)
        .await;
    assert_eq!(
        settings.texts(".kv dt"),
        ["Events stored", "Issues", "Storage used"]
    );
    assert!(
        settings.texts(".kv dd")[2].ends_with("KiB"),
        "{:?}",
        settings.texts(".kv dd")
    );
    let path = format!("/projects/{p}/issues/{issue}");
    let page = ada.page(&app, &path, StatusCode::OK).await;
    assert_eq!(page.count(".expired"), 0);

    let later = mesher_store::now() + time::Duration::days(2);
    let swept = mesher_server::jobs::sweep(
        app.store.as_ref(),
        later,
        mesher_server::jobs::Pace::FLAT_OUT,
        &|| true,
        |_| async { true },
    )
    .await
    .unwrap();
    assert_eq!(swept.events_deleted, 2);
    let page = ada.page(&app, &path, StatusCode::OK).await;
    assert!(
        page.text(".expired[role=note]").starts_with(
            "Every event of this issue has expired: the project keeps events for 1 day."
        ),
        "{}",
        page.text(".expired")
    );
    assert_eq!(page.texts(".kv-facts dd")[..1], ["2"]);
    let settings = ada
        .page(&app, &format!("/projects/{p}/settings"), StatusCode::OK)
        .await;
    assert_eq!(
        settings.texts(".kv dt"),
        ["Events stored", "Issues", "Storage used", "Expired"]
    );
    assert_eq!(settings.texts(".kv dd")[..3], ["0", "1", "0 B"]);
}
