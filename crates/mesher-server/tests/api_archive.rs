//! Archive options and strict request bodies through the API, on both backends (issue 12,
//! row 5): each archive condition, its end (the sweep with controlled time, ingest with the
//! real clock), the 400s of contradictory or misspelt bodies.

mod common;

use common::{TestServer, envelope, new_id};
use mesher_server::accounts;
use mesher_store::testing::Backend;
use mesher_store::{Role, Scope};
use serde_json::{Value, json};

on_both_backends!(
    every_archive_option_is_kept_and_ends_as_asked,
    contradictory_and_misspelt_bodies_are_refused,
);

struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Api {
    async fn new(s: &TestServer) -> Api {
        let owner = accounts::create_user(
            s.store.as_ref(),
            "owner@example.com",
            Some("Owner"),
            "long enough",
            Some((s.org_id, Role::Owner)),
        )
        .await
        .unwrap();
        let token = accounts::create_token(s.store.as_ref(), owner.id, "t", Scope::Admin)
            .await
            .unwrap()
            .0;
        Api {
            base: s.url.clone(),
            token,
            client: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn status(&self, issue: i64, body: Value) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/issues/{issue}/status"),
            Some(body),
        )
        .await
    }

    async fn get(&self, path: &str) -> Value {
        let (status, v) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {v}");
        v
    }
}

