//! Alerts from outside (issue 16, ALERT-01 … ALERT-06): rules made through the API, events
//! sent as an SDK sends them, alerts seen in the API and on the live stream, on both backends;
//! thresholds with controlled time.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use common::api::{Api, ingest, owner_token, user_token};
use futures_util::StreamExt;
use mesher_server::alerts::thresholds::ThresholdJob;
use mesher_server::cluster::Bus;
use mesher_store::testing::Backend;
use mesher_store::{Role, Scope};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

on_both_backends!(
    a_new_issue_fires_once_and_reaches_the_stream,
    regressions_fire_within_their_filters_and_cooldown,
    rules_are_checked_and_guarded,
    a_rule_answers_only_what_arrives_once_it_exists,
    thresholds_fire_once_per_episode_and_resolve_themselves,
);

async fn alerts(api: &Api, project: i64) -> Vec<Value> {
    let v = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{project}/alerts"),
            None,
        )
        .await;
    v.as_array().unwrap().clone()
}

/// Waits until the project has `n` alerts (the engine fires within milliseconds of the
/// commit), then a little longer to see that no more come.
async fn settled_alerts(api: &Api, project: i64, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        if alerts(api, project).await.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    alerts(api, project).await
}

async fn rule(api: &Api, project: i64, body: Value) -> Value {
    let (status, v) = api
        .call(
            Method::POST,
            &format!("/api/v1/projects/{project}/alert-rules"),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

/// ALERT-01, ALERT-02, ALERT-06: a new issue fires its rule once, whatever more events it
/// gets; the alert reaches an open live stream and moves from active to acknowledged to
/// resolved, forward only.
async fn a_new_issue_fires_once_and_reaches_the_stream(backend: Backend) {
    let s = TestServer::start(backend).await;
    let token = owner_token(&s).await;
    let api = Api::new(&s, Some(token.clone()));
    let created = rule(
        &api,
        s.project_id,
        json!({"name": "new in production", "trigger": {"type": "new_issue"},
               "filters": {"environment": "production"},
               "actions": [{"type": "webhook", "url": "https://hooks.example.com/x", "format": "slack"}]}),
    )
    .await;
    let secret = created["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{created}"
    );
    assert_eq!(created["cooldown_minutes"], 30);
    let listed = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{}/alert-rules", s.project_id),
            None,
        )
        .await;
    assert_eq!(listed[0]["name"], "new in production");
    assert!(
        listed[0].get("secret").is_none(),
        "the secret is shown once"
    );

    let url = format!(
        "{}/api/v1/projects/{}/stream",
        s.url.replacen("http", "ws", 1),
        s.project_id
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    // Staging does not pass the filter; production does, once for its issue.
    ingest(
        &s,
        json!({"message": "staging only", "environment": "staging"}),
    )
    .await;
    for _ in 0..3 {
        ingest(
            &s,
            json!({"message": "checkout failed", "environment": "production"}),
        )
        .await;
    }
    let alert = loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an alert within 10 s")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "alert" {
                break v;
            }
        }
    };
    assert_eq!(alert["kind"], "new_issue");
    assert_eq!(alert["state"], "active");
    assert_eq!(alert["rule_id"], created["id"]);
    assert_eq!(alert["summary"], "New issue: checkout failed");

    let fired = settled_alerts(&api, s.project_id, 1).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    let id = fired[0]["id"].as_i64().unwrap();
    assert_eq!(fired[0]["id"], alert["alert_id"]);
    let path = format!("/api/v1/projects/{}/alerts/{id}", s.project_id);
    let detail = api.ok(Method::GET, &path, None).await;
    assert_eq!(detail["history"][0]["state"], "active");
    assert_eq!(detail["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(
        detail["deliveries"][0]["target"]["url"],
        "https://hooks.example.com/x"
    );

    let acked = api
        .ok(Method::PUT, &path, Some(json!({"state": "acknowledged"})))
        .await;
    assert_eq!(acked["state"], "acknowledged");
    let (status, _) = api
        .call(Method::PUT, &path, Some(json!({"state": "active"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    api.ok(
        Method::PUT,
        &path,
        Some(json!({"state": "resolved", "note": "fixed in 2.1"})),
    )
    .await;
    let (status, _) = api
        .call(Method::PUT, &path, Some(json!({"state": "resolved"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "resolved is the end");
    let detail = api.ok(Method::GET, &path, None).await;
    let states: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["active", "acknowledged", "resolved"]);
    assert_eq!(detail["history"][2]["note"], "fixed in 2.1");
    let resolved = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{}/alerts?state=resolved", s.project_id),
            None,
        )
        .await;
    assert_eq!(resolved.as_array().unwrap().len(), 1);
}

/// ALERT-01, ALERT-02: a regression fires when the resolved issue comes back at the level
/// asked for, and not again within the cooldown.
async fn regressions_fire_within_their_filters_and_cooldown(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = Api::new(&s, Some(owner_token(&s).await));
    rule(
        &api,
        s.project_id,
        json!({"name": "regressions", "trigger": {"type": "regression"},
               "filters": {"level": "error", "tag": "region=eu"}, "cooldown_minutes": 60}),
    )
    .await;
    let send = |level: &'static str| json!({"message": "payment declined", "level": level, "tags": {"region": "eu"}});
    ingest(&s, send("error")).await;
    s.wait_for_events(1).await;
    let issue = api.first_issue(s.project_id).await;
    let resolve = || async {
        api.ok(
            Method::POST,
            &format!("/api/v1/issues/{issue}/status"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    };
    resolve().await;
    // A warning regresses the issue, but the rule wants errors.
    ingest(&s, send("warning")).await;
    s.wait_for_events(2).await;
    assert!(settled_alerts(&api, s.project_id, 1).await.is_empty());
    resolve().await;
    ingest(&s, send("fatal")).await;
    let fired = settled_alerts(&api, s.project_id, 1).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["kind"], "regression");
    assert_eq!(fired[0]["issue_id"], issue);
    // Within the hour's cooldown, a second regression stays quiet.
    resolve().await;
    ingest(&s, send("error")).await;
    s.wait_for_events(4).await;
    assert_eq!(settled_alerts(&api, s.project_id, 2).await.len(), 1);
}

/// ALERT-02: a rule answers the changes received once it exists. New issues received before
/// it (imported here, straight through the store, an hour old) fire nothing, though the engine
/// comes to them only after the rule is made; a new issue sent after it fires.
async fn a_rule_answers_only_what_arrives_once_it_exists(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = Api::new(&s, Some(owner_token(&s).await));
    rule(
        &api,
        s.project_id,
        json!({"name": "anything new", "trigger": {"type": "new_issue"}}),
    )
    .await;
    let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let imported = (0..5)
        .map(|i| common::stored_event(s.project_id, &format!("imported {i}"), hour_ago))
        .collect();
    s.store.write_events(Arc::new(imported)).await.unwrap();
    ingest(&s, json!({"message": "sent after the rule"})).await;
    s.wait_for_events(6).await;
    let fired = settled_alerts(&api, s.project_id, 1).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["summary"], "New issue: sent after the rule");
}

/// ALERT-01: rules are checked, and only members with write access make them.
async fn rules_are_checked_and_guarded(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = Api::new(&s, Some(owner_token(&s).await));
    let path = format!("/api/v1/projects/{}/alert-rules", s.project_id);
    let bad = [
        json!({"name": "x", "trigger": {"type": "sometimes"}}),
        json!({"name": "x", "trigger": {"type": "threshold", "count": 5}}),
        json!({"name": "", "trigger": {"type": "new_issue"}}),
        json!({"name": "x", "trigger": {"type": "new_issue"}, "filters": {"level": "loud"}}),
        json!({"name": "x", "trigger": {"type": "new_issue"}, "actions": [{"type": "fax"}]}),
        json!({"name": "x", "trigger": {"type": "new_issue"}, "cooldown_minutes": -1}),
        json!({"name": "x", "trigger": {"type": "new_issue"}, "colour": "red"}),
    ];
    for body in bad {
        let (status, v) = api.call(Method::POST, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    let (_, reader, _) = user_token(
        &s,
        "reader@example.com",
        (s.org_id, Role::Member),
        Scope::Read,
    )
    .await;
    let reader = Api::new(&s, Some(reader));
    let body = json!({"name": "x", "trigger": {"type": "new_issue"}});
    let (status, _) = reader.call(Method::POST, &path, Some(body.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = reader.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let other = s.store.create_org("Other", "other").await.unwrap();
    let (_, stranger, _) = user_token(
        &s,
        "stranger@example.com",
        (other.id, Role::Owner),
        Scope::Admin,
    )
    .await;
    let (status, _) = Api::new(&s, Some(stranger))
        .call(Method::GET, &path, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let created = rule(&api, s.project_id, body).await;
    let one = format!("{path}/{}", created["id"]);
    let changed = api
        .ok(
            Method::PUT,
            &one,
            Some(json!({"name": "renamed", "trigger": {"type": "escalation"}, "enabled": false})),
        )
        .await;
    assert_eq!(changed["trigger"]["type"], "escalation");
    assert_eq!(changed["enabled"], false);
    let (status, _) = api.call(Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.call(Method::GET, &one, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// ALERT-01, ALERT-02 with controlled time: "more than 3 events in 5 minutes" per issue fires
/// once while the burst lasts, runs of the job for the same slot (two leaders) fire once, and
/// the alert resolves itself when the window has moved past the burst.
async fn thresholds_fire_once_per_episode_and_resolve_themselves(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = Api::new(&s, Some(owner_token(&s).await));
    rule(
        &api,
        s.project_id,
        json!({"name": "burst", "cooldown_minutes": 0,
               "trigger": {"type": "threshold", "count": 3, "minutes": 5, "auto_resolve": true}}),
    )
    .await;
    for _ in 0..4 {
        ingest(&s, json!({"message": "burst"})).await;
    }
    ingest(&s, json!({"message": "lonely"})).await;
    s.wait_for_events(5).await;
    let job = ThresholdJob::new(
        Duration::from_secs(30),
        Bus::default().into(),
        "test".into(),
    );
    let now = mesher_store::now();
    let store = s.store.as_ref();
    assert_eq!(job.check(store, now).await.unwrap(), 1);
    assert_eq!(
        job.check(store, now).await.unwrap(),
        0,
        "the same slot fires once"
    );
    let later = now + time::Duration::seconds(60);
    assert_eq!(
        job.check(store, later).await.unwrap(),
        0,
        "open: one alert per episode"
    );
    let fired = alerts(&api, s.project_id).await;
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0]["kind"], "threshold");
    assert_eq!(fired[0]["state"], "active");
    assert_eq!(
        fired[0]["summary"],
        "4 events in 5 minutes (more than 3): burst"
    );
    // Six minutes on, the burst is out of the window: resolved by Mesher, not fired again.
    let quiet = now + time::Duration::minutes(6);
    assert_eq!(job.check(store, quiet).await.unwrap(), 0);
    let after = alerts(&api, s.project_id).await;
    assert_eq!(after[0]["state"], "resolved");
    let detail = api
        .ok(
            Method::GET,
            &format!(
                "/api/v1/projects/{}/alerts/{}",
                s.project_id, after[0]["id"]
            ),
            None,
        )
        .await;
    assert_eq!(detail["history"][1]["actor_id"], Value::Null);
}
