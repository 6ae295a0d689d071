//! Issue 17, acceptance 4 (RETAIN-04): a run with sampling, a rate limit and a per-issue cap,
//! through the real HTTP routes, shows exact counts per reason at
//! `GET /api/v1/projects/{id}/stats/outcomes`; the cap is a project setting the API validates.

mod common;

use std::time::Duration;

use common::TestServer;
use common::api::{Api, owner_token};
use mesher_store::ProjectUpdate;
use mesher_store::testing::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    retain_04_outcomes_count_every_event_exactly,
    retain_04_issue_cap_is_a_validated_project_setting,
);

const CAP: i64 = 2;

/// The outcomes of the last day, once `done` holds for them (the edge's counts arrive within
/// the flusher's 2 seconds).
async fn outcomes_when(api: &Api, project_id: i64, done: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/api/v1/projects/{project_id}/stats/outcomes");
    let mut last = Value::Null;
    for _ in 0..100 {
        last = api.ok(Method::GET, &path, None).await;
        if done(&last["totals"]) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("outcomes never settled: {last}");
}

async fn retain_04_outcomes_count_every_event_exactly(backend: Backend) {
    let s = TestServer::start_with(backend, |settings| {
        settings.limits.max_event_bytes = 4096;
    })
    .await;
    s.store
        .update_project(
            s.project_id,
            &ProjectUpdate {
                sample_rate: Some(0.5),
                rate_limit_per_minute: Some(1),
                max_events_per_issue_per_hour: Some(Some(CAP)),
                ..ProjectUpdate::default()
            },
        )
        .await
        .unwrap();
    let client = reqwest::Client::new();
    // Sixty events of two issues, one request each: sampling drops about half, the limiter
    // lets its burst through and refuses the rest, the cap keeps two per issue.
    const SENT: i64 = 60;
    let mut rate_limited = 0;
    for i in 0..SENT {
        let message = if i % 2 == 0 {
            "alpha failed"
        } else {
            "beta failed"
        };
        let resp = client
            .post(format!("{}/api/v1/events", s.url))
            .bearer_auth(&s.public_key)
            .json(&json!({"message": message, "level": "error"}))
            .send()
            .await
            .unwrap();
        match resp.status() {
            StatusCode::ACCEPTED => {}
            StatusCode::TOO_MANY_REQUESTS => rate_limited += 1,
            other => panic!("event {i}: {other}"),
        }
    }
    // A bulk request: two events that are not objects and one over the size limit. Each is
    // refused on its own, after authentication: they count for the project.
    let big = "x".repeat(5000);
    let results: Value = client
        .post(format!("{}/api/v1/events/bulk", s.url))
        .bearer_auth(&s.public_key)
        .json(&json!([1, "two", {"message": big}]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(results[0]["error"]["code"], "bad_request", "{results}");
    assert_eq!(
        results[2]["error"]["code"], "payload_too_large",
        "{results}"
    );

    let api = Api::new(&s, Some(owner_token(&s).await));
    let issues = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{}/issues", s.project_id),
            None,
        )
        .await;
    let counted: i64 = issues["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["count"].as_i64().unwrap())
        .sum();
    let listed = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{}/events?limit=100", s.project_id),
            None,
        )
        .await["data"]
        .as_array()
        .unwrap()
        .len() as i64;
    let stored = s.store.count_events(s.project_id).await.unwrap();
    assert_eq!(listed, stored);
    // The run did what it is meant to test (the chance it did not is below one in a million).
    assert!(
        rate_limited > 0 && counted > stored && stored == 2 * CAP,
        "{issues}"
    );

    let sampled = SENT - rate_limited - counted;
    let body = outcomes_when(&api, s.project_id, |t| t["sampled"] == sampled).await;
    let totals = &body["totals"];
    assert_eq!(totals["accepted"], stored, "{body}");
    assert_eq!(totals["capped"], counted - stored, "{body}");
    assert_eq!(totals["sampled"], sampled, "{body}");
    assert_eq!(totals["rate_limited"], rate_limited, "{body}");
    assert_eq!(totals["invalid"], 2, "{body}");
    assert_eq!(totals["too_large"], 1, "{body}");
    assert_eq!(totals["discarded"], 0, "{body}");
    // The node-wide counters agree.
    assert_eq!(
        s.metric("mesher_outcomes_total{reason=\"sampled\"}").await,
        sampled as f64
    );
    // One hour holds it all (unless the run crossed an hour: then the hours add up).
    let series = body["series"].as_array().unwrap();
    let summed: i64 = series
        .iter()
        .map(|h| h["counts"]["accepted"].as_i64().unwrap())
        .sum();
    assert_eq!(summed, stored);
    // A range before the run has every reason, at zero.
    let before = api
        .ok(
            Method::GET,
            &format!(
                "/api/v1/projects/{}/stats/outcomes?since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z",
                s.project_id
            ),
            None,
        )
        .await;
    for reason in [
        "accepted",
        "rate_limited",
        "sampled",
        "invalid",
        "too_large",
        "discarded",
        "capped",
    ] {
        assert_eq!(before["totals"][reason], 0, "{before}");
    }
    assert_eq!(before["series"], json!([]));
}

async fn retain_04_issue_cap_is_a_validated_project_setting(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = Api::new(&s, Some(owner_token(&s).await));
    let path = format!("/api/v1/projects/{}", s.project_id);
    let read = api.ok(Method::GET, &path, None).await;
    assert_eq!(read["max_events_per_issue_per_hour"], Value::Null);
    let set = api
        .ok(
            Method::PATCH,
            &path,
            Some(json!({"max_events_per_issue_per_hour": 50})),
        )
        .await;
    assert_eq!(set["max_events_per_issue_per_hour"], 50);
    // Other changes keep it.
    let renamed = api
        .ok(Method::PATCH, &path, Some(json!({"name": "Renamed"})))
        .await;
    assert_eq!(renamed["max_events_per_issue_per_hour"], 50);
    let (status, body) = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"max_events_per_issue_per_hour": -3})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_events_per_issue_per_hour"),
        "{body}"
    );
    let cleared = api
        .ok(
            Method::PATCH,
            &path,
            Some(json!({"max_events_per_issue_per_hour": null})),
        )
        .await;
    assert_eq!(cleared["max_events_per_issue_per_hour"], Value::Null);
    api.ok(
        Method::PATCH,
        &path,
        Some(json!({"max_events_per_issue_per_hour": 7})),
    )
    .await;
    let zero = api
        .ok(
            Method::PATCH,
            &path,
            Some(json!({"max_events_per_issue_per_hour": 0})),
        )
        .await;
    assert_eq!(zero["max_events_per_issue_per_hour"], Value::Null);
}
