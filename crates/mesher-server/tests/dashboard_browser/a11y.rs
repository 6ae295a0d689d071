//! Accessibility held by a test (issue 19, acceptance 1): axe-core, injected into every
//! dashboard page, finds no violation of any impact, in both themes, on a desktop and on a
//! phone's 390 px.

use mesher_store::testing::Backend;

use crate::browser::Browser;
use crate::common::TestServer;
use crate::phone::{PHONE_WIDTH, open_in_theme, signed_in_tour};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_finds_no_violation_on_any_page() {
    let server = TestServer::start(Backend::Sqlite).await;
    let browser = Browser::start().await;
    let mut found = Vec::new();
    // Signed out first: the sign-in page.
    browser.goto(&format!("{}/signin", server.url)).await;
    for v in browser.axe_violations().await {
        found.push(format!("sign in: {v}"));
    }
    let pages = signed_in_tour(&server, &browser).await;
    for (width, height) in [(1280, 860), (PHONE_WIDTH, 844)] {
        browser.client.set_window_size(width, height).await.unwrap();
        for theme in ["light", "dark"] {
            for (name, path) in &pages {
                open_in_theme(&browser, &format!("{}{path}", server.url), theme).await;
                for v in browser.axe_violations().await {
                    found.push(format!("{name} ({theme}, {width} px): {v}"));
                }
            }
        }
    }
    // The keyboard's shortcut list, open over a page.
    browser.press(&['?']).await;
    browser.find("dialog#shortcuts[open]").await;
    for v in browser.axe_violations().await {
        found.push(format!("shortcut list: {v}"));
    }
    assert!(
        found.is_empty(),
        "axe-core found {} violations:\n{}",
        found.len(),
        found.join("\n")
    );
    browser.assert_no_console_errors().await;
    browser.close().await;
}
