//! The dashboard by keyboard alone (issue 19, acceptance 2): shortcuts take a user from the
//! issue list to the third issue, resolve it and filter the list by level in at most ten key
//! presses; the focus stays where the user acted; Escape closes the shortcut list, the project
//! switcher and the delete panel.

use std::time::{Duration, Instant};

use fantoccini::key::Key;
use mesher_store::testing::Backend;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::common::TestServer;
use crate::sdk;

/// What has the focus: an element's id, else its text.
const FOCUSED: &str = "var e = document.activeElement; return e.id || e.textContent.trim()";

/// Waits until `script` returns true (a page loaded by a key press has no other signal).
async fn until(browser: &Browser, script: &str) {
    let started = Instant::now();
    while browser.eval(script).await != json!(true) {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never true: {script}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn path_is(path: &str) -> String {
    format!(
        "return location.pathname + location.search === '{path}' && document.readyState === 'complete'"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_issue_resolved_and_list_filtered_by_keyboard_alone() {
    let server = TestServer::start(Backend::Sqlite).await;
    super::add_ada(&server).await;
    let sent = sdk::send_events(&server.dsn).await;
    server.wait_for_events(sent.count).await;
    let list = format!("/projects/{}/issues", server.project_id);
    let browser = Browser::start().await;
    browser
        .goto(&format!("{}/signin?next={list}", server.url))
        .await;
    browser
        .sign_in("ada@example.com", super::ADA_PASSWORD)
        .await;
    browser.find("table.issues-table").await;
    // The script reported the browser's time zone on the sign-in page, so the first page after
    // it already shows times in that zone and says so (issue 19).
    let zone = browser
        .eval("return Intl.DateTimeFormat().resolvedOptions().timeZone")
        .await;
    assert_eq!(
        browser.text(".footer-zone a").await,
        format!("{} (your browser's)", zone.as_str().unwrap())
    );
    let titles = browser
        .eval("return Array.from(document.querySelectorAll('tbody a.cell-title')).map(a => a.textContent)")
        .await;
    let third = titles[2].as_str().unwrap().to_string();
    let mut presses = 0;

    // j j j: the third issue has the focus; o opens it.
    browser.press(&['j', 'j', 'j']).await;
    assert_eq!(browser.eval(FOCUSED).await, json!(third));
    browser.press(&['o']).await;
    presses += 4;
    until(
        &browser,
        &format!(
            "return location.pathname !== '{list}' && document.readyState === 'complete' && !!document.querySelector('main h1')"
        ),
    )
    .await;
    let heading = browser.text("main h1").await;
    assert!(heading.starts_with(&third), "{heading} is not {third}");
    let issue = browser.eval("return location.pathname").await;

    // r resolves it; the focus stays on the state buttons, not the top of the page.
    browser.press(&['r']).await;
    presses += 1;
    browser.find("p.alert-success").await;
    assert_eq!(browser.text("#issue-status").await, "resolved");
    assert_eq!(
        browser
            .eval("return document.activeElement.getAttribute('name')")
            .await,
        json!("status")
    );

    // u goes back to the list, the focus on the row that took the resolved issue's place.
    browser.press(&['u']).await;
    presses += 1;
    until(&browser, &path_is(&list)).await;
    let focused = browser.eval(FOCUSED).await;
    assert_eq!(focused, titles[3], "the row after the resolved one");
    assert!(!browser.text("tbody").await.contains(&third));

    // "/" searches; Tab reaches the level filter, "e" picks Error and Enter applies it.
    browser.press(&['/']).await;
    presses += 1;
    assert_eq!(browser.eval(FOCUSED).await, json!("filter-q"));
    browser
        .press(&[Key::Tab.into(), 'e', Key::Enter.into()])
        .await;
    presses += 3;
    until(
        &browser,
        "return location.search.includes('level=error') && document.readyState === 'complete'",
    )
    .await;
    let levels = browser
        .eval("return Array.from(document.querySelectorAll('tbody .cell-sub .badge[class*=level-]')).map(b => b.textContent.trim())")
        .await;
    assert!(
        levels
            .as_array()
            .is_some_and(|l| !l.is_empty() && l.iter().all(|v| v == "error")),
        "{levels}"
    );
    assert!(presses <= 10, "{presses} key presses");

    // Not counted: "?" lists the shortcuts and Escape closes the list; Escape closes the
    // project switcher and the delete panel, the focus back on their buttons.
    browser.press(&['?']).await;
    assert_eq!(
        browser
            .eval("return document.querySelector('dialog#shortcuts').open")
            .await,
        json!(true)
    );
    browser.press(&[Key::Escape.into()]).await;
    assert_eq!(
        browser
            .eval("return document.querySelector('dialog#shortcuts').open")
            .await,
        json!(false)
    );
    browser.click("details.switcher > summary").await;
    browser.press(&[Key::Escape.into()]).await;
    assert_eq!(browser.attr("details.switcher", "open").await, None);
    let Value::String(issue) = issue else {
        panic!("{issue}")
    };
    browser.goto(&format!("{}{issue}", server.url)).await;
    browser.click("details.confirm-menu > summary").await;
    browser.press(&[Key::Escape.into()]).await;
    assert_eq!(browser.attr("details.confirm-menu", "open").await, None);
    assert_eq!(
        browser
            .eval("return document.activeElement.parentElement.className")
            .await,
        json!("confirm-menu")
    );
    browser.assert_no_console_errors().await;
    browser.close().await;
}
