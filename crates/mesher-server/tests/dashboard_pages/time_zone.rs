//! Times in the viewer's time zone (issue 19): the user's choice, else the browser's (the
//! `mesher_tz` cookie the script sets), else UTC, and each page says which one it uses.

use axum::http::StatusCode;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::dashboard::{Page, Session, TestApp, body, message, see_other};

/// `t` as "2026-11-23 19:35:09" at `offset`.
fn local(t: OffsetDateTime, offset: UtcOffset) -> String {
    let t = t.to_offset(offset);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[tokio::test]
async fn times_show_in_the_chosen_zone_else_the_browsers_else_utc() {
    let app = TestApp::start().await;
    let world = app.world().await;
    // Zones without summer time, so that the expected offsets hold on any date.
    let (kolkata, tokyo) = (
        UtcOffset::from_hms(5, 30, 0).unwrap(),
        UtcOffset::from_hms(9, 0, 0).unwrap(),
    );
    let now = OffsetDateTime::now_utc();
    let at = now.replace_nanosecond(0).unwrap() - Duration::hours(3);
    let mut event = message("clock drift detected", "error");
    event["timestamp"] = at.unix_timestamp().into();
    app.send_event(&world, event).await;
    let ada = app.session(&world.owner).await;
    let issue = {
        let list = ada
            .page(
                &app,
                &format!("/projects/{}/issues", world.project.id),
                StatusCode::OK,
            )
            .await;
        list.attr("tbody a.cell-title", "href")
    };
    let shown = |page: &Page| page.attr("#event-id + .muted time", "title");

    // Nothing said: UTC, and the page says so.
    let page = ada.page(&app, &issue, StatusCode::OK).await;
    assert_eq!(page.attr("#event-id + .muted time", "datetime"), {
        let t = at.to_offset(UtcOffset::UTC);
        format!("{}Z", local(t, UtcOffset::UTC).replace(' ', "T"))
    });
    assert_eq!(shown(&page), format!("{} UTC", local(at, UtcOffset::UTC)));
    assert_eq!(page.text(".footer-zone a"), "UTC");
    assert_eq!(page.attr(".footer-zone a", "href"), "/me/preferences");

    // The browser's, from the script's cookie.
    let browser = Session {
        cookie: format!("{}; mesher_tz=Asia/Tokyo", ada.cookie),
        csrf: ada.csrf.clone(),
    };
    let page = browser.page(&app, &issue, StatusCode::OK).await;
    assert_eq!(
        shown(&page),
        format!("{} JST (UTC+09:00)", local(at, tokyo))
    );
    assert_eq!(page.text(".footer-zone a"), "Asia/Tokyo (your browser's)");
    // A cookie naming no zone is ignored.
    let odd = Session {
        cookie: format!("{}; mesher_tz=Mars/Olympus", ada.cookie),
        csrf: ada.csrf.clone(),
    };
    let page = odd.page(&app, &issue, StatusCode::OK).await;
    assert_eq!(shown(&page), format!("{} UTC", local(at, UtcOffset::UTC)));

    // The preferences page offers the browser's and every zone.
    let prefs = browser.page(&app, "/me/preferences", StatusCode::OK).await;
    assert_eq!(prefs.text("main h1"), "Preferences");
    assert_eq!(
        prefs.text("#time_zone option[selected]"),
        "Your browser's (Asia/Tokyo)"
    );
    assert!(prefs.count("#time_zone option") > 300);
    assert_eq!(prefs.text(".current-zone"), "Asia/Tokyo (your browser's)");

    // A chosen zone wins over the browser's, on every page.
    let response = browser
        .post(&app, "/me/preferences", &[("time_zone", "Asia/Kolkata")])
        .await;
    let target = see_other(&response);
    assert_eq!(target, "/me/preferences?done=preferences-saved");
    let prefs = browser.page(&app, &target, StatusCode::OK).await;
    assert_eq!(prefs.text("[role=status]"), "Preferences saved.");
    assert_eq!(
        prefs.attr("#time_zone option[selected]", "value"),
        "Asia/Kolkata"
    );
    assert_eq!(prefs.text(".current-zone"), "Asia/Kolkata");
    let page = browser.page(&app, &issue, StatusCode::OK).await;
    assert_eq!(
        shown(&page),
        format!("{} IST (UTC+05:30)", local(at, kolkata))
    );
    assert_eq!(page.text(".footer-zone a"), "Asia/Kolkata");
    // The event's own facts and the event list follow it too.
    let received = page
        .texts("dl.kv dd")
        .into_iter()
        .find(|t| t.ends_with("IST (UTC+05:30)"));
    assert!(received.is_some(), "the Received fact is in the zone");
    let events = browser
        .page(
            &app,
            &format!("/projects/{}/events?q=clock", world.project.id),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        events.attr("tbody time", "title"),
        format!("{} IST (UTC+05:30)", local(at, kolkata))
    );
    let me: serde_json::Value =
        serde_json::from_slice(&body(ada.get(&app, "/api/v1/me").await).await).unwrap();
    assert_eq!(me["user"]["time_zone"], "Asia/Kolkata");

    // A zone that does not exist is refused beside the field, the choice kept.
    let response = browser
        .post(&app, "/me/preferences", &[("time_zone", "Mars/Olympus")])
        .await;
    let page = Page::from_response(response, StatusCode::BAD_REQUEST).await;
    assert!(
        page.text("#time_zone-error").contains("not a time zone"),
        "{}",
        page.text("#time_zone-error")
    );
    assert_eq!(page.attr("#time_zone", "aria-invalid"), "true");

    // Back to the browser's.
    let response = browser
        .post(&app, "/me/preferences", &[("time_zone", "")])
        .await;
    see_other(&response);
    let page = browser.page(&app, &issue, StatusCode::OK).await;
    assert_eq!(
        shown(&page),
        format!("{} JST (UTC+09:00)", local(at, tokyo))
    );
}
