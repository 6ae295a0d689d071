//! Organizations, projects, members and API tokens.

use axum::http::StatusCode;

use crate::dashboard::{Page, TestApp, see_other};

#[tokio::test]
async fn creating_an_organization_then_a_project() {
    let app = TestApp::start().await;
    let user = app.user("new@example.com", None).await;
    let me = app.session(&user).await;
    let page = me.page(&app, "/orgs/new", StatusCode::OK).await;
    assert_eq!(page.text("main h1"), "New organization");
    assert_eq!(page.text(r#"label[for="org-name"]"#), "Name");
    assert_eq!(page.text("details.switcher > summary"), "Choose a project");

    let response = me.post(&app, "/orgs/new", &[("name", "Globex Corp")]).await;
    let target = see_other(&response);
    assert_eq!(target, "/orgs/globex-corp/projects/new?done=org-created");
    let page = me.page(&app, &target, StatusCode::OK).await;
    assert_eq!(
        page.text("[role=status]"),
        "Organization created. Now create its first project."
    );
    assert_eq!(page.text("main h1"), "New project in Globex Corp");

    let response = me
        .post(
            &app,
            "/orgs/globex-corp/projects/new",
            &[("name", "Billing API"), ("platform", "rust")],
        )
        .await;
    let target = see_other(&response);
    let page = me.page(&app, &target, StatusCode::OK).await;
    assert_eq!(page.text("main h1"), "Billing API");
    assert_eq!(page.text("details.snippet-choice[open] > summary"), "Rust");

    // The same names again: said so, with what was typed.
    let response = me
        .post(&app, "/orgs/new", &[("name", "Globex  corp")])
        .await;
    let page = Page::from_response(response, StatusCode::CONFLICT).await;
    assert!(page.text("[role=alert]").contains("exists already"));
    assert_eq!(page.attr("#org-name", "value"), "Globex  corp");
    let response = me
        .post(
            &app,
            "/orgs/globex-corp/projects/new",
            &[("name", "Billing API"), ("platform", "rust")],
        )
        .await;
    let page = Page::from_response(response, StatusCode::CONFLICT).await;
    assert!(page.text("[role=alert]").contains("already has a project"));
    let response = me.post(&app, "/orgs/new", &[("name", "!!!")]).await;
    Page::from_response(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn only_admins_create_projects() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let max = app.session(&world.member).await;
    let page = max
        .page(&app, "/orgs/acme/projects/new", StatusCode::FORBIDDEN)
        .await;
    assert_eq!(page.text(".error-message"), "this needs the admin role");
    let response = max
        .post(&app, "/orgs/acme/projects/new", &[("name", "Mine")])
        .await;
    Page::from_response(response, StatusCode::FORBIDDEN).await;
    // The switcher offers it to admins only.
    let page = max
        .page(
            &app,
            &format!("/projects/{}", world.project.id),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        page.count(r#".switcher-menu a[href="/orgs/acme/projects/new"]"#),
        0
    );
    let ada = app.session(&world.owner).await;
    let page = ada
        .page(
            &app,
            &format!("/projects/{}", world.project.id),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        page.count(r#".switcher-menu a[href="/orgs/acme/projects/new"]"#),
        1
    );
}

#[tokio::test]
async fn members_and_roles() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let page = ada.page(&app, "/orgs/acme/members", StatusCode::OK).await;
    assert_eq!(page.text("main h1"), "Members of Acme");
    assert_eq!(
        page.texts("tbody .cell-sub"),
        ["ada@example.com", "max@example.com"]
    );
    assert_eq!(page.texts("#role-2 option"), ["member", "admin", "owner"]);
    assert_eq!(page.attr("#role-2 option[selected]", "value"), "member");
    assert_eq!(
        page.count("section.add-member input#member-email[type=email]"),
        1
    );

    // A member reads the list.
    let max = app.session(&world.member).await;
    let page = max.page(&app, "/orgs/acme/members", StatusCode::OK).await;
    assert_eq!(page.count("tbody select"), 0);
    assert_eq!(page.count("section.add-member"), 0);
    assert_eq!(page.texts("tbody .badge.role-owner"), ["owner"]);
    let response = max
        .post(
            &app,
            "/orgs/acme/members",
            &[("email", "x@example.com"), ("role", "member")],
        )
        .await;
    Page::from_response(response, StatusCode::FORBIDDEN).await;

    // Adding someone invites them: the same answer with or without an account, and nothing
    // changes until they accept.
    let grace = app.user("grace@example.com", None).await;
    for email in ["Grace@Example.com", "nobody@example.com"] {
        let response = ada
            .post(
                &app,
                "/orgs/acme/members",
                &[("email", email), ("role", "admin")],
            )
            .await;
        let page = ada.page(&app, &see_other(&response), StatusCode::OK).await;
        assert_eq!(
            page.text("[role=status]"),
            "Invitation sent: they become a member when they accept it (within 7 days)."
        );
    }
    let page = ada.page(&app, "/orgs/acme/members", StatusCode::OK).await;
    assert_eq!(
        page.texts("table.invitations-table tbody td:first-child"),
        ["grace@example.com", "nobody@example.com"]
    );
    assert_eq!(page.count("table.invitations-table button.btn-danger"), 2);
    assert_eq!(
        page.texts("table.members-table .cell-sub"),
        ["ada@example.com", "max@example.com"]
    );
    let page = max.page(&app, "/orgs/acme/members", StatusCode::OK).await;
    assert_eq!(page.count("table.invitations-table"), 0, "for admins only");
    // An invitation is revoked from the list.
    let revoke = revoke_action_of(&app, &ada, "nobody@example.com").await;
    let response = ada.post(&app, &revoke, &[]).await;
    let page = ada.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(page.text("[role=status]"), "Invitation revoked.");
    assert_eq!(
        page.texts("table.invitations-table tbody td:first-child"),
        ["grace@example.com"]
    );

    // Grace sees the invitation on any page and accepts it.
    let grace_session = app.session(&grace).await;
    let page = grace_session.page(&app, "/me/tokens", StatusCode::OK).await;
    assert_eq!(
        page.text(".invitation p"),
        "You are invited to join Acme as admin."
    );
    let accept = page.attr(".invitation form:first-of-type", "action");
    let response = grace_session.post(&app, &accept, &[]).await;
    let page = grace_session
        .page(&app, &see_other(&response), StatusCode::OK)
        .await;
    assert_eq!(page.text("[role=status]"), "Invitation accepted: welcome.");
    assert_eq!(page.count(".invitation"), 0);
    assert!(
        page.texts("table.members-table .cell-sub")
            .contains(&"grace@example.com".to_string())
    );

    // An admin hands out roles up to admin; owners stay the owners' business.
    let page = grace_session
        .page(&app, "/orgs/acme/members", StatusCode::OK)
        .await;
    assert_eq!(
        page.count("tbody tr:first-child select"),
        0,
        "an admin cannot change an owner"
    );
    let response = grace_session
        .post(
            &app,
            &format!("/orgs/acme/members/{}/role", world.member.id),
            &[("role", "owner")],
        )
        .await;
    Page::from_response(response, StatusCode::FORBIDDEN).await;
    let response = grace_session
        .post(
            &app,
            &format!("/orgs/acme/members/{}/role", world.member.id),
            &[("role", "admin")],
        )
        .await;
    let page = grace_session
        .page(&app, &see_other(&response), StatusCode::OK)
        .await;
    assert_eq!(page.text("[role=status]"), "Role changed.");
    let response = grace_session
        .post(
            &app,
            &format!("/orgs/acme/members/{}/remove", world.owner.id),
            &[],
        )
        .await;
    Page::from_response(response, StatusCode::FORBIDDEN).await;

    // The last owner stays.
    let response = ada
        .post(
            &app,
            &format!("/orgs/acme/members/{}/role", world.owner.id),
            &[("role", "member")],
        )
        .await;
    let page = Page::from_response(response, StatusCode::CONFLICT).await;
    assert!(
        page.text("[role=alert]").contains("owner"),
        "{}",
        page.text("[role=alert]")
    );

    // Another organization's owner is invited, not added; a member cannot be invited again.
    let response = ada
        .post(
            &app,
            "/orgs/acme/members",
            &[("email", "eve@example.com"), ("role", "member")],
        )
        .await;
    see_other(&response);
    assert!(
        app.store
            .memberships(world.outsider.id)
            .await
            .unwrap()
            .iter()
            .all(|m| m.org_id != world.org.id)
    );
    let eve = app.session(&world.outsider).await;
    let page = eve.page(&app, "/me/tokens", StatusCode::OK).await;
    let decline = page.attr(".invitation form:last-of-type", "action");
    let response = eve.post(&app, &decline, &[]).await;
    let page = eve.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(page.text("[role=status]"), "Invitation declined.");
    assert_eq!(page.count(".invitation"), 0);
    let response = ada
        .post(
            &app,
            "/orgs/acme/members",
            &[("email", "max@example.com"), ("role", "member")],
        )
        .await;
    let page = Page::from_response(response, StatusCode::CONFLICT).await;
    assert_eq!(page.text("[role=alert]"), "Correct the field marked below.");
    assert_eq!(
        page.text("#email-error"),
        "max@example.com is a member already."
    );
    assert_eq!(page.attr("#member-email", "value"), "max@example.com");
    assert_eq!(
        page.attr("#member-email", "aria-describedby"),
        "email-error"
    );

    // Every refused field at once, beside its input; what was typed stays.
    let response = ada
        .post(
            &app,
            "/orgs/acme/members",
            &[("email", "grace at example.com"), ("role", "boss")],
        )
        .await;
    let page = Page::from_response(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        page.text("[role=alert]"),
        "Correct the 2 fields marked below."
    );
    assert_eq!(
        page.text("#email-error"),
        "Enter an email address, such as ada@example.com."
    );
    assert_eq!(page.text("#role-error"), "Choose a role from the list.");
    assert_eq!(page.attr("#member-email", "value"), "grace at example.com");
    assert_eq!(page.attr("#member-email", "aria-invalid"), "true");
    assert_eq!(page.attr("#member-role", "aria-invalid"), "true");
    let response = ada
        .post(
            &app,
            "/orgs/acme/members",
            &[("email", "nobody"), ("role", "admin")],
        )
        .await;
    let page = Page::from_response(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(page.attr("#member-email", "value"), "nobody");
    assert_eq!(page.attr("#member-role option[selected]", "value"), "admin");
    assert_eq!(page.count("#role-error"), 0);

    let response = ada
        .post(
            &app,
            &format!("/orgs/acme/members/{}/remove", grace.id),
            &[],
        )
        .await;
    let page = ada.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(page.text("[role=status]"), "Member removed.");
    assert!(
        !page
            .texts("tbody .cell-sub")
            .contains(&"grace@example.com".to_string())
    );
}

/// The revoke action of the pending invitation of `email` on Acme's members page.
async fn revoke_action_of(app: &TestApp, admin: &crate::dashboard::Session, email: &str) -> String {
    let page = admin.page(app, "/orgs/acme/members", StatusCode::OK).await;
    page.select("table.invitations-table tbody tr")
        .into_iter()
        .find(|row| row.text().any(|t| t.contains(email)))
        .and_then(|row| {
            let form = scraper::Selector::parse("form").unwrap();
            row.select(&form)
                .next()
                .and_then(|f| f.value().attr("action"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no pending invitation of {email}"))
}

#[tokio::test]
async fn api_tokens_are_shown_once_and_revoked() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let page = ada.page(&app, "/me/tokens", StatusCode::OK).await;
    assert_eq!(page.text("main h1"), "API tokens");
    assert_eq!(page.text(".empty-state .empty-heading"), "No tokens yet");
    assert_eq!(page.attr(".user-email", "href"), "/me/tokens");

    let response = ada
        .post(
            &app,
            "/me/tokens",
            &[("label", "deploy"), ("scope", "write")],
        )
        .await;
    let page = Page::from_response(response, StatusCode::OK).await;
    let token = page.attr("input#new-token", "value");
    assert!(token.starts_with("mshr_"), "{token}");
    assert_eq!(page.texts("tbody .cell-title"), ["deploy"]);
    assert_eq!(page.texts("tbody td.fit")[0], "write");
    // Listed afterwards by prefix only.
    let page = ada.page(&app, "/me/tokens", StatusCode::OK).await;
    assert_eq!(page.count("input#new-token"), 0);
    assert!(!page.source.contains(&token));
    assert!(token.starts_with(page.text("tbody .mono").trim_end_matches('…')));

    let form = page.attr("tbody form", "action");
    let response = ada.post(&app, &form, &[]).await;
    let page = ada.page(&app, &see_other(&response), StatusCode::OK).await;
    assert_eq!(page.text("[role=status]"), "Token revoked.");
    assert!(page.text("tbody .badge").starts_with("revoked"));
    // Another user's token is not found.
    let eve = app.session(&world.outsider).await;
    let response = eve.post(&app, &form, &[]).await;
    Page::from_response(response, StatusCode::NOT_FOUND).await;
    let response = ada
        .post(&app, "/me/tokens", &[("label", "x"), ("scope", "god")])
        .await;
    Page::from_response(response, StatusCode::BAD_REQUEST).await;
}
