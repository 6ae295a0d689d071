//! The dashboard in a real browser (headless Chromium over WebDriver) against an in-process node:
//! the theme and keyboard on the sign-in page, and the acceptance path from an SDK event to a
//! resolved issue, with screenshots of the main pages (`docs/screenshots/` with
//! `MESHER_SCREENSHOTS=1`); the Live page and the live overview in `dashboard_browser/live.rs`,
//! the live alert list in `dashboard_browser/alerts.rs`; every page on a phone in
//! `dashboard_browser/phone.rs`; axe-core on every page in `dashboard_browser/a11y.rs`;
//! the keyboard's shortcuts in `dashboard_browser/keyboard.rs`; a minified page's error read
//! through its uploaded source map in `dashboard_browser/sourcemaps.rs`.

#[path = "dashboard_browser/a11y.rs"]
mod a11y;
#[path = "dashboard_browser/alerts.rs"]
mod alerts;
mod browser;
mod common;
#[path = "dashboard_browser/keyboard.rs"]
mod keyboard;
#[path = "dashboard_browser/live.rs"]
mod live;
#[path = "dashboard_browser/phone.rs"]
mod phone;
#[path = "dashboard_browser/sdk.rs"]
mod sdk;
#[path = "dashboard_browser/sourcemaps.rs"]
mod sourcemaps;

use browser::Browser;
use common::TestServer;
use fantoccini::Locator;
use fantoccini::key::Key;
use mesher_server::accounts;
use mesher_store::Role;
use mesher_store::testing::Backend;
use serde_json::json;

/// The password of Ada, the owner the dashboard's browser tests sign in as.
const ADA_PASSWORD: &str = "correct horse battery";

/// Makes Ada (`ada@example.com`) an owner of the test organization.
async fn add_ada(server: &TestServer) {
    accounts::create_user(
        server.store.as_ref(),
        "ada@example.com",
        Some("Ada Lovelace"),
        ADA_PASSWORD,
        Some((server.org_id, Role::Owner)),
    )
    .await
    .unwrap();
}

/// The theme toggle works, persists across a reload without flashing, and the page is keyboard
/// reachable and free of console errors (CSP violations included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_page_theme_toggle_persists() {
    let server = TestServer::start(Backend::Sqlite).await;
    let browser = Browser::start().await;

    // The root leads to sign-in.
    browser.goto(&format!("{}/", server.url)).await;
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/signin");
    assert_eq!(browser.client.title().await.unwrap(), "Sign in · Mesher");

    // The stylesheet applied (light by default in headless Chromium).
    let background = "return getComputedStyle(document.body).backgroundColor";
    assert_eq!(browser.eval(background).await, json!("rgb(247, 248, 250)"));
    assert_eq!(browser.attr("html", "data-theme").await, None);

    // Keyboard: the form has the focus; one Shift+Tab back reaches the (revealed) toggle, and
    // Enter presses it.
    let focused = "return document.activeElement.id || document.activeElement.outerHTML";
    assert_eq!(browser.eval(focused).await, json!("email"));
    browser.screenshot("signin").await;
    let toggle = "button[data-theme-toggle]";
    assert!(browser.find(toggle).await.is_displayed().await.unwrap());
    assert_eq!(
        browser.attr(toggle, "aria-pressed").await.as_deref(),
        Some("false")
    );
    let back = format!("{}{}{}", Key::Shift, Key::Tab, Key::Shift);
    let active = browser.client.active_element().await.unwrap();
    active.send_keys(&back).await.unwrap();
    let is_toggle = "return document.activeElement.hasAttribute('data-theme-toggle')";
    assert_eq!(browser.eval(is_toggle).await, json!(true));
    let active = browser.client.active_element().await.unwrap();
    active.send_keys(&Key::Enter.to_string()).await.unwrap();
    assert_eq!(
        browser.attr("html", "data-theme").await.as_deref(),
        Some("dark")
    );
    assert_eq!(
        browser.attr(toggle, "aria-pressed").await.as_deref(),
        Some("true")
    );
    assert_eq!(browser.eval(background).await, json!("rgb(14, 16, 20)"));
    browser.screenshot("signin-dark").await;

    // The choice survives a reload, applied before the deferred script runs.
    browser.client.refresh().await.unwrap();
    assert_eq!(
        browser.attr("html", "data-theme").await.as_deref(),
        Some("dark")
    );
    assert_eq!(browser.eval(background).await, json!("rgb(14, 16, 20)"));
    assert_eq!(
        browser.attr(toggle, "aria-pressed").await.as_deref(),
        Some("true")
    );

    // And back, with the mouse.
    browser.find(toggle).await.click().await.unwrap();
    browser.client.refresh().await.unwrap();
    assert_eq!(
        browser.attr("html", "data-theme").await.as_deref(),
        Some("light")
    );
    browser.assert_no_console_errors().await;

    // An error page is a styled page of its own; its only console entry is its own 404.
    browser
        .goto(&format!("{}/static/missing.css", server.url))
        .await;
    assert_eq!(
        browser.find("main h1").await.text().await.unwrap(),
        "Page not found"
    );
    assert_eq!(browser.eval(background).await, json!("rgb(247, 248, 250)"));
    browser.screenshot("not-found").await;
    let errors = browser.console_errors().await;
    assert!(
        errors
            .iter()
            .all(|e| e.contains("missing.css") && e.contains("404")),
        "{errors:?}"
    );
    browser.close().await;
}

