//! Every dashboard page on a phone (issue 19, acceptance 3): at 390 px no page is wider than the
//! viewport, in either theme; wide content (code, breadcrumbs, tables) scrolls inside its card.

use mesher_store::testing::Backend;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::common::TestServer;
use crate::sdk;

/// A phone's viewport width (an iPhone 12 to 15).
pub const PHONE_WIDTH: u32 = 390;

/// A project with the SDK's events, an owner signed in, and the path of every dashboard page:
/// the pages a user visits, with one issue and one event of the SDK's payment error.
pub async fn signed_in_tour(server: &TestServer, browser: &Browser) -> Vec<(&'static str, String)> {
    super::add_ada(server).await;
    let sent = sdk::send_events(&server.dsn).await;
    server.wait_for_events(sent.count).await;
    let p = server.project_id;
    browser
        .goto(&format!("{}/signin?next=/projects/{p}/issues", server.url))
        .await;
    browser
        .sign_in("ada@example.com", super::ADA_PASSWORD)
        .await;
    browser.find("table.issues-table").await;
    // The payment error: the issue with a stack trace, breadcrumbs and a request.
    let issue = browser
        .eval(&format!(
            "return Array.from(document.querySelectorAll('tbody a.cell-title')) \
             .find(a => a.textContent.startsWith('{}')).getAttribute('href')",
            sdk::TITLE
        ))
        .await;
    browser
        .goto(&format!("{}/projects/{p}/events", server.url))
        .await;
    browser.find("table.events-table").await;
    let event = browser
        .eval("return document.querySelector('table.events-table tbody a').getAttribute('href')")
        .await;
    // A release as a build pipeline records one, so that the Releases page has a full row.
    let now = mesher_store::now();
    server
        .store
        .declare_release(p, "shop@2.0", now)
        .await
        .unwrap();
    let commit = mesher_store::ReleaseCommit {
        id: "0123456789abcdef0123456789abcdef01234567".into(),
        repository: Some("acme/shop".into()),
        message: Some("Fix coupon rounding for carts with more than one discount applied".into()),
        author_name: Some("Ada Lovelace".into()),
        author_email: None,
        timestamp: Some(now),
    };
    server
        .store
        .set_release_commits(server.org_id, "shop@2.0", &[commit])
        .await
        .unwrap();
    server
        .store
        .add_deploy(&mesher_store::NewDeploy {
            org_id: server.org_id,
            version: "shop@2.0",
            environment: "production",
            name: Some("blue"),
            url: None,
            date_started: None,
            date_finished: now,
        })
        .await
        .unwrap();
    let path = |v: Value| v.as_str().expect("a link").to_string();
    vec![
        ("overview", format!("/projects/{p}")),
        ("issues", format!("/projects/{p}/issues")),
        ("issue", path(issue)),
        ("events", format!("/projects/{p}/events")),
        ("event", path(event)),
        ("live", format!("/projects/{p}/live")),
        ("alerts", format!("/projects/{p}/alerts")),
        ("alert rules", format!("/projects/{p}/alerts/rules")),
        ("releases", format!("/projects/{p}/releases")),
        ("new alert rule", format!("/projects/{p}/alerts/rules/new")),
        ("settings", format!("/projects/{p}/settings")),
        ("members", "/orgs/test-org/members".to_string()),
        ("tokens", "/me/tokens".to_string()),
        ("preferences", "/me/preferences".to_string()),
        ("cluster", "/cluster".to_string()),
    ]
}

/// Opens `path` in `theme` ("light" or "dark", the toggle's stored choice).
pub async fn open_in_theme(browser: &Browser, url: &str, theme: &str) {
    browser.goto(url).await;
    browser
        .eval(&format!(
            "localStorage.setItem('mesher-theme', '{theme}'); return null"
        ))
        .await;
    browser.client.refresh().await.unwrap();
    assert_eq!(
        browser.attr("html", "data-theme").await.as_deref(),
        Some(theme)
    );
}

/// The page's width and, when it overflows, the innermost elements that stick out of it and
/// are not inside a scrolling box (to say what to fix).
const OVERFLOW: &str = r"
var width = document.documentElement.clientWidth;
function clipped(el) {
  for (var a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    if (getComputedStyle(a).overflowX !== 'visible') { return true; }
  }
  return false;
}
function sticksOut(el) { return el.getBoundingClientRect().right > width + 0.5 && !clipped(el); }
var out = [];
document.querySelectorAll('body *').forEach(function (el) {
  if (sticksOut(el) && !Array.prototype.some.call(el.children, sticksOut)) {
    var name = el.tagName.toLowerCase() + (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/ +/).join('.') : '');
    out.push(name + ' ' + Math.round(el.getBoundingClientRect().right));
  }
});
return {scroll: document.documentElement.scrollWidth, viewport: width, inner: window.innerWidth, out: out.slice(0, 8)};
";

/// Acceptance 3: every page fits a 390 px wide phone, in both themes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_is_wider_than_a_phone() {
    let server = TestServer::start(Backend::Sqlite).await;
    let browser = Browser::start().await;
    let pages = signed_in_tour(&server, &browser).await;
    browser
        .client
        .set_window_size(PHONE_WIDTH, 844)
        .await
        .unwrap();
    let mut wide = Vec::new();
    for theme in ["light", "dark"] {
        for (name, path) in &pages {
            open_in_theme(&browser, &format!("{}{path}", server.url), theme).await;
            let m = browser.eval(OVERFLOW).await;
            assert_eq!(m["inner"], json!(PHONE_WIDTH), "the window is a phone's");
            if m["scroll"].as_u64() > m["viewport"].as_u64() {
                wide.push(format!("{name} ({theme}): {m}"));
            }
            if theme == "light" {
                browser
                    .artifact(&format!("phone-{}", name.replace(' ', "-")))
                    .await;
            }
        }
    }
    // The issue list's filters fold behind a button, so the first issue is on the first screen;
    // on a wider screen they are all in sight, the button hidden.
    browser
        .goto(&format!(
            "{}/projects/{}/issues",
            server.url, server.project_id
        ))
        .await;
    let level = browser.find("#filter-level").await;
    assert!(!level.is_displayed().await.unwrap());
    let first_row = "return document.querySelector('tbody tr').getBoundingClientRect().top";
    let top = browser.eval(first_row).await.as_f64().unwrap();
    assert!(top < 844.0, "the first issue is {top} px down");
    browser.click("details.filters-more > summary").await;
    assert!(level.is_displayed().await.unwrap());
    // (WebDriver's own visibility check takes whatever is in a closed <details> for hidden.)
    browser.client.set_window_size(1280, 860).await.unwrap();
    browser.client.refresh().await.unwrap();
    let shown = "return document.querySelector('#filter-level').checkVisibility()";
    assert_eq!(browser.eval(shown).await, json!(true));
    assert!(
        !browser
            .find("details.filters-more > summary")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    assert!(
        wide.is_empty(),
        "pages wider than {PHONE_WIDTH} px:\n{}",
        wide.join("\n")
    );
    browser.assert_no_console_errors().await;
    browser.close().await;
}
