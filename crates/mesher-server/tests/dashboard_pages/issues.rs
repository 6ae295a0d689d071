//! The issue list: rows, filters, search, sort, pages, bulk actions and empty states.

use axum::http::StatusCode;

use crate::dashboard::{Page, TestApp, message, python_error, see_other};

#[tokio::test]
async fn an_empty_project_says_nothing_needs_attention() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let page = ada
        .page(
            &app,
            &format!("/projects/{}/issues", world.project.id),
            StatusCode::OK,
        )
        .await;
    assert_eq!(page.text("main h1"), "Issues");
    assert_eq!(
        page.text(".empty-state .empty-heading"),
        "No unresolved issues"
    );
    assert_eq!(page.count("table"), 0);
    // The filters are labelled and keep the default state.
    for id in [
        "filter-q",
        "filter-status",
        "filter-level",
        "filter-environment",
        "filter-release",
        "filter-assignee",
        "filter-period",
        "filter-sort",
    ] {
        page.one(&format!("form[role=search] label[for={id}]"));
        page.one(&format!("form[role=search] #{id}"));
    }
    assert_eq!(
        page.attr("#filter-status option[selected]", "value"),
        "unresolved"
    );
}

#[tokio::test]
async fn rows_show_counts_users_trend_and_times() {
    let app = TestApp::start().await;
    let world = app.world().await;
    app.send_event(&world, python_error("'price'")).await;
    app.send_event(&world, python_error("'price'")).await;
    app.send_event(&world, message("disk almost full", "warning"))
        .await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let page = ada
        .page(&app, &format!("/projects/{p}/issues"), StatusCode::OK)
        .await;

    let rows = page.select("table.issues-table tbody tr");
    assert_eq!(rows.len(), 2);
    // Most recently seen first.
    let titles = page.texts("tbody a.cell-title");
    assert_eq!(titles[0], "disk almost full");
    assert!(titles[1].starts_with("KeyError"), "{titles:?}");
    assert_eq!(page.texts("tbody td.num"), ["1", "0", "2", "1"]);
    assert_eq!(page.texts("tbody .badge.level-error"), ["error"]);
    let trends: Vec<&str> = page
        .select("tbody svg.sparkline")
        .iter()
        .map(|s| s.attr("aria-label").unwrap())
        .collect();
    assert_eq!(trends.len(), 2);
    assert!(
        trends[1].starts_with("Trend: 2 events in 24 intervals"),
        "{trends:?}"
    );
    let when = page.select("tbody td time")[0];
    assert!(when.attr("datetime").unwrap().ends_with('Z'));
    assert!(when.attr("title").unwrap().ends_with("UTC"));
    assert_eq!(when.text().collect::<String>(), "just now");
    // Each row can be selected for a bulk action, with a label naming the issue.
    let boxes = page.select("form.bulk tbody input[type=checkbox][name=issue]");
    assert_eq!(boxes.len(), 2);
    assert_eq!(boxes[0].attr("aria-label"), Some("Select disk almost full"));
    assert_eq!(page.count("form.bulk input[name=_csrf]"), 1);
    assert_eq!(
        page.texts("form.bulk button[name=action]"),
        ["Resolve", "Unresolve", "Archive", "Discard", "Assign"]
    );
    assert!(
        page.attr("form.bulk button[value=discard]", "data-confirm")
            .starts_with("Discard")
    );
}

