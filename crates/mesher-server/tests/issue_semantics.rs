//! Issue semantics as Sentry users know them, through HTTP on both backends (issue 12): an
//! issue's events in timestamp order (row 6), issue lists whose period, environment and level
//! apply to the events and count them (rows 7 and 12), and discard as "delete and discard"
//! (row 10).

mod common;

use common::TestServer;
use common::api::{Api, ingest, owner_token};
use mesher_store::testing::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

on_both_backends!(
    an_issues_events_follow_their_timestamps,
    issue_lists_count_the_events_of_the_period,
    discard_deletes_the_events_and_a_deleted_tombstone_lets_a_new_issue_open,
);

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

fn event(message: &str, at: OffsetDateTime, extra: Value) -> Value {
    let mut e = json!({
        "message": message,
        "timestamp": rfc3339(at),
        "platform": "python",
    });
    if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
        e.extend(extra.clone());
    }
    e
}

/// Sends events one after the other, each stored before the next is sent, so that they
/// arrive in the order given.
async fn send_in_order(s: &TestServer, events: Vec<Value>) -> Vec<String> {
    let before = s.store.count_events(s.project_id).await.unwrap();
    let mut ids = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        ids.push(ingest(s, e).await);
        s.wait_for_events(before + i as i64 + 1).await;
    }
    ids
}

fn issue_of(issues: &Value, title: &str) -> Value {
    issues["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["title"] == title)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Row 6: the issue's event list, its latest event and older/newer agree with the events'
/// timestamps, whatever order they arrived in.
async fn an_issues_events_follow_their_timestamps(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = Api::new(&s, Some(owner_token(&s).await));
    let now = mesher_store::now();
    let ids = send_in_order(
        &s,
        vec![
            event("late straggler", now - Duration::minutes(5), json!({})),
            event("late straggler", now - Duration::minutes(50), json!({})),
            event("late straggler", now - Duration::minutes(20), json!({})),
        ],
    )
    .await;
    let issue = api.first_issue(s.project_id).await;
    let events = api
        .ok(Method::GET, &format!("/api/v1/issues/{issue}/events"), None)
        .await;
    let order: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [&ids[0], &ids[2], &ids[1]],
        "newest first by timestamp"
    );
    let middle = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{}/events/{}", s.project_id, ids[2]),
            None,
        )
        .await;
    assert_eq!(middle["previous_event_id"], ids[1].as_str(), "older");
    assert_eq!(middle["next_event_id"], ids[0].as_str(), "newer");
}

/// Rows 7 and 12: "production, last hour" lists only issues with a production event in the
/// last hour; `period_count` counts the period's matching events and `sort=count` sorts by it;
/// `level` matches any event of the issue, not only its latest.
async fn issue_lists_count_the_events_of_the_period(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = Api::new(&s, Some(owner_token(&s).await));
    let now = mesher_store::now();
    let ago = |minutes: i64| now - Duration::minutes(minutes);
    let production = json!({"environment": "production"});
    let staging = json!({"environment": "staging"});
    send_in_order(
        &s,
        vec![
            event("old production", ago(180), production.clone()),
            event("old production", ago(10), staging.clone()),
            event("busy", ago(30), json!({"level": "debug"})),
            event("busy", ago(29), json!({})),
            event("busy", ago(28), json!({"level": "fatal"})),
            event("steady", ago(300), json!({})),
            event("steady", ago(301), json!({})),
            event("steady", ago(302), json!({})),
            event("steady", ago(20), json!({})),
        ],
    )
    .await;
    let list = |query: String| {
        let api = &api;
        let path = format!("/api/v1/projects/{}/issues?{query}", s.project_id);
        async move { api.ok(Method::GET, &path, None).await }
    };
    let hour = format!("since={}", urlencode(&rfc3339(ago(60))));
    let page = list(format!("environment=production&{hour}")).await;
    assert_eq!(
        page["data"],
        json!([]),
        "no production event in the last hour"
    );
    let page = list(format!(
        "environment=production&since={}",
        urlencode(&rfc3339(ago(240)))
    ))
    .await;
    let found = issue_of(&page, "old production");
    assert_eq!(
        (found["period_count"].as_i64(), found["count"].as_i64()),
        (Some(1), Some(2))
    );

    let page = list(format!("{hour}&sort=count")).await;
    let counts: Vec<(String, i64, i64)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["title"].as_str().unwrap().to_string(),
                i["period_count"].as_i64().unwrap(),
                i["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("busy".to_string(), 3, 3),
            ("steady".to_string(), 1, 4),
            ("old production".to_string(), 1, 2),
        ],
        "by events in the period; ties newest issue first"
    );

    // The latest "busy" event is fatal; it had a debug event too.
    let page = list(format!("level=debug&{hour}")).await;
    let titles: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["busy"]);
    assert_eq!(page["data"][0]["level"], "fatal");
    assert_eq!(page["data"][0]["period_count"], 1);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// Row 10: discarding deletes the issue's events (gone from lists and search) and leaves a
