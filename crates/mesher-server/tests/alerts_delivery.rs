//! Alert deliveries end to end (issue 16, acceptance 2, 3 and 5): rules made through the API,
//! an event sent as an SDK sends it, and what real receivers get from the outbox: signed
//! webhooks of each shape retried until one succeeds, e-mail through a real SMTP server, and
//! the SSRF guard at rule creation.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::TestServer;
use common::api::{Api, ingest, owner_token};
use common::smtp::SmtpSink;
use hmac::{Hmac, KeyInit, Mac};
use mesher_server::alerts::notify::settings::{SmtpSettings, SmtpTls};
use mesher_store::testing::Backend;
use reqwest::{Method, StatusCode as Status};
use serde_json::{Value, json};
use sha2::Sha256;

on_both_backends!(
    webhooks_of_each_shape_are_signed_and_retried_until_delivered_once,
    emails_reach_a_real_smtp_server_with_a_link_to_the_issue,
);

/// One request a receiver got: its path, headers, body, and what it answered.
#[derive(Debug, Clone)]
struct Hit {
    name: String,
    headers: HeaderMap,
    body: Vec<u8>,
    answered: u16,
}

#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Per path name, how many 500s to answer before answering 200.
    failures: Arc<Mutex<HashMap<String, u32>>>,
}

/// A webhook receiver on 127.0.0.1: `/hook/{name}` records each request and answers 500 as
/// many times as `fail` says for that name, then 200.
async fn receiver(fail: &[(&str, u32)]) -> (SocketAddr, Receiver) {
    let r = Receiver::default();
    r.failures
        .lock()
        .unwrap()
        .extend(fail.iter().map(|(n, k)| (n.to_string(), *k)));
    async fn hook(
        State(r): State<Receiver>,
        Path(name): Path<String>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let status = {
            let mut failures = r.failures.lock().unwrap();
            match failures.get_mut(&name) {
                Some(left) if *left > 0 => {
                    *left -= 1;
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                _ => StatusCode::OK,
            }
        };
        r.hits.lock().unwrap().push(Hit {
            name,
            headers,
            body: body.to_vec(),
            answered: status.as_u16(),
        });
        status
    }
    let app = Router::new()
        .route("/hook/{name}", post(hook))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, r)
}

/// The receiver's own check of `X-Mesher-Signature: t=<secs>,v1=<hex HMAC of "t.body">`.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(value) = headers
        .get("x-mesher-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let parts: HashMap<&str, &str> = value.split(',').filter_map(|p| p.split_once('=')).collect();
    let (Some(t), Some(v1)) = (parts.get("t"), parts.get("v1")) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - t.parse::<i64>().unwrap_or(0);
    hex::encode(mac.finalize().into_bytes()) == *v1 && (0..300).contains(&age)
}

async fn create_rule(api: &Api, project: i64, body: Value) -> (Status, Value) {
    api.call(
        Method::POST,
        &format!("/api/v1/projects/{project}/alert-rules"),
        Some(body),
    )
    .await
}

/// ALERT-03, ALERT-04 (acceptance 2): a new issue fires three rules whose webhooks (generic,
/// Slack, Discord) reach a real receiver signed with each rule's secret; the generic one
/// answers 500 twice, then 200: one successful delivery, after three logged attempts, each
/// with the same idempotency key.
async fn webhooks_of_each_shape_are_signed_and_retried_until_delivered_once(backend: Backend) {
    let (addr, receiver) = receiver(&[("generic", 2)]).await;
    let s = TestServer::start_with(backend, |settings| {
        settings.notify.webhook_allow_private = true;
        settings.notify.retry_first = Duration::from_millis(500);
    })
    .await;
    let api = Api::new(&s, Some(owner_token(&s).await));
    let mut secrets = HashMap::new();
    for format in ["generic", "slack", "discord"] {
        let (status, rule) = create_rule(
            &api,
            s.project_id,
            json!({"name": format!("to {format}"), "trigger": {"type": "new_issue"},
                   "actions": [{"type": "webhook", "url": format!("http://{addr}/hook/{format}"),
                                "format": format}]}),
        )
        .await;
        assert_eq!(status, Status::CREATED, "{rule}");
        secrets.insert(
            format.to_string(),
            rule["secret"].as_str().unwrap().to_string(),
        );
    }
    ingest(&s, json!({"message": "card declined", "level": "error"})).await;

    let delivered = |name: &str| {
        receiver
            .hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.name == name && h.answered == 200)
            .count()
    };
    for _ in 0..200 {
        if ["generic", "slack", "discord"]
            .iter()
            .all(|n| delivered(n) > 0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Time for a duplicate to show, were there one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hits = receiver.hits.lock().unwrap().clone();
    for h in &hits {
        assert!(
            verify(&secrets[&h.name], &h.headers, &h.body),
            "signed: {h:?}"
        );
    }
    let generic: Vec<&Hit> = hits.iter().filter(|h| h.name == "generic").collect();
    let answers: Vec<u16> = generic.iter().map(|h| h.answered).collect();
    assert_eq!(answers, [500, 500, 200], "{hits:#?}");
    let keys: Vec<&str> = generic
        .iter()
        .map(|h| h.headers["x-mesher-delivery"].to_str().unwrap())
        .collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    assert_eq!(generic[0].headers["idempotency-key"], keys[0]);
    for name in ["slack", "discord"] {
        assert_eq!(hits.iter().filter(|h| h.name == name).count(), 1, "{name}");
    }

    let body = |name: &str| -> Value {
        serde_json::from_slice(&hits.iter().find(|h| h.name == name).unwrap().body).unwrap()
    };
    let g = body("generic");
    assert_eq!(g["v"], 1);
    assert_eq!(g["alert"]["kind"], "new_issue");
    assert_eq!(g["rule"]["name"], "to generic");
    assert_eq!(g["issue"]["title"], "card declined");
    assert_eq!(g["project"]["id"], s.project_id);
    let issue_id = g["issue"]["id"].as_i64().unwrap();
    assert!(
        g["issue"]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/projects/{}/issues/{issue_id}", s.project_id)),
        "{g}"
    );
    assert!(
        body("slack")["text"]
            .as_str()
            .unwrap()
            .contains("card declined")
    );
    assert!(body("discord")["embeds"][0]["title"].is_string());

    // The attempts as the API shows them.
    let alerts = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{}/alerts", s.project_id),
            None,
        )
        .await;
    let mut seen = Vec::new();
    for a in alerts.as_array().unwrap() {
        let detail = api
            .ok(
                Method::GET,
                &format!("/api/v1/projects/{}/alerts/{}", s.project_id, a["id"]),
                None,
            )
            .await;
        let d = &detail["deliveries"][0];
        assert_eq!(d["state"], "delivered", "{detail}");
        if d["target"]["format"] == "generic" {
            let statuses: Vec<i64> = d["attempt_log"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["status"].as_i64().unwrap())
                .collect();
            assert_eq!(statuses, [500, 500, 200]);
            assert_eq!(d["attempts"], 3);
            assert_eq!(d["idempotency_key"], keys[0]);
            assert_eq!(d["last_error"], "HTTP 500 Internal Server Error");
        }
        seen.push(d["target"]["format"].as_str().unwrap().to_string());
    }
    seen.sort();
    assert_eq!(seen, ["discord", "generic", "slack"]);
}

