//! Issue 11, "Private data": events from the real Python `sentry-sdk` carrying a password, an
//! `Authorization` header and a card number are stored scrubbed, the API and the issue page
//! show the markers, grouping is unchanged, and the project settings (API) turn it off and
//! IP removal on, taking effect at once.

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::{TestServer, python};
use mesher_server::accounts;
use mesher_store::testing::Backend;
use mesher_store::{Role, Scope};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(issue_11_real_sdk_events_are_stored_scrubbed);

const SECRETS: [&str; 4] = [
    "hunter2-sesame",
    "tok-abc123secret",
    "sess-xyz789",
    "4111 1111 1111 1111",
];
const PASSWORD: &str = "long enough";

fn send_events(dsn: &str) -> HashMap<String, String> {
    let path = format!(
        "{}/tests/python/scrubbed_events.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = Command::new(python())
        .arg(path)
        .arg(dsn)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "scrubbed_events.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// A signed-in session (for the dashboard) and a bearer token (for the API) of the owner.
struct Owner {
    token: String,
    session: reqwest::Client,
    http: reqwest::Client,
    base: String,
}

impl Owner {
    async fn new(s: &TestServer) -> Owner {
        let store = s.store.as_ref();
        let user = accounts::create_user(
            store,
            "owner@example.com",
            Some("Owner"),
            PASSWORD,
            Some((s.org_id, Role::Owner)),
        )
        .await
        .unwrap();
        let token = accounts::create_token(store, user.id, "test", Scope::Admin)
            .await
            .unwrap()
            .0;
        let session = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let login = session
            .post(format!("{}/api/v1/auth/login", s.url))
            .json(&json!({"email": "owner@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200);
        Owner {
            token,
            session,
            http: reqwest::Client::new(),
            base: s.url.clone(),
        }
    }

    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn page(&self, path: &str) -> String {
        let res = self
            .session
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        res.text().await.unwrap()
    }
}

/// The stored JSON of `id`, and its issue.
async fn stored(owner: &Owner, project: i64, id: &str) -> (Value, i64) {
    let (status, body) = owner
        .api(
            Method::GET,
            &format!("/api/v1/projects/{project}/events/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (body["payload"].clone(), body["issue_id"].as_i64().unwrap())
}

fn header<'a>(payload: &'a Value, name: &str) -> &'a Value {
    payload["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[0] == name)
        .map(|p| &p[1])
        .unwrap_or_else(|| panic!("no {name} header in {}", payload["request"]))
}

async fn issue_11_real_sdk_events_are_stored_scrubbed(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let owner = Owner::new(&server).await;
    let p = server.project_id;
    let project_path = format!("/api/v1/projects/{p}");

    // Sentry's defaults.
    let (_, project) = owner.api(Method::GET, &project_path, None).await;
    assert_eq!(project["scrub_data"], true);
    assert_eq!(project["scrub_ip_addresses"], false);
    assert_eq!(project["sensitive_fields"], json!([]));
    assert_eq!(project["safe_fields"], json!([]));
    // Invalid settings are refused with a message naming the field.
    for (body, field) in [
        (json!({"sensitive_fields": ["ok", " "]}), "sensitive_fields"),
        (json!({"safe_fields": ["a,b"]}), "safe_fields"),
    ] {
        let (status, answer) = owner.api(Method::PATCH, &project_path, Some(body)).await;
        assert_eq!(status, 400, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{message}");
    }

    // Scrubbing on (the default).
    let dsn = server.dsn.clone();
    let first = tokio::task::spawn_blocking(move || send_events(&dsn))
        .await
        .unwrap();
    server.wait_for_events(2).await;
    let mut issues = HashMap::new();
    for (name, id) in &first {
        let (payload, issue) = stored(&owner, p, id).await;
        issues.insert(name.clone(), issue);
        let text = payload.to_string();
        for secret in SECRETS {
            assert!(
                !text.contains(secret),
                "{name}: {secret:?} stored in {text}"
            );
        }
        let raw = owner
            .api(
                Method::GET,
                &format!("/api/v1/projects/{p}/events/{id}/json"),
                None,
            )
            .await
            .1
            .to_string();
        assert!(
            !raw.contains(SECRETS[0]) && !raw.contains(SECRETS[3]),
            "{raw}"
        );
        assert_eq!(header(&payload, "Authorization"), "[Filtered]");
        assert_eq!(header(&payload, "Cookie"), "[Filtered]");
        assert_eq!(header(&payload, "User-Agent"), "shop-client/1.0");
        assert_eq!(payload["request"]["data"]["password"], "[Filtered]");
        assert_eq!(payload["request"]["data"]["username"], "ann");
        assert_eq!(payload["extra"]["password"], "[Filtered]");
        assert_eq!(payload["extra"]["payment"]["card"], "[Filtered]");
        // IP addresses are kept unless the project asks otherwise.
        assert_eq!(payload["user"]["ip_address"], "203.0.113.9");
        let paths = payload["_meta"]["scrubbed_paths"].as_array().unwrap();
        assert!(
            paths.contains(&json!("request.headers.Authorization")),
            "{paths:?}"
        );
        assert!(paths.contains(&json!("extra.password")), "{paths:?}");
        assert_eq!(
            payload["_meta"]["scrubbed"].as_u64(),
            Some(paths.len() as u64)
        );
    }
    let (exception, _) = stored(&owner, p, &first["exception"]).await;
    let ex = &exception["exception"]["values"][0];
    assert_eq!(ex["value"], "card [Filtered] declined");
    let frames = ex["stacktrace"]["frames"].as_array().unwrap();
    let charge = frames.iter().find(|f| f["function"] == "charge").unwrap();
    assert_eq!(charge["vars"]["password"], "[Filtered]");
    // The SDK sends variables as Python reprs: the card inside the quotes is replaced.
    assert_eq!(charge["vars"]["card_number"], "'[Filtered]'");
    // request headers 2 + body 1 + extra 2 + the value + 2 variables (card_number, password).
    assert_eq!(exception["_meta"]["scrubbed"], 8, "{}", exception["_meta"]);
    let (message, _) = stored(&owner, p, &first["message"]).await;
    assert_eq!(
        message["logentry"]["formatted"],
        "payment with [Filtered] failed"
    );

    // The issue page shows the markers and says how many values were scrubbed.
    for name in ["exception", "message"] {
        let html = owner
            .page(&format!("/projects/{p}/issues/{}", issues[name]))
            .await;
        assert!(html.contains("[Filtered]"), "{name}: no marker on the page");
        assert!(
            html.contains("values scrubbed before storage"),
            "{name}: no scrubbing note"
        );
        for secret in SECRETS {
            assert!(
                !html.contains(secret),
                "{name}: {secret:?} on the issue page"
            );
        }
    }
    let html = owner
        .page(&format!("/projects/{p}/issues/{}", issues["exception"]))
        .await;
    assert!(
        html.contains("data-scrubbed=\"8\""),
        "the note counts 8 values"
    );
    assert!(html.contains("request.headers.Authorization"));

    // Scrubbing off and IP removal on: the API change applies to the next event at once.
    let (status, project) = owner
        .api(
            Method::PATCH,
            &project_path,
            Some(json!({"scrub_data": false, "scrub_ip_addresses": true})),
        )
        .await;
    assert_eq!(status, 200, "{project}");
    assert_eq!(project["scrub_data"], false);
    assert_eq!(project["scrub_ip_addresses"], true);
    let dsn = server.dsn.clone();
    let second = tokio::task::spawn_blocking(move || send_events(&dsn))
        .await
        .unwrap();
    server.wait_for_events(4).await;
    for (name, id) in &second {
        let (payload, issue) = stored(&owner, p, id).await;
        // Grouping does not depend on scrubbing: the same events join the same issues.
        assert_eq!(issue, issues[name], "{name} moved to another issue");
        let text = payload.to_string();
        assert!(
            text.contains(SECRETS[3]),
            "{name}: the card is kept: {text}"
        );
        // (The script's own source lines, sent as frame context, still quote the address:
        // source code is the application's, not its users' data.)
        assert_eq!(payload["user"]["id"], "u-1");
        assert!(
            payload["user"].get("ip_address").is_none(),
            "{name}: the IP is removed: {}",
            payload["user"]
        );
        assert_eq!(
            payload["_meta"]["scrubbed_paths"],
            json!(["user.ip_address"])
        );
    }
    let (exception, _) = stored(&owner, p, &second["exception"]).await;
    assert_eq!(exception["extra"]["password"], SECRETS[0]);
    assert_eq!(
        header(&exception, "Authorization"),
        "Bearer tok-abc123secret"
    );
    server.stop().await.unwrap();
}