/// tombstone that drops new events; un-discarding in place is refused; deleting the tombstone
/// lets the next event open a new issue.
async fn discard_deletes_the_events_and_a_deleted_tombstone_lets_a_new_issue_open(
    backend: Backend,
) {
    let s = TestServer::start(backend).await;
    let api = Api::new(&s, Some(owner_token(&s).await));
    let now = mesher_store::now();
    let ids = send_in_order(
        &s,
        vec![
            event("noisy thing", now - Duration::minutes(3), json!({})),
            event("noisy thing", now - Duration::minutes(2), json!({})),
        ],
    )
    .await;
    let issues_path = format!("/api/v1/projects/{}/issues", s.project_id);
    let issue = api.ok(Method::GET, &issues_path, None).await["data"][0]["id"]
        .as_i64()
        .unwrap();
    let discarded = api
        .ok(
            Method::POST,
            &format!("/api/v1/issues/{issue}/status"),
            Some(json!({"status": "discarded"})),
        )
        .await;
    assert_eq!(discarded["status"], "discarded");

    let events = api
        .ok(Method::GET, &format!("/api/v1/issues/{issue}/events"), None)
        .await;
    assert_eq!(events["data"], json!([]));
    let search = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{}/events?query=noisy", s.project_id),
            None,
        )
        .await;
    assert_eq!(search["data"], json!([]), "not searchable");
    let (status, _) = api
        .call(
            Method::GET,
            &format!("/api/v1/projects/{}/events/{}", s.project_id, ids[0]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let all = api
        .ok(Method::GET, &format!("{issues_path}?status=all"), None)
        .await;
    assert_eq!(
        all["data"],
        json!([]),
        "a tombstone is not in the issue list"
    );
    let tombstones = api
        .ok(
            Method::GET,
            &format!("{issues_path}?status=discarded"),
            None,
        )
        .await;
    assert_eq!(tombstones["data"][0]["id"], issue);

    // New events of the kind are dropped.
    ingest(&s, event("noisy thing", now, json!({}))).await;
    let mut dropped = 0.0;
    for _ in 0..250 {
        dropped = s
            .metric("mesher_outcomes_total{reason=\"discarded\"}")
            .await;
        if dropped >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(dropped, 1.0, "the tombstone dropped the event");
    assert_eq!(s.store.count_events(s.project_id).await.unwrap(), 0);

    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/v1/issues/{issue}/status"),
            Some(json!({"status": "unresolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("delete"),
        "{body}"
    );

    let (status, _) = api
        .call(Method::DELETE, &format!("/api/v1/issues/{issue}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    send_in_order(&s, vec![event("noisy thing", now, json!({}))]).await;
    let page = api.ok(Method::GET, &issues_path, None).await;
    let reborn = issue_of(&page, "noisy thing");
    assert_ne!(reborn["id"], issue);
    assert_eq!(
        (reborn["count"].as_i64(), reborn["substatus"].as_str()),
        (Some(1), Some("new"))
    );
}
