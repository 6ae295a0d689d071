//! Issue 18, acceptance 1, in a real browser: a page whose script (the real @sentry/browser
//! with the app, bundled and minified by esbuild, marked and uploaded by the real sentry-cli)
//! throws on a click in headless Chromium; the event Mesher stores, and the issue page, read as
//! the original source.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use mesher_store::testing::Backend;
use reqwest::Method;
use serde_json::Value;

use crate::browser::Browser;
use crate::common::TestServer;
use crate::common::api::{Api, owner_token};
use crate::common::js::{self, ok};

/// The app: the SDK reports what a click on Pay throws in `computeTotal`, line 9.
const APP: &str = r#"import * as Sentry from "@sentry/browser";

Sentry.init({ dsn: MESHER_DSN, release: "shop@1.0" });

function computeTotal(items) {
  let total = 0;
  for (const item of items) {
    // A free item has no price.
    total += item.price.amount;
  }
  return total;
}

function checkout(cart) {
  document.getElementById("total").textContent = computeTotal(cart.items);
}

document.getElementById("pay").addEventListener("click", () => {
  checkout({ items: [{ price: { amount: 3 } }, { price: null }] });
});
"#;

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><button id="pay">Pay</button> <span id="total"></span>
<script src="/dist/app.min.js"></script></body></html>
"#;

/// Serves the page and the built files of `dir`, as the shop's own web server would.
async fn serve(dir: PathBuf) -> String {
    async fn page() -> impl IntoResponse {
        ([(header::CONTENT_TYPE, "text/html")], PAGE)
    }
    async fn file(State(dir): State<PathBuf>, Path(name): Path<String>) -> impl IntoResponse {
        let kind = if name.ends_with(".map") {
            "application/json"
        } else {
            "text/javascript"
        };
        // The test's own two files; nothing else is asked for.
        let body = std::fs::read(dir.join("dist").join(name.replace('/', ""))).unwrap_or_default();
        ([(header::CONTENT_TYPE, kind)], body)
    }
    let app = Router::new()
        .route("/", get(page))
        .route("/dist/{name}", get(file))
        .with_state(dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minified_browser_error_reads_as_the_original_source() {
    let tools = js::tools();
    let server = TestServer::start(Backend::Sqlite).await;
    super::add_ada(&server).await;
    let token = owner_token(&server).await;
    let api = Api::new(&server, Some(token.clone()));
    let org = server.store.org(server.org_id).await.unwrap().unwrap().slug;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("shop");
    let define = format!(
        "--define:MESHER_DSN={}",
        serde_json::to_string(&server.dsn).unwrap()
    );
    js::build(&tools, &dir, APP, &[&define]);
    ok(
        js::upload(&tools, &server.url, &token, (&org, "test-project"), &dir),
        "sentry-cli sourcemaps upload",
    );
    let shop = serve(dir).await;

    let browser = Browser::start().await;
    browser.goto(&format!("{shop}/")).await;
    browser.click("#pay").await;
    server.wait_for_events(1).await;

    // The API: the frame where it happened, as written.
    let started = Instant::now();
    let issue = loop {
        let issues = api
            .ok(
                Method::GET,
                &format!("/api/v1/projects/{}/issues", server.project_id),
                None,
            )
            .await;
        if let Some(id) = issues["data"][0]["id"].as_i64() {
            break id;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no issue");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let latest = api
        .ok(Method::GET, &format!("/api/v1/issues/{issue}/events"), None)
        .await;
    let id = latest["data"][0]["event_id"].as_str().unwrap().to_string();
    let event = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{}/events/{id}", server.project_id),
            None,
        )
        .await;
    let frames: Vec<Value> = event["exception"]
        .as_array()
        .and_then(|e| e.first())
        .and_then(|e| e["stacktrace"]["frames"].as_array().cloned())
        .unwrap_or_else(|| panic!("no frames: {event:#}"));
    let crashed = frames.last().unwrap();
    assert_eq!(crashed["function"], "computeTotal", "{crashed:#}");
    assert_eq!(crashed["filename"], "src/app.js", "{crashed:#}");
    assert_eq!(crashed["lineno"], 9, "{crashed:#}");
    assert_eq!(crashed["context_line"], "    total += item.price.amount;");
    assert!(
        frames.iter().any(|f| f["function"] == "checkout"),
        "{frames:#?}"
    );

    // The issue page, signed in as Ada.
    browser
        .goto(&format!(
            "{}/signin?next=/projects/{}/issues/{issue}",
            server.url, server.project_id
        ))
        .await;
    browser
        .sign_in("ada@example.com", super::ADA_PASSWORD)
        .await;
    browser.find("ol.stacktrace").await;
    let page = browser
        .eval("return document.querySelector('main').innerText")
        .await;
    let page = page.as_str().unwrap();
    for shown in ["computeTotal", "src/app.js", "total += item.price.amount;"] {
        assert!(
            page.contains(shown),
            "{shown} is not on the issue page:\n{page}"
        );
    }
}