#[tokio::test]
async fn filters_search_and_sort_narrow_the_list() {
    let app = TestApp::start().await;
    let world = app.world().await;
    app.send_event(&world, python_error("'price'")).await;
    app.send_event(&world, python_error("'price'")).await;
    app.send_event(&world, message("disk almost full", "warning"))
        .await;
    let mut staging = message("cache miss storm", "info");
    staging["environment"] = "staging".into();
    app.send_event(&world, staging).await;
    let ada = app.session(&world.owner).await;
    let list = |query: &str| format!("/projects/{}/issues?{query}", world.project.id);

    let page = ada.page(&app, &list("level=warning"), StatusCode::OK).await;
    assert_eq!(page.texts("tbody a.cell-title"), ["disk almost full"]);
    assert_eq!(
        page.attr("#filter-level option[selected]", "value"),
        "warning"
    );

    let page = ada.page(&app, &list("q=DISK+full"), StatusCode::OK).await;
    assert_eq!(page.texts("tbody a.cell-title"), ["disk almost full"]);
    assert_eq!(page.attr("#filter-q", "value"), "DISK full");

    let page = ada
        .page(&app, &list("environment=staging"), StatusCode::OK)
        .await;
    assert_eq!(page.texts("tbody a.cell-title"), ["cache miss storm"]);
    assert_eq!(page.count("datalist#environments option[value=staging]"), 1);

    let page = ada.page(&app, &list("sort=count"), StatusCode::OK).await;
    assert!(page.texts("tbody a.cell-title")[0].starts_with("KeyError"));
    assert_eq!(page.attr("#filter-sort option[selected]", "value"), "count");

    let page = ada.page(&app, &list("assignee=me"), StatusCode::OK).await;
    assert_eq!(
        page.text(".empty-state .empty-heading"),
        "No issues match these filters"
    );
    assert_eq!(
        page.attr(".filter-actions a", "href"),
        format!("/projects/{}/issues", world.project.id)
    );

    let page = ada
        .page(&app, &list("level=loud"), StatusCode::BAD_REQUEST)
        .await;
    assert_eq!(page.text(".error-message"), "level: \"loud\" is not valid");
    ada.page(&app, &list("cursor=garbage"), StatusCode::BAD_REQUEST)
        .await;
}