/// Sends `n` events of one issue (users u0, u1, … when `users`) and waits until `total` are
/// stored; returns the issue.
async fn send(s: &TestServer, n: usize, users: bool, total: i64) -> i64 {
    for i in 0..n {
        let mut event = json!({"platform": "python", "message": "archive me"});
        if users {
            event["user"] = json!({"id": format!("u{i}-{}", new_id())});
        }
        let resp = reqwest::Client::new()
            .post(s.envelope_url())
            .header("x-sentry-auth", s.auth_header())
            .body(envelope(&new_id(), &event))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    s.wait_for_events(total).await;
    s.store.list_issues(s.project_id).await.unwrap()[0].id
}

/// Issue 12, row 5: until escalating (the default), forever, for a duration, until N more
/// events, until N more users (Sentry's names accepted too); each says how it is archived, and
/// the duration and count conditions bring the issue back as escalating with the reason.
async fn every_archive_option_is_kept_and_ends_as_asked(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = Api::new(&s).await;
    let id = send(&s, 1, false, 1).await;

    let (code, issue) = api.status(id, json!({"status": "archived"})).await;
    assert_eq!(code, 200, "{issue}");
    assert_eq!(issue["archive"]["until"], "escalating");
    assert_eq!(issue["archive"]["expected_volume"], 10.0);
    assert_eq!(issue["substatus"], "archived_until_escalating");

    let (_, issue) = api
        .status(id, json!({"status": "archived", "until": "forever"}))
        .await;
    assert_eq!(
        (
            issue["archive"]["until"].as_str(),
            issue["substatus"].as_str()
        ),
        (Some("forever"), Some("archived_forever"))
    );

    let (_, issue) = api
        .status(id, json!({"status": "ignored", "ignoreDuration": 30}))
        .await;
    assert_eq!(issue["archive"]["until"], "duration");
    assert_eq!(issue["archive"]["duration_minutes"], 30);
    assert!(issue["archive"]["expires_at"].is_string());
    // The sweep, run as a node would 31 minutes later, ends it.
    let later = mesher_store::now() + time::Duration::minutes(31);
    assert_eq!(s.store.sweep_issues(later).await.unwrap(), vec![id]);
    let issue = api.get(&format!("/api/v1/issues/{id}")).await;
    assert_eq!(
        (issue["status"].as_str(), issue["substatus"].as_str()),
        (Some("unresolved"), Some("escalating"))
    );
    assert_eq!(issue["archive"], Value::Null);
    let activity = api.get(&format!("/api/v1/issues/{id}/activity")).await;
    let last = activity.as_array().unwrap().last().unwrap();
    assert_eq!(
        (last["kind"].as_str(), last["data"]["reason"].as_str()),
        (Some("escalation"), Some("duration"))
    );

    let (_, issue) = api
        .status(
            id,
            json!({"status": "archived", "count": 2, "window_minutes": 60}),
        )
        .await;
    assert_eq!(issue["archive"]["until"], "event_count");
    assert_eq!(
        (
            issue["archive"]["count"].as_i64(),
            issue["archive"]["window_minutes"].as_i64()
        ),
        (Some(2), Some(60))
    );
    send(&s, 1, false, 2).await;
    assert_eq!(
        api.get(&format!("/api/v1/issues/{id}")).await["status"],
        "archived"
    );
    send(&s, 1, false, 3).await;
    let issue = api.get(&format!("/api/v1/issues/{id}")).await;
    assert_eq!(issue["substatus"], "escalating");
    let activity = api.get(&format!("/api/v1/issues/{id}/activity")).await;
    let last = activity.as_array().unwrap().last().unwrap();
    assert_eq!(
        (
            last["data"]["reason"].as_str(),
            last["data"]["observed"].as_i64()
        ),
        (Some("event_count"), Some(2))
    );

    let (_, issue) = api
        .status(id, json!({"status": "archived", "user_count": 2}))
        .await;
    assert_eq!(
        (
            issue["archive"]["until"].as_str(),
            issue["archive"]["user_count"].as_i64()
        ),
        (Some("user_count"), Some(2))
    );
    send(&s, 1, true, 4).await;
    assert_eq!(
        api.get(&format!("/api/v1/issues/{id}")).await["status"],
        "archived"
    );
    send(&s, 1, true, 5).await;
    assert_eq!(
        api.get(&format!("/api/v1/issues/{id}")).await["substatus"],
        "escalating"
    );
}

/// Issue 12, row 5: contradictory or invalid archive fields, archive fields on another status,
/// and misspelt fields of any API body are 400s naming the problem, and change nothing.
async fn contradictory_and_misspelt_bodies_are_refused(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = Api::new(&s).await;
    let id = send(&s, 1, false, 1).await;
    for (body, named) in [
        (
            json!({"status": "archived", "until": "forever", "count": 10}),
            "until and count",
        ),
        (
            json!({"status": "archived", "duration_minutes": 5, "user_count": 3}),
            "duration_minutes and user_count",
        ),
        (
            json!({"status": "archived", "window_minutes": 5}),
            "window_minutes needs count",
        ),
        (
            json!({"status": "archived", "user_window_minutes": 5}),
            "user_window_minutes needs user_count",
        ),
        (json!({"status": "archived", "until": "later"}), "until"),
        (
            json!({"status": "archived", "duration_minutes": 0}),
            "duration_minutes",
        ),
        (json!({"status": "archived", "count": -1}), "count"),
        (
            json!({"status": "resolved", "count": 3}),
            "only apply to status archived",
        ),
        (
            json!({"status": "archived", "ignoreDurationn": 30}),
            "ignoreDurationn",
        ),
    ] {
        let (code, err) = api.status(id, body.clone()).await;
        assert_eq!(code, 400, "{body}: {err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{body}: {message}");
    }
    let issue = api.get(&format!("/api/v1/issues/{id}")).await;
    assert_eq!(issue["status"], "unresolved");

    let me = api.get("/api/v1/me").await;
    let me_id = me["user"]["id"].as_i64().unwrap();
    let (code, _) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/issues/{id}/assign"),
            Some(json!({"user_id": me_id})),
        )
        .await;
    assert_eq!(code, 200);
    let (code, err) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/issues/{id}/assign"),
            Some(json!({"userId": me_id})),
        )
        .await;
    assert_eq!(code, 400);
    assert!(
        err["error"]["message"].as_str().unwrap().contains("userId"),
        "{err}"
    );
    assert_eq!(
        api.get(&format!("/api/v1/issues/{id}")).await["assignee_id"],
        me_id,
        "not unassigned"
    );

    // Every body, not only these two.
    let (code, err) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/orgs",
            Some(json!({"name": "N", "slugg": "n"})),
        )
        .await;
    assert_eq!(code, 400);
    assert!(
        err["error"]["message"].as_str().unwrap().contains("slugg"),
        "{err}"
    );
    let doc = api.get("/api/v1/openapi.json").await;
    for schema in ["StatusBody", "AssignBody", "NewOrgBody"] {
        assert_eq!(
            doc["components"]["schemas"][schema]["additionalProperties"], false,
            "{schema}"
        );
    }
}
