//! The management API as a client sees it: a bearer-token client that checks the one error
//! shape, SDK-shaped ingestion, and an owner's token.

use mesher_server::accounts;
use mesher_store::{Role, Scope};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{TestServer, envelope, new_id};

/// A client with a bearer token.
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(s: &TestServer, token: Option<String>) -> Api {
        Api {
            base: s.url.clone(),
            token,
            client: reqwest::Client::new(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        // Every error has the one shape.
        if !status.is_success() {
            assert!(
                value["error"]["code"].is_string() && value["error"]["message"].is_string(),
                "{status}: {text}"
            );
        }
        (status, value)
    }

    /// The id of the first issue the project's default list shows (the most recently seen).
    pub async fn first_issue(&self, project_id: i64) -> i64 {
        let issues = self
            .ok(
                Method::GET,
                &format!("/api/v1/projects/{project_id}/issues"),
                None,
            )
            .await;
        issues["data"][0]["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no issue listed: {issues}"))
    }

    pub async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        value
    }
}

/// Sends an SDK-shaped event and returns its id.
pub async fn ingest(s: &TestServer, event: Value) -> String {
    let id = new_id();
    let resp = reqwest::Client::new()
        .post(s.envelope_url())
        .header("x-sentry-auth", s.auth_header())
        .body(envelope(&id, &event))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    id
}

/// A token with every scope for a new owner of the test organization.
pub async fn owner_token(s: &TestServer) -> String {
    let store = s.store.as_ref();
    let owner = accounts::create_user(
        store,
        "owner@example.com",
        Some("Owner"),
        "long enough",
        Some((s.org_id, Role::Owner)),
    )
    .await
    .unwrap();
    accounts::create_token(store, owner.id, "test", Scope::Admin)
        .await
        .unwrap()
        .0
}

/// A new user of `email`, with `role` in `org`, and a token of `scope`: the user's id, the
/// token, and the token's id.
pub async fn user_token(
    s: &TestServer,
    email: &str,
    (org, role): (i64, Role),
    scope: Scope,
) -> (i64, String, i64) {
    let store = s.store.as_ref();
    let user = accounts::create_user(store, email, None, "long enough", Some((org, role)))
        .await
        .unwrap();
    let (token, record) = accounts::create_token(store, user.id, "test", scope)
        .await
        .unwrap();
    (user.id, token, record.id)
}
