//! The dashboard's pages through the node's router: the layout, the sign-in page, error pages as
//! HTML, static assets and the path prefix here; each page of a signed-in user in the modules
//! below (their empty states, what each role may do, 403 and 404 as pages).

mod dashboard;

#[path = "dashboard_pages/accounts.rs"]
mod accounts;
#[path = "dashboard_pages/alerts.rs"]
mod alerts;
#[path = "dashboard_pages/cluster.rs"]
mod cluster;
#[path = "dashboard_pages/events.rs"]
mod events;
#[path = "dashboard_pages/issue.rs"]
mod issue;
#[path = "dashboard_pages/issues.rs"]
mod issues;
#[path = "dashboard_pages/live.rs"]
mod live;
#[path = "dashboard_pages/outcomes.rs"]
mod outcomes;
#[path = "dashboard_pages/overview.rs"]
mod overview;
#[path = "dashboard_pages/releases.rs"]
mod releases;
#[path = "dashboard_pages/session.rs"]
mod session;
#[path = "dashboard_pages/settings.rs"]
mod settings;
#[path = "dashboard_pages/sharing.rs"]
mod sharing;
#[path = "dashboard_pages/time_zone.rs"]
mod time_zone;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use dashboard::{Page, TestApp, body};

#[tokio::test]
async fn the_sign_in_page_is_a_labelled_form_in_the_layout() {
    let app = TestApp::start().await;
    let page = app.page("/signin", StatusCode::OK).await;

    assert_eq!(page.text("title"), "Sign in · Mesher");
    assert_eq!(page.attr("html", "lang"), "en");
    assert_eq!(page.attr("a.skip-link", "href"), "#main");
    page.one("body > header.site-header");
    page.one("body > main#main");
    page.one("body > footer.site-footer");
    page.one(r#"#live[aria-live="polite"]"#);
    assert_eq!(page.text("main h1"), "Sign in to Mesher");

    // Signed out: no navigation, no switcher, no sign-out.
    assert_eq!(page.count("nav"), 0);
    assert_eq!(page.count("details.switcher"), 0);
    assert_eq!(page.count(r#"form[action="/signout"]"#), 0);

    // The theme toggle is a labelled toggle button, hidden until the script runs.
    let toggle = page.one("header button[data-theme-toggle]");
    assert_eq!(toggle.attr("type"), Some("button"));
    assert_eq!(toggle.attr("aria-label"), Some("Dark theme"));
    assert_eq!(toggle.attr("aria-pressed"), Some("false"));
    assert!(toggle.attr("hidden").is_some());

    // Every input has a label; the browser may fill in credentials.
    let form = r#"form[method="post"][action="/signin"]"#;
    page.one(form);
    assert_eq!(page.text(r#"label[for="email"]"#), "Email");
    assert_eq!(page.text(r#"label[for="password"]"#), "Password");
    let email = page.one(&format!("{form} input#email"));
    assert_eq!(email.attr("type"), Some("email"));
    assert_eq!(email.attr("autocomplete"), Some("username"));
    assert!(email.attr("required").is_some());
    let password = page.one(&format!("{form} input#password"));
    assert_eq!(password.attr("type"), Some("password"));
    assert_eq!(password.attr("autocomplete"), Some("current-password"));
    assert_eq!(page.text(&format!("{form} button[type=submit]")), "Sign in");
    assert_eq!(page.count(r#"input[name="next"]"#), 0);
    assert_eq!(page.count("[role=alert]"), 0);
}

#[tokio::test]
async fn pages_are_private_and_locked_down() {
    let app = TestApp::start().await;
    let page = app.page("/signin", StatusCode::OK).await;
    let h = &page.headers;
    assert_eq!(h[header::CACHE_CONTROL], "private, no-cache");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    // The policy forbids inline code, so the page has none.
    assert_eq!(page.count("script:not([src])"), 0);
    assert_eq!(page.count("[style]"), 0);
    assert!(!page.source.contains(" onclick="));
}

#[tokio::test]
async fn sign_in_returns_only_to_local_pages() {
    let app = TestApp::start().await;
    let page = app
        .page("/signin?next=/projects/1/issues%3Fq%3Dx", StatusCode::OK)
        .await;
    assert_eq!(
        page.attr(r#"input[type=hidden][name="next"]"#, "value"),
        "/projects/1/issues?q=x"
    );
    for evil in ["//evil.example", "https://evil.example", "/%5Cevil.example"] {
        let page = app
            .page(&format!("/signin?next={evil}"), StatusCode::OK)
            .await;
        assert_eq!(page.count(r#"input[name="next"]"#), 0, "{evil}");
    }
}

#[tokio::test]
async fn the_root_leads_to_sign_in() {
    let app = TestApp::start().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/signin");
}

#[tokio::test]
async fn static_assets_are_hashed_typed_and_immutable() {
    let app = TestApp::start().await;
    let page = app.page("/signin", StatusCode::OK).await;
    let links = [
        (
            page.attr(r#"link[rel="stylesheet"]"#, "href"),
            "text/css; charset=utf-8",
        ),
        (page.attr(r#"link[rel="icon"]"#, "href"), "image/svg+xml"),
        (
            page.attr("head script:not([defer])", "src"),
            "text/javascript; charset=utf-8",
        ),
        (
            page.attr("head script[defer]", "src"),
            "text/javascript; charset=utf-8",
        ),
    ];
    for (href, content_type) in &links {
        let name = href.strip_prefix("/static/").unwrap();
        let (stem, ext) = name.rsplit_once('.').unwrap();
        let hash = stem.rsplit_once('-').unwrap().1;
        assert!(
            hash.len() == 10 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{href}"
        );
        assert!(!ext.is_empty());

        let response = app.get(href).await;
        assert_eq!(response.status(), StatusCode::OK, "{href}");
        let h = response.headers();
        assert_eq!(h[header::CONTENT_TYPE], *content_type, "{href}");
        assert_eq!(
            h[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(!body(response).await.is_empty());
    }

    // Another version of a known file (a node of another build asked during an upgrade): the
    // current bytes, not cached for long.
    let response = app.get("/static/mesher-0000000000.css").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/css; charset=utf-8"
    );
}

#[tokio::test]
async fn an_unknown_file_is_an_html_404_page() {
    let app = TestApp::start().await;
    for path in [
        "/static/nope.css",
        "/static/mesher.css",
        "/static/mesher-xyz.css",
    ] {
        let page = app.page(path, StatusCode::NOT_FOUND).await;
        assert_eq!(page.text("title"), "Page not found · Mesher");
        assert_eq!(page.text("main h1"), "Page not found");
        assert_eq!(page.text(".error-status"), "404");
        assert_eq!(page.attr("main a.btn", "href"), "/");
        page.one(r#"link[rel="stylesheet"]"#);
        page.one("header button[data-theme-toggle]");
    }
}

#[tokio::test]
async fn a_cross_site_form_post_is_an_html_403_page() {
    let app = TestApp::start().await;
    let response = app
        .request(
            Request::post("/signin")
                .header("sec-fetch-site", "cross-site")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("email=a%40b.c&password=x"))
                .unwrap(),
        )
        .await;
    let page = Page::from_response(response, StatusCode::FORBIDDEN).await;
    assert_eq!(page.text("title"), "Access denied · Mesher");
    assert_eq!(page.text(".error-status"), "403");
    assert_eq!(
        page.text(".error-message"),
        "this form was submitted from another site"
    );
}

#[tokio::test]
async fn behind_a_path_prefix_every_link_carries_it() {
    let app = TestApp::with_public_url("http://127.0.0.1:8000/mesher/").await;
    // The proxy may keep the prefix or strip it: both reach the page, whose links keep it.
    for path in ["/mesher/signin", "/signin"] {
        let page = app.page(path, StatusCode::OK).await;
        assert_eq!(page.attr("form[method=post]", "action"), "/mesher/signin");
        assert_eq!(page.attr("a.brand", "href"), "/mesher");
        for css in [r#"link[rel="stylesheet"]"#, r#"link[rel="icon"]"#] {
            assert!(
                page.attr(css, "href").starts_with("/mesher/static/"),
                "{css}"
            );
        }
        for script in page.select("script") {
            assert!(script.attr("src").unwrap().starts_with("/mesher/static/"));
        }
    }
    let css = app.page("/mesher/signin", StatusCode::OK).await;
    let css = css.attr(r#"link[rel="stylesheet"]"#, "href");
    assert_eq!(app.get(&css).await.status(), StatusCode::OK);

    let response = app.get("/mesher").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/mesher/signin");

    let page = app
        .page("/mesher/static/nope.js", StatusCode::NOT_FOUND)
        .await;
    assert!(
        page.attr(r#"link[rel="stylesheet"]"#, "href")
            .starts_with("/mesher/static/")
    );
    assert_eq!(page.attr("main a.btn", "href"), "/mesher");
}

#[tokio::test]
async fn unknown_addresses_answer_browsers_with_a_page_and_clients_with_json() {
    for (public_url, prefix) in [
        ("http://127.0.0.1:8000", ""),
        ("http://127.0.0.1:8000/mesher/", "/mesher"),
    ] {
        let app = TestApp::with_public_url(public_url).await;
        let get = |path: String, accept: &str| {
            Request::get(path)
                .header(header::ACCEPT, accept)
                .body(Body::empty())
                .unwrap()
        };
        let browser = "text/html,application/xhtml+xml,*/*;q=0.8";
        for path in ["/foo", "/projects/1/nope", "/projects/1/issues/2/nope"] {
            let path = format!("{prefix}{path}");
            let response = app.request(get(path.clone(), browser)).await;
            let page = Page::from_response(response, StatusCode::NOT_FOUND).await;
            assert_eq!(page.text("title"), "Page not found · Mesher", "{path}");
            assert_eq!(page.text("main h1"), "Page not found");
            assert_eq!(page.text(".error-status"), "404");
            let home = if prefix.is_empty() { "/" } else { prefix };
            assert_eq!(page.attr("main a.btn", "href"), home);
            assert!(
                page.attr(r#"link[rel="stylesheet"]"#, "href")
                    .starts_with(&format!("{prefix}/static/"))
            );

            let response = app.request(get(path.clone(), "application/json")).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        }
        // The API's paths answer JSON even to a browser.
        for path in ["/api/v1/nope", "/api/0/projects/x/y/nope/"] {
            let path = format!("{prefix}{path}");
            let response = app.request(get(path.clone(), browser)).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/json",
                "{path}"
            );
        }
    }
}

#[tokio::test]
async fn light_badges_keep_aa_contrast_on_their_tint() {
    let app = TestApp::start().await;
    let page = app.page("/signin", StatusCode::OK).await;
    let css = body(
        app.get(&page.attr(r#"link[rel="stylesheet"]"#, "href"))
            .await,
    )
    .await;
    let css = String::from_utf8(css.to_vec()).unwrap();
    // The light side of `--name: light-dark(#rrggbb, …)`.
    let light = |name: &str| -> [f64; 3] {
        let key = format!("--{name}: light-dark(#");
        let start = css.find(&key).unwrap() + key.len();
        let hex = &css[start..start + 6];
        [0, 2, 4].map(|i| f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()))
    };
    // WCAG 2 relative luminance and contrast ratio.
    let luminance = |rgb: [f64; 3]| {
        let [r, g, b] = rgb.map(|c| {
            let c = c / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        });
        0.2126 * r + 0.7152 * g + 0.0722 * b
    };
    // A badge's text is its colour; its background that colour at 13% over the page (`.badge`).
    assert!(css.contains("background: color-mix(in srgb, var(--badge) 13%, transparent);"));
    for page_bg in ["bg", "surface"] {
        let under = light(page_bg);
        for badge in [
            "fatal", "error", "warning", "info", "debug", "success", "muted",
        ] {
            let text = light(badge);
            let tint: [f64; 3] =
                std::array::from_fn(|i| (0.13 * text[i] + 0.87 * under[i]).round());
            let (hi, lo) = (luminance(tint), luminance(text));
            let ratio = (hi + 0.05) / (lo + 0.05);
            assert!(ratio >= 4.5, "--{badge} on --{page_bg}: {ratio:.2}:1");
        }
    }
}

#[tokio::test]
async fn text_is_compressed_for_clients_that_accept_it() {
    use std::io::Read;

    let app = TestApp::start().await;
    let get = |path: &str, encoding: &str| {
        Request::get(path)
            .header(header::ACCEPT_ENCODING, encoding)
            .body(Body::empty())
            .unwrap()
    };
    let page = app.page("/signin", StatusCode::OK).await;
    let css = page.attr(r#"link[rel="stylesheet"]"#, "href");
    let original = body(app.get(&css).await).await;

    let response = app.request(get(&css, "gzip, deflate, br")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let h = response.headers();
    assert_eq!(h[header::CONTENT_ENCODING], "br");
    assert_eq!(h[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(h[header::VARY], "accept-encoding");
    let compressed = body(response).await;
    assert!(
        compressed.len() < original.len() / 2,
        "{}",
        compressed.len()
    );
    let mut decoded = Vec::new();
    brotli_decompressor::Decompressor::new(&compressed[..], 4096)
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, original);

    // A page, gzip only.
    let response = app.request(get("/signin", "gzip")).await;
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let mut html = String::new();
    flate2::read::GzDecoder::new(&body(response).await[..])
        .read_to_string(&mut html)
        .unwrap();
    assert!(html.contains("Sign in to Mesher"));

    // Not asked for, or not text: as it is.
    let response = app.get(&css).await;
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    let icon = page.attr(r#"link[rel="icon"]"#, "href");
    let response = app.request(get(&icon, "br")).await;
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    let response = app.request(get("/api/v1/nope", "br")).await;
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
}