#[tokio::test]
async fn the_search_box_takes_terms_and_explains_what_it_cannot_read() {
    let app = TestApp::start().await;
    let world = app.world().await;
    app.send_event(&world, python_error("'price'")).await;
    app.send_event(&world, message("disk almost full", "warning"))
        .await;
    let mut staging = message("cache miss storm", "info");
    staging["environment"] = "staging".into();
    staging["tags"] = serde_json::json!({"browser": "Firefox 120", "region": "eu"});
    app.send_event(&world, staging).await;
    let ada = app.session(&world.owner).await;
    let list = |q: &str| {
        format!(
            "/projects/{}/issues?q={}",
            world.project.id,
            url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        )
    };

    // The event search's `key:value` terms.
    let page = ada.page(&app, &list("level:warning"), StatusCode::OK).await;
    assert_eq!(page.texts("tbody a.cell-title"), ["disk almost full"]);
    let page = ada
        .page(&app, &list("environment:staging cache"), StatusCode::OK)
        .await;
    assert_eq!(page.texts("tbody a.cell-title"), ["cache miss storm"]);
    let page = ada.page(&app, &list("is:resolved"), StatusCode::OK).await;
    assert_eq!(page.count("tbody a.cell-title"), 0);
    assert_eq!(page.count("#filter-q-error"), 0);
    // Tags, as on the event search (issue 19), alone and with other terms.
    for (q, found) in [
        (r#"browser:"Firefox 120""#, true),
        ("region:eu environment:staging cache", true),
        ("region:eu level:warning", false),
        ("browser:Firefox", false),
    ] {
        let page = ada.page(&app, &list(q), StatusCode::OK).await;
        let expected: &[&str] = if found { &["cache miss storm"] } else { &[] };
        assert_eq!(page.texts("tbody a.cell-title"), expected, "{q}");
        assert_eq!(page.count("#filter-q-error"), 0, "{q}");
    }

    for (q, reason) in [
        ("disk level:nosuch", "level:nosuch is not a level"),
        (r#"environment:"stag"#, "A quote is not closed"),
        ("issue:3", "issue:3 narrows the event search"),
        ("is:sleeping", "is:sleeping is not a state"),
    ] {
        let page = ada.page(&app, &list(q), StatusCode::BAD_REQUEST).await;
        assert_eq!(page.text("main h1"), "Issues", "{q}");
        assert_eq!(page.attr("#filter-q", "value"), q);
        assert_eq!(page.attr("#filter-q", "aria-invalid"), "true");
        let error = page.text(r#"#filter-q-error[role="alert"]"#);
        assert!(error.starts_with(reason), "{q}: {error}");
        assert_eq!(page.count("tbody a.cell-title"), 0);
        // The other filters are still there to change.
        page.one("#filter-status");
        let help = page.texts("#filter-q-help dt");
        for term in ["level:error", "environment:production", "is:resolved"] {
            assert!(help.iter().any(|t| t == term), "{term}: {help:?}");
        }
    }
}

#[tokio::test]
async fn pages_go_forward_and_back() {
    let app = TestApp::start().await;
    let world = app.world().await;
    // Letters, not numbers: numbers are parameterized away and would make one issue.
    for i in 0..27u8 {
        let name = format!("{}{}", char::from(b'a' + i % 26), char::from(b'a' + i / 26));
        app.send_event(
            &world,
            message(&format!("problem in module {name}"), "error"),
        )
        .await;
    }
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let first = ada
        .page(
            &app,
            &format!("/projects/{p}/issues?level=error"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(first.count("tbody tr"), 25);
    assert_eq!(first.count("nav.pagination a[rel=prev]"), 0);
    let next = first.attr("nav.pagination a[rel=next]", "href");
    assert!(
        next.contains("level=error") && next.contains("cursor="),
        "{next}"
    );

    let second = ada.page(&app, &next, StatusCode::OK).await;
    assert_eq!(second.count("tbody tr"), 2);
    assert_eq!(second.count("nav.pagination a[rel=next]"), 0);
    assert_eq!(
        second.attr("nav.pagination a.btn", "href"),
        format!("/projects/{p}/issues?status=unresolved&level=error")
    );
    let mut seen = first.texts("tbody a.cell-title");
    seen.extend(second.texts("tbody a.cell-title"));
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 27, "every issue once");

    // "Select all N matching": offered when there is more than one page; checked, the action
    // applies to every issue the filters match, on every page, whatever page it was sent from.
    assert_eq!(
        first.text("form.bulk label:has(input[name=matching])"),
        "Or all 27 matching"
    );
    app.send_event(&world, message("disk almost full", "warning"))
        .await;
    let back = second.attr("form.bulk input[name=back]", "value");
    assert!(back.contains("cursor="), "{back}");
    let response = ada
        .post(
            &app,
            &format!("/projects/{p}/issues/bulk"),
            &[("matching", "1"), ("action", "resolve"), ("back", &back)],
        )
        .await;
    let target = see_other(&response);
    assert!(target.ends_with("&done=bulk"), "{target}");
    let rest = ada
        .page(&app, &format!("/projects/{p}/issues"), StatusCode::OK)
        .await;
    assert_eq!(rest.texts("tbody a.cell-title"), ["disk almost full"]);
    assert_eq!(rest.count("input[name=matching]"), 0, "one page");
    let resolved = ada
        .page(
            &app,
            &format!("/projects/{p}/issues?status=resolved&level=error"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        resolved.text("form.bulk label:has(input[name=matching])"),
        "Or all 27 matching"
    );
}

#[tokio::test]
async fn bulk_actions_change_the_selected_issues_and_return_to_the_list() {
    let app = TestApp::start().await;
    let world = app.world().await;
    app.send_event(&world, python_error("'price'")).await;
    app.send_event(&world, message("disk almost full", "warning"))
        .await;
    app.send_event(&world, message("slow query", "info")).await;
    let max = app.session(&world.member).await;
    let p = world.project.id;
    let page = max
        .page(
            &app,
            &format!("/projects/{p}/issues?sort=first_seen"),
            StatusCode::OK,
        )
        .await;
    let ids: Vec<String> = page
        .select("tbody input[name=issue]")
        .iter()
        .map(|b| b.attr("value").unwrap().to_string())
        .collect();
    let back = page.attr("form.bulk input[name=back]", "value");
    assert_eq!(
        back,
        format!("/projects/{p}/issues?status=unresolved&sort=first_seen")
    );

    // A member triages, as in the API.
    let response = max
        .post(
            &app,
            &format!("/projects/{p}/issues/bulk"),
            &[
                ("issue", &ids[0]),
                ("issue", &ids[1]),
                ("action", "resolve"),
                ("back", &back),
            ],
        )
        .await;
    let target = see_other(&response);
    assert_eq!(target, format!("{back}&done=bulk"));
    let page = max.page(&app, &target, StatusCode::OK).await;
    assert_eq!(
        page.text("[role=status]"),
        "The selected issues were updated."
    );
    assert_eq!(page.count("tbody tr"), 1);
    let resolved = max
        .page(
            &app,
            &format!("/projects/{p}/issues?status=resolved"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(resolved.count("tbody tr"), 2);
    assert_eq!(resolved.texts("tbody .badge.status-resolved").len(), 2);

    // Assigned in bulk: to a member (the signed-in one first in the choice), then to nobody.
    assert_eq!(
        page.attr("#bulk-assignee option[selected]", "value"),
        world.member.id.to_string()
    );
    assert_eq!(page.attr("#bulk-assignee option:last-child", "value"), "");
    let owner = world.owner.id.to_string();
    for (assignee, expected) in [(owner.as_str(), Some(world.owner.id)), ("", None)] {
        let response = max
            .post(
                &app,
                &format!("/projects/{p}/issues/bulk"),
                &[
                    ("issue", &ids[0]),
                    ("issue", &ids[2]),
                    ("action", "assign"),
                    ("assignee", assignee),
                    ("back", &back),
                ],
            )
            .await;
        assert_eq!(see_other(&response), format!("{back}&done=bulk"));
        for id in [&ids[0], &ids[2]] {
            let issue = app.store.issue(id.parse().unwrap()).await.unwrap().unwrap();
            assert_eq!(issue.assignee_id, expected);
        }
    }
    // Someone outside the organization cannot be assigned.
    let response = max
        .post(
            &app,
            &format!("/projects/{p}/issues/bulk"),
            &[
                ("issue", &ids[2]),
                ("action", "assign"),
                ("assignee", &world.outsider.id.to_string()),
            ],
        )
        .await;
    assert!(response.status().is_client_error(), "{}", response.status());

    // Nothing selected: said so.
    let response = max
        .post(
            &app,
            &format!("/projects/{p}/issues/bulk"),
            &[("action", "archive"), ("back", &back)],
        )
        .await;
    let page = max.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(
        page.text("[role=status]"),
        "Select at least one issue first."
    );

    // An issue of another project, a forged token, someone outside the organization.
    let response = max
        .post(
            &app,
            &format!("/projects/{p}/issues/bulk"),
            &[("issue", "999999"), ("action", "archive")],
        )
        .await;
    Page::from_response(response, StatusCode::NOT_FOUND).await;
    let response = max
        .post_raw(
            &app,
            &format!("/projects/{p}/issues/bulk"),
            &[("issue", &ids[2]), ("action", "archive")],
        )
        .await;
    let page = Page::from_response(response, StatusCode::FORBIDDEN).await;
    assert!(page.text(".error-message").contains("reload the page"));
    let eve = app.session(&world.outsider).await;
    let response = eve
        .post(
            &app,
            &format!("/projects/{p}/issues/bulk"),
            &[("issue", &ids[2]), ("action", "archive")],
        )
        .await;
    Page::from_response(response, StatusCode::NOT_FOUND).await;
    let untouched = app
        .store
        .issue(ids[2].parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(untouched.status.as_str(), "unresolved");
}

#[tokio::test]
async fn text_from_events_is_escaped() {
    let app = TestApp::start().await;
    let world = app.world().await;
    app.send_event(
        &world,
        message(
            "<script>alert('x')</script><img src=x onerror=alert(1)>",
            "error",
        ),
    )
    .await;
    let ada = app.session(&world.owner).await;
    let p = world.project.id;
    let issue = app.store.list_issues(p).await.unwrap()[0].id;
    for path in [
        format!("/projects/{p}/issues"),
        format!("/projects/{p}/issues/{issue}"),
        format!("/projects/{p}/events"),
        format!("/projects/{p}"),
    ] {
        let page = ada.page(&app, &path, StatusCode::OK).await;
        assert_eq!(page.count("script:not([src])"), 0, "{path}");
        assert_eq!(page.count("img"), 0, "{path}");
        assert!(
            page.source.contains("&lt;script&gt;") || page.source.contains("&#60;script&#62;"),
            "{path}"
        );
    }
}
