//! Tests of the module's pieces: the layout as a signed-in user sees it, the shared macros, error
//! pages behind the dashboard's layer, cross-site form detection. Whole pages through the app's
//! router are tested in `tests/dashboard_pages.rs`.

use askama::Template;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use scraper::{Html, Selector};
use tower::ServiceExt;

use super::*;

fn select<'a>(html: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    let selector = Selector::parse(css).unwrap();
    html.select(&selector).collect()
}

fn text(element: &scraper::ElementRef<'_>) -> String {
    element
        .text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn signed_in(nav: Nav) -> Layout {
    let web = ProjectRef {
        id: 7,
        name: "web".into(),
        org_name: "Acme <Corp>".into(),
    };
    let api = ProjectRef {
        id: 8,
        name: "api".into(),
        org_name: "Acme <Corp>".into(),
    };
    Layout::new("/mesher").with_nav(nav).with_user(UserChrome {
        email: "ada@example.com".into(),
        csrf: "token-1".into(),
        time_zone: "UTC".into(),
        switcher: Switcher {
            current: Some(web.clone()),
            orgs: vec![OrgProjects {
                name: "Acme <Corp>".into(),
                slug: "acme".into(),
                can_admin: false,
                projects: vec![web, api],
            }],
        },
        invitations: Vec::new(),
        operator: false,
    })
}

#[test]
fn a_signed_in_layout_has_navigation_switcher_and_sign_out() {
    let html = SignInPage::new(signed_in(Nav::Issues), None)
        .render()
        .unwrap();
    let doc = Html::parse_document(&html);
    let current = select(&doc, r#"nav[aria-label="Main"] a[aria-current="page"]"#);
    assert_eq!(current.len(), 1);
    assert_eq!(text(&current[0]), "Issues");
    assert_eq!(current[0].attr("href"), Some("/mesher/projects/7/issues"));
    assert_eq!(select(&doc, r#"nav[aria-label="Main"] a"#).len(), 7);

    let summary = text(&select(&doc, "details.switcher > summary")[0]);
    assert_eq!(summary, "Acme <Corp> / web");
    let choices = select(&doc, ".switcher-menu a:not(.switcher-action)");
    assert_eq!(choices.len(), 2);
    assert_eq!(choices[0].attr("aria-current"), Some("true"));
    assert_eq!(choices[1].attr("href"), Some("/mesher/projects/8"));
    // A member (not admin) of the organization: its members, no "New project"; anyone may
    // create an organization.
    let actions: Vec<_> = select(&doc, ".switcher-menu a.switcher-action")
        .iter()
        .map(|a| (text(a), a.attr("href").unwrap_or_default().to_string()))
        .collect();
    assert_eq!(
        actions,
        [
            (
                "Members".to_string(),
                "/mesher/orgs/acme/members".to_string()
            ),
            (
                "+ New organization".to_string(),
                "/mesher/orgs/new".to_string()
            ),
        ]
    );
    // Names are escaped, never markup.
    assert!(html.contains("Acme &#60;Corp&#62;") || html.contains("Acme &lt;Corp&gt;"));

    let sign_out = select(
        &doc,
        r#"form[method="post"][action="/mesher/signout"] button"#,
    );
    assert_eq!(sign_out.len(), 1);
    let csrf = select(
        &doc,
        r#"form[action="/mesher/signout"] input[type=hidden][name=_csrf]"#,
    );
    assert_eq!(csrf[0].attr("value"), Some("token-1"));
    assert_eq!(text(&select(&doc, ".user-email")[0]), "ada@example.com");
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"{% import "macros.html" as m %}
{% call m::level_badge(level) %}{% endcall %}
{% call m::copy_field("dsn", "DSN", dsn) %}{% endcall %}
{% call m::snippet("py", code) %}{% endcall %}
{% call m::empty_state("No issues yet", "Send an event.") %}{% endcall %}
<div class="chart">{{ chart }}</div>"#
)]
struct MacroSheet {
    level: &'static str,
    dsn: &'static str,
    code: &'static str,
    chart: charts::Svg,
}

#[test]
fn macros_render_accessible_markup_and_charts_unescaped() {
    let html = MacroSheet {
        level: "warning",
        dsn: "http://k@127.0.0.1:8000/1",
        code: "sentry_sdk.init(dsn=\"<dsn>\")",
        chart: charts::sparkline(&[1, 2, 3]),
    }
    .render()
    .unwrap();
    let doc = Html::parse_fragment(&html);
    assert_eq!(text(&select(&doc, ".badge.level-warning")[0]), "warning");
    let input = select(&doc, "input#dsn[readonly]");
    assert_eq!(input[0].attr("value"), Some("http://k@127.0.0.1:8000/1"));
    assert_eq!(select(&doc, r#"label[for="dsn"]"#).len(), 1);
    assert_eq!(select(&doc, r#"button[data-copy="dsn"][hidden]"#).len(), 1);
    assert_eq!(
        text(&select(&doc, "pre#py code")[0]),
        "sentry_sdk.init(dsn=\"<dsn>\")"
    );
    assert_eq!(
        text(&select(&doc, ".empty-state .empty-heading")[0]),
        "No issues yet"
    );
    // The chart is markup, not text.
    assert_eq!(select(&doc, ".chart svg.sparkline rect.bar").len(), 3);
}

/// A router with one route answering `error`, behind the dashboard's layer, served at `/mesher`.
async fn error_through_layer(error: fn() -> ApiError, uri: &str) -> Response {
    let router: Router = Router::new()
        .route(
            "/boom",
            get(move || async move { HtmlError(error()) }).post(|| async { "posted" }),
        )
        .layer(middleware::from_fn_with_state(
            Arc::<str>::from("/mesher"),
            finish,
        ));
    router
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn body(response: Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn error_pages_carry_the_prefix_and_hide_internals() {
    let response = error_through_layer(
        || ApiError::Forbidden("this needs the admin role".into()),
        "/boom",
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = body(response).await;
    let doc = Html::parse_document(&html);
    assert_eq!(text(&select(&doc, "h1")[0]), "Access denied");
    assert_eq!(
        text(&select(&doc, ".error-message")[0]),
        "this needs the admin role"
    );
    let css = select(&doc, r#"link[rel="stylesheet"]"#)[0]
        .attr("href")
        .unwrap();
    assert!(css.starts_with("/mesher/static/mesher-"), "{css}");

    let response = error_through_layer(
        || ApiError::Internal("password=hunter2 in db url".into()),
        "/boom",
    )
    .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let html = body(response).await;
    assert!(!html.contains("hunter2"));
    assert!(html.contains("Something went wrong"));

    let response = error_through_layer(
        || ApiError::Unavailable {
            retry_after_secs: 5,
            message: "the database is unavailable; retry later".into(),
        },
        "/boom",
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "5");
}

#[tokio::test]
async fn unauthorized_redirects_to_sign_in_and_back() {
    let response =
        error_through_layer(|| ApiError::Unauthorized("sign in".into()), "/boom?a=1&b=2").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/mesher/signin?next=/boom%3Fa%3D1%26b%3D2"
    );
}

#[tokio::test]
async fn cross_site_posts_are_refused_with_a_page() {
    let router: Router = Router::new()
        .route("/form", axum::routing::post(|| async { "accepted" }))
        .layer(middleware::from_fn_with_state(Arc::<str>::from(""), finish));
    let post = |site: &'static str| {
        Request::post("/form")
            .header("sec-fetch-site", site)
            .body(Body::empty())
            .unwrap()
    };
    let refused = router.clone().oneshot(post("cross-site")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(body(refused).await.contains("Access denied"));
    let accepted = router.oneshot(post("same-origin")).await.unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                header::HeaderName::from_static(k),
                HeaderValue::from_static(v),
            )
        })
        .collect()
}

#[test]
fn cross_site_submissions_are_recognized() {
    assert!(!is_cross_site(&headers(&[(
        "sec-fetch-site",
        "same-origin"
    )])));
    assert!(!is_cross_site(&headers(&[("sec-fetch-site", "none")])));
    assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
    assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])));
    assert!(!is_cross_site(&headers(&[
        ("origin", "http://127.0.0.1:8000"),
        ("host", "127.0.0.1:8000"),
    ])));
    assert!(is_cross_site(&headers(&[
        ("origin", "https://evil.example"),
        ("host", "127.0.0.1:8000"),
    ])));
    assert!(is_cross_site(&headers(&[
        ("origin", "null"),
        ("host", "a")
    ])));
    // curl, scripts: not a browser form.
    assert!(!is_cross_site(&headers(&[("host", "127.0.0.1:8000")])));
}
