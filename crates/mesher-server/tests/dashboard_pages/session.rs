//! Signing in and out, where a user lands, and the CSRF token every form carries.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use crate::dashboard::{PASSWORD, Page, TestApp, see_other};

async fn sign_in(app: &TestApp, fields: &[(&str, &str)]) -> axum::http::Response<Body> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    app.request(
        Request::post("/signin")
            .header("sec-fetch-site", "same-origin")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_with_the_reason() {
    let app = TestApp::start().await;
    app.world().await;
    let response = sign_in(
        &app,
        &[
            ("email", "ada@example.com"),
            ("password", "not the password"),
            ("next", "/projects/1/issues"),
        ],
    )
    .await;
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    let page = Page::from_response(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(page.text("[role=alert]"), "Wrong email or password.");
    assert_eq!(page.attr("input#email", "value"), "ada@example.com");
    assert_eq!(page.attr("input[name=next]", "value"), "/projects/1/issues");
    assert_eq!(page.attr("input#password", "type"), "password");
    assert!(!page.source.contains("not the password"));
}

#[tokio::test]
async fn signing_in_sets_the_cookie_and_goes_where_the_user_was_going() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let issues = format!("/projects/{}/issues?status=all", world.project.id);
    let response = sign_in(
        &app,
        &[
            ("email", "ADA@example.com"),
            ("password", PASSWORD),
            ("next", &issues),
        ],
    )
    .await;
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(see_other(&response), issues);
    assert!(cookie.starts_with("mesher_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    // Without `next`, or with one that leaves the site: the first project.
    for next in ["", "//evil.example/x", "https://evil.example"] {
        let response = sign_in(
            &app,
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("next", next),
            ],
        )
        .await;
        assert_eq!(
            see_other(&response),
            format!("/projects/{}", world.project.id),
            "{next:?}"
        );
    }
}

#[tokio::test]
async fn pages_need_a_session_and_send_back_after_signing_in() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let path = format!("/projects/{}/issues?level=error", world.project.id);
    let response = app.get(&path).await;
    assert_eq!(
        see_other(&response),
        format!(
            "/signin?next=/projects/{}/issues%3Flevel%3Derror",
            world.project.id
        )
    );
    // A stale or forged cookie is no session.
    let response = app
        .request(
            Request::get(&path)
                .header(header::COOKIE, "mesher_session=0123")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(see_other(&response).starts_with("/signin?next="));
    // A form posted without a session leads to the sign-in page, not back to a POST target.
    let response = app
        .request(
            Request::post(format!("/projects/{}/issues/bulk", world.project.id))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("action=resolve"))
                .unwrap(),
        )
        .await;
    assert_eq!(see_other(&response), "/signin");
}

#[tokio::test]
async fn the_root_leads_to_the_first_project_or_to_creating_one() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    assert_eq!(
        see_other(&ada.get(&app, "/").await),
        format!("/projects/{}", world.project.id)
    );

    // An owner of an organization without projects creates one; a user without
    // organizations creates one of those first.
    let eve = app.session(&world.outsider).await;
    assert_eq!(
        see_other(&eve.get(&app, "/").await),
        "/orgs/other/projects/new"
    );
    let loner = app.user("solo@example.com", None).await;
    let solo = app.session(&loner).await;
    assert_eq!(see_other(&solo.get(&app, "/").await), "/orgs/new");
}

#[tokio::test]
async fn signing_out_ends_the_session_and_needs_the_csrf_token() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let overview = format!("/projects/{}", world.project.id);

    // The header's sign-out form carries the session's token.
    let page = ada.page(&app, &overview, StatusCode::OK).await;
    assert_eq!(
        page.attr("form[action='/signout'] input[name=_csrf]", "value"),
        ada.csrf
    );

    let refused = ada.post_raw(&app, "/signout", &[("_csrf", "forged")]).await;
    let page = Page::from_response(refused, StatusCode::FORBIDDEN).await;
    assert_eq!(page.text(".error-status"), "403");
    ada.page(&app, &overview, StatusCode::OK).await;

    let response = ada.post(&app, "/signout", &[]).await;
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(see_other(&response), "/signin");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    assert!(see_other(&ada.get(&app, &overview).await).starts_with("/signin"));
}

#[tokio::test]
async fn every_form_of_a_page_carries_the_csrf_token() {
    let app = TestApp::start().await;
    let world = app.world().await;
    let ada = app.session(&world.owner).await;
    let id = app
        .send_event(&world, crate::dashboard::python_error("'price'"))
        .await;
    let p = world.project.id;
    let issue = app.store.list_issues(p).await.unwrap()[0].id;
    let event = format!("/projects/{p}/events/{id}");
    assert!(see_other(&ada.get(&app, &event).await).contains(&format!("/issues/{issue}")));
    for path in [
        format!("/projects/{p}"),
        format!("/projects/{p}/issues"),
        format!("/projects/{p}/issues/{issue}"),
        format!("/projects/{p}/settings"),
        "/orgs/new".to_string(),
        "/orgs/acme/projects/new".to_string(),
        "/orgs/acme/members".to_string(),
        "/me/tokens".to_string(),
    ] {
        let page = ada.page(&app, &path, StatusCode::OK).await;
        let forms = page.select("form[method=post]");
        assert!(!forms.is_empty(), "{path}");
        for form in forms {
            let token = form
                .select(&scraper::Selector::parse("input[type=hidden][name=_csrf]").unwrap())
                .next()
                .unwrap_or_else(|| panic!("a form of {path} has no _csrf: {}", form.html()));
            assert_eq!(token.attr("value"), Some(ada.csrf.as_str()), "{path}");
        }
        // The policy forbids inline code, so no page has any.
        assert_eq!(page.count("script:not([src])"), 0, "{path}");
        assert_eq!(page.count("[style]"), 0, "{path}");
    }
}