/// The harness sees what it must fail on: a console error and an uncaught exception.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_collects_console_errors() {
    let server = TestServer::start(Backend::Sqlite).await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/signin", server.url)).await;
    browser.assert_no_console_errors().await;
    browser
        .eval(
            "console.error('harness check'); \
             setTimeout(function () { throw new Error('uncaught check'); }, 0); return null;",
        )
        .await;
    // The exception is thrown on a later turn of the event loop.
    let mut errors = Vec::new();
    for _ in 0..50 {
        errors.extend(browser.console_errors().await);
        if errors.iter().any(|e| e.contains("uncaught check")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        errors.iter().any(|e| e.contains("harness check")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("uncaught check")),
        "{errors:?}"
    );
    browser.close().await;
}

/// The acceptance path (issue 8): a real SDK event becomes an issue; a user signs in, finds it,
/// opens it, sees the stack trace, resolves it and sees the state change, switches to the dark
/// theme; no page logs a console error. Screenshots of each main page along the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_an_sdk_event_to_a_resolved_issue() {
    let server = TestServer::start(Backend::Sqlite).await;
    let store = server.store.as_ref();
    let password = "correct horse battery";
    accounts::create_user(
        store,
        "ada@example.com",
        Some("Ada Lovelace"),
        password,
        Some((server.org_id, Role::Owner)),
    )
    .await
    .unwrap();
    accounts::create_user(
        store,
        "max@example.com",
        Some("Max Mustermann"),
        password,
        Some((server.org_id, Role::Member)),
    )
    .await
    .unwrap();
    let sent = sdk::send_events(&server.dsn).await;
    server.wait_for_events(sent.count).await;
    let p = server.project_id;

    let browser = Browser::start().await;
    browser
        .goto(&format!("{}/projects/{p}/issues", server.url))
        .await;
    // Signed out: the sign-in page, which returns to the page asked for.
    assert_eq!(
        browser.client.current_url().await.unwrap().path(),
        "/signin"
    );
    browser.sign_in("ada@example.com", password).await;
    browser.find("table.issues-table").await;
    assert_eq!(
        browser.client.current_url().await.unwrap().path(),
        format!("/projects/{p}/issues")
    );
    browser.assert_no_console_errors().await;

    // The overview, with the SDK's events charted.
    browser.goto(&format!("{}/projects/{p}", server.url)).await;
    browser.find("svg.chart-volume").await;
    let events_24h = browser.text(".cards .card:nth-child(2) .stat-value").await;
    assert_eq!(events_24h, sent.count.to_string());
    browser.screenshot("overview").await;
    browser.assert_no_console_errors().await;

    // Find the issue in the list, with the keyboard-reachable navigation.
    browser
        .click(r#"nav[aria-label="Main"] a[href$="/issues"]"#)
        .await;
    let row = browser
        .client
        .wait()
        .for_element(Locator::XPath(&format!(
            "//table//a[contains(., '{}')]",
            sdk::TITLE
        )))
        .await
        .unwrap();
    browser.screenshot("issues").await;
    browser.assert_no_console_errors().await;
    row.click().await.unwrap();

    // The issue: its stack trace, the crashing application frame unfolded with its source.
    let heading = browser.find("main h1").await.text().await.unwrap();
    assert!(heading.starts_with(sdk::TITLE), "{heading}");
    assert_eq!(
        browser.find(".exception-type").await.text().await.unwrap(),
        "PaymentError"
    );
    let frame = browser.find("li.frame.in-app > details[open]").await;
    assert!(frame.text().await.unwrap().contains("charge"));
    let current = browser
        .find("li.frame.in-app > details[open] li.current")
        .await;
    assert!(current.is_displayed().await.unwrap());
    assert_eq!(current.text().await.unwrap().trim(), sdk::CRASH_LINE.trim());
    assert!(
        !browser
            .find("details.system-frames li.frame")
            .await
            .is_displayed()
            .await
            .unwrap(),
        "library frames fold"
    );
    assert_eq!(
        browser.find("#issue-status").await.text().await.unwrap(),
        "unresolved"
    );
    // Tall enough to show the stack trace below the header and chart.
    browser.client.set_window_size(1280, 1800).await.unwrap();
    browser.screenshot("issue").await;
    browser.assert_no_console_errors().await;

    // Resolve it.
    browser
        .click(r#"button[name="status"][value="resolve"]"#)
        .await;
    browser.find("p.alert-success").await;
    assert_eq!(browser.text("p.alert-success").await, "Issue resolved.");
    assert_eq!(
        browser.find("#issue-status").await.text().await.unwrap(),
        "resolved"
    );
    let activity = browser.find(".activity li").await.text().await.unwrap();
    assert!(
        activity.starts_with("Ada Lovelace resolved the issue"),
        "{activity}"
    );
    browser.assert_no_console_errors().await;

    // The dark theme.
    let background = "return getComputedStyle(document.body).backgroundColor";
    browser.click("button[data-theme-toggle]").await;
    assert_eq!(
        browser.attr("html", "data-theme").await.as_deref(),
        Some("dark")
    );
    assert_eq!(browser.eval(background).await, json!("rgb(14, 16, 20)"));
    browser.screenshot("issue-dark").await;
    browser.assert_no_console_errors().await;
    browser.click("button[data-theme-toggle]").await;
    browser.client.set_window_size(1280, 860).await.unwrap();

    // It left the unresolved list.
    browser
        .goto(&format!("{}/projects/{p}/issues", server.url))
        .await;
    browser.find("table.issues-table").await;
    let titles = browser.eval("return Array.from(document.querySelectorAll('tbody a.cell-title')).map(a => a.textContent)").await;
    assert!(!titles.to_string().contains(sdk::TITLE), "{titles}");

    // Event search and settings.
    browser
        .goto(&format!(
            "{}/projects/{p}/events?q=level%3Aerror",
            server.url
        ))
        .await;
    browser.find("table.events-table").await;
    browser.screenshot("events").await;
    browser.assert_no_console_errors().await;
    browser
        .goto(&format!("{}/projects/{p}/settings", server.url))
        .await;
    browser.find("#keys input[readonly]").await;
    assert!(
        browser
            .find("#keys button[data-copy]")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    browser.screenshot("settings").await;
    browser.assert_no_console_errors().await;
    browser.close().await;
}

/// The pages around the main path work in the browser too: a new project's first-run hint with
/// a working copy button, the switcher and the bulk selection by keyboard and mouse, members,
/// API tokens, an error page of a signed-in user; no console errors anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_switcher_members_and_tokens() {
    let server = TestServer::start(Backend::Sqlite).await;
    let store = server.store.as_ref();
    let password = "correct horse battery";
    accounts::create_user(
        store,
        "ada@example.com",
        Some("Ada Lovelace"),
        password,
        Some((server.org_id, Role::Owner)),
    )
    .await
    .unwrap();
    let (fresh, _) =
        accounts::create_project(store, server.org_id, "Mobile App", None, Some("javascript"))
            .await
            .unwrap();
    for message in ["Checkout timed out", "Image upload failed"] {
        let sent = reqwest::Client::new()
            .post(server.envelope_url())
            .header("x-sentry-auth", server.auth_header())
            .body(common::envelope(
                &common::new_id(),
                &json!({"message": message, "level": "error"}),
            ))
            .send()
            .await
            .unwrap();
        assert!(sent.status().is_success());
    }

    let browser = Browser::start().await;
    browser
        .goto(&format!(
            "{}/signin?next=/projects/{}",
            server.url, fresh.id
        ))
        .await;
    browser.sign_in("ada@example.com", password).await;

    // The first-run hint: the DSN with a copy button the script revealed.
    browser.find("section.setup").await;
    let copy = browser
        .find(r#"section.setup button[data-copy="setup-dsn"]"#)
        .await;
    assert!(copy.is_displayed().await.unwrap());
    // A javascript project's snippet comes first, unfolded.
    assert_eq!(
        browser.text("details.snippet-choice[open] > summary").await,
        "JavaScript"
    );
    copy.click().await.unwrap();
    // The copy is a promise: the label changes once it settles (and back 1.5 s later).
    let mut label = copy.text().await.unwrap();
    for _ in 0..100 {
        if label != "Copy" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        label = copy.text().await.unwrap();
    }
    assert!(label == "Copied" || label == "Press Ctrl+C", "{label}");
    browser.artifact("first-run").await;
    browser.assert_no_console_errors().await;

    // The switcher opens with the keyboard and leads to the other project.
    browser
        .find("details.switcher > summary")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    assert_eq!(
        browser.attr("details.switcher", "open").await.as_deref(),
        Some("true")
    );
    browser.artifact("switcher").await;
    browser
        .find(&format!(
            r#".switcher-menu a[href="/projects/{}"]"#,
            server.project_id
        ))
        .await
        .click()
        .await
        .unwrap();
    browser.find("svg.chart-volume").await;

    // Select all on the issue list, then resolve them in bulk.
    browser
        .goto(&format!(
            "{}/projects/{}/issues",
            server.url, server.project_id
        ))
        .await;
    let all = browser.find("input[data-select-all]").await;
    assert!(all.is_displayed().await.unwrap());
    all.click().await.unwrap();
    let checked = browser
        .eval("return document.querySelectorAll('tbody input[name=issue]:checked').length")
        .await;
    assert_eq!(checked, json!(2));
    browser.click(r#"form.bulk button[value="resolve"]"#).await;
    assert_eq!(
        browser.text("p.alert-success").await,
        "The selected issues were updated."
    );
    assert_eq!(
        browser.text(".empty-state .empty-heading").await,
        "No unresolved issues"
    );
    browser.assert_no_console_errors().await;

    // Members and API tokens.
    browser
        .goto(&format!("{}/orgs/test-org/members", server.url))
        .await;
    browser.find("table.members-table").await;
    browser.artifact("members").await;
    browser.goto(&format!("{}/me/tokens", server.url)).await;
    browser
        .find("input#token-label")
        .await
        .send_keys("deploy")
        .await
        .unwrap();
    browser.click("form.inline-form button[type=submit]").await;
    let token = browser.attr("input#new-token", "value").await.unwrap();
    assert!(token.starts_with("mshr_"), "{token}");
    browser.artifact("tokens").await;
    browser.assert_no_console_errors().await;

    // A page that does not exist, for a signed-in user: a page, and only its own 404 logged.
    browser
        .goto(&format!("{}/projects/999999", server.url))
        .await;
    assert_eq!(
        browser.find("main h1").await.text().await.unwrap(),
        "Page not found"
    );
    let errors = browser.console_errors().await;
    assert!(errors.iter().all(|e| e.contains("404")), "{errors:?}");
    browser.close().await;
}