/// ALERT-04 (acceptance 3): e-mail actions go through a real SMTP server: to listed
/// addresses, and to the organization's members when none are listed, each with a link to
/// the issue.
async fn emails_reach_a_real_smtp_server_with_a_link_to_the_issue(backend: Backend) {
    let sink = SmtpSink::start();
    let port = sink.port;
    let s = TestServer::start_with(backend, |settings| {
        settings.notify.smtp = Some(SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            tls: SmtpTls::None,
            credentials: None,
        });
    })
    .await;
    let api = Api::new(&s, Some(owner_token(&s).await));
    for (name, to) in [
        ("listed", json!(["oncall@example.com"])),
        ("members", json!([])),
    ] {
        let (status, rule) = create_rule(
            &api,
            s.project_id,
            json!({"name": name, "trigger": {"type": "new_issue"},
                   "actions": [{"type": "email", "to": to}]}),
        )
        .await;
        assert_eq!(status, Status::CREATED, "{rule}");
    }
    ingest(
        &s,
        json!({"message": "disk quota exceeded", "level": "fatal"}),
    )
    .await;
    let mut messages = vec![sink.message(1).await, sink.message(2).await];
    messages.sort();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sink.count(), 2, "one e-mail per rule");
    let issue_id = api.first_issue(s.project_id).await;
    let link = format!("/projects/{}/issues/{issue_id}", s.project_id);
    let envelopes: Vec<bool> = messages
        .iter()
        .map(|(raw, _)| raw.contains("X-Envelope-To: oncall@example.com"))
        .collect();
    assert_eq!(envelopes.iter().filter(|b| **b).count(), 1);
    assert!(
        messages
            .iter()
            .any(|(raw, _)| raw.contains("X-Envelope-To: owner@example.com")),
        "the members: {messages:#?}"
    );
    for (raw, text) in &messages {
        assert!(
            raw.contains("Subject: [Mesher] New issue: disk quota exceeded"),
            "{raw}"
        );
        assert!(text.contains(&link), "{text}");
    }
}

/// ALERT-04 (acceptance 5): webhook URLs on loopback, private and link-local addresses, and
/// names that resolve there, are refused unless `webhook_allow_private`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_webhook_addresses_are_refused_unless_allowed() {
    let refused = [
        "http://127.0.0.1:9/x",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://localhost:9/x",
    ];
    for (allow, expected) in [(false, Status::BAD_REQUEST), (true, Status::CREATED)] {
        let s = TestServer::start_with(Backend::Sqlite, |settings| {
            settings.notify.webhook_allow_private = allow;
        })
        .await;
        let api = Api::new(&s, Some(owner_token(&s).await));
        for url in refused {
            let (status, v) = create_rule(
                &api,
                s.project_id,
                json!({"name": "x", "trigger": {"type": "new_issue"},
                       "actions": [{"type": "webhook", "url": url}]}),
            )
            .await;
            assert_eq!(status, expected, "{url}: {v}");
            if !allow {
                assert!(
                    v["error"]["message"]
                        .as_str()
                        .unwrap()
                        .starts_with("actions[0]"),
                    "{v}"
                );
            }
        }
    }
}
