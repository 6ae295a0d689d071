//! Alert delivery against real receivers (issue 16): an HTTP server on 127.0.0.1 that checks
//! signatures with its own HMAC, and a real SMTP server (Python's aiosmtpd).
//!
//! ALERT-03: webhooks in the generic, Slack and Discord shapes, signed, with retry semantics.
//! ALERT-04: the SSRF guard, and e-mail through SMTP.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
mod common;

use common::smtp::SmtpSink;
use mesher_server::alerts::notify::notice::{AlertPart, IssuePart, ProjectPart, RulePart};
use mesher_server::alerts::notify::{Notice, Notifier, Target, WebhookFormat};
use mesher_server::config::Config;
use sha2::Sha256;

const SECRET: &str = "whsec_integration";

/// One request the receiver accepted.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: serde_json::Value,
}

type Log = Arc<Mutex<Vec<Received>>>;

/// A webhook receiver on 127.0.0.1: `/hook/*` checks the signature and records the request;
/// `/status/500`, `/status/404`, `/status/429` answer those; `/moved` redirects to `/hook/moved`.
async fn receiver() -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    async fn hook(
        State(log): State<Log>,
        uri: axum::http::Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> impl IntoResponse {
        if !signature_is_valid(&headers, &body) {
            return StatusCode::UNAUTHORIZED;
        }
        log.lock().unwrap().push(Received {
            path: uri.path().to_owned(),
            headers,
            body: serde_json::from_slice(&body).expect("a JSON body"),
        });
        StatusCode::NO_CONTENT
    }
    let app = Router::new()
        .route("/hook/{name}", post(hook))
        .route(
            "/status/500",
            post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route("/status/404", post(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/status/429",
            post(|| async { StatusCode::TOO_MANY_REQUESTS }),
        )
        .route(
            "/moved",
            post(|| async { (StatusCode::FOUND, [(header::LOCATION, "/hook/moved")]) }),
        )
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, log)
}

/// The receiver's own check of `X-Mesher-Signature: t=<secs>,v1=<hex>`.
fn signature_is_valid(headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(value) = headers
        .get("x-mesher-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in value.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = Some(x.to_owned()),
            Some(("v1", x)) => v1 = Some(x.to_owned()),
            _ => return false,
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - t.parse::<i64>().unwrap_or(0);
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (0..300).contains(&age) && expected == v1
}

fn notifier(allow_private: bool, smtp_url: Option<String>) -> Notifier {
    let settings = Config {
        webhook_allow_private: allow_private,
        smtp_url,
        public_url: Some("https://errors.example.com".into()),
        ..Config::default()
    }
    .validate()
    .expect("valid settings");
    Notifier::new(&settings.notify).expect("a notifier")
}

fn notice() -> Notice {
    Notice {
        alert: AlertPart {
            id: 11,
            kind: "new_issue".into(),
            state: "firing".into(),
            fired_at: time::OffsetDateTime::now_utc(),
            summary: "New issue: ZeroDivisionError: division by zero".into(),
            url: "https://errors.example.com/projects/backend/alerts".into(),
        },
        rule: RulePart {
            id: 2,
            name: "New issues".into(),
        },
        issue: Some(IssuePart {
            id: 99,
            title: "ZeroDivisionError: division by zero".into(),
            culprit: Some("app.views in divide".into()),
            level: "error".into(),
            url: "https://errors.example.com/issues/99".into(),
        }),
        project: ProjectPart {
            id: 1,
            name: "Backend".into(),
            slug: "backend".into(),
            url: "https://errors.example.com/projects/backend".into(),
        },
    }
}

fn webhook(url: String, format: WebhookFormat) -> Target {
    Target::Webhook {
        url,
        format,
        secret: SECRET.into(),
    }
}

/// ALERT-03: each format arrives signed, with the idempotency key, as JSON from Mesher.
#[tokio::test]
async fn alert_03_webhooks_in_each_format_arrive_signed() {
    let (addr, log) = receiver().await;
    let notifier = notifier(true, None);
    for (name, format) in [
        ("generic", WebhookFormat::Generic),
        ("slack", WebhookFormat::Slack),
        ("discord", WebhookFormat::Discord),
    ] {
        let target = webhook(format!("http://{addr}/hook/{name}"), format);
        let delivered = notifier
            .deliver(&target, &notice(), &format!("delivery-{name}"))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(delivered.status, Some(204));
    }
    let got = log.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "{got:?}");
    for r in &got {
        let name = r.path.trim_start_matches("/hook/");
        let key = format!("delivery-{name}");
        assert_eq!(r.headers["x-mesher-delivery"], key.as_str());
        assert_eq!(r.headers["idempotency-key"], key.as_str());
        assert_eq!(r.headers["content-type"], "application/json");
        let agent = r.headers["user-agent"].to_str().unwrap();
        assert!(agent.starts_with("Mesher/"), "{agent}");
    }
    let generic = &got[0].body;
    assert_eq!(generic["v"], 1);
    assert_eq!(
        generic["issue"]["url"],
        "https://errors.example.com/issues/99"
    );
    assert_eq!(generic["rule"]["name"], "New issues");
    let slack = &got[1].body;
    assert_eq!(slack["blocks"][0]["type"], "section");
    assert!(
        slack["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("<https://errors.example.com/issues/99|ZeroDivisionError: division by zero>")
    );
    let discord = &got[2].body;
    assert_eq!(
        discord["embeds"][0]["title"],
        "ZeroDivisionError: division by zero"
    );
    assert_eq!(
        discord["embeds"][0]["url"],
        "https://errors.example.com/issues/99"
    );
}

/// ALERT-03: 5xx, 429 and unreachable receivers are retried; other 4xx and redirects are not.
#[tokio::test]
async fn alert_03_failures_say_whether_to_retry() {
    let (addr, log) = receiver().await;
    let notifier = notifier(true, None);
    let attempt = |path: &str| {
        let target = webhook(format!("http://{addr}{path}"), WebhookFormat::Generic);
        let notifier = notifier.clone();
        async move { notifier.deliver(&target, &notice(), "k-1").await }
    };
    let e500 = attempt("/status/500").await.unwrap_err();
    assert!(e500.retryable, "{e500:?}");
    assert_eq!(e500.status, Some(500));
    let e429 = attempt("/status/429").await.unwrap_err();
    assert!(e429.retryable, "{e429:?}");
    assert_eq!(e429.status, Some(429));
    let e404 = attempt("/status/404").await.unwrap_err();
    assert!(!e404.retryable, "{e404:?}");
    assert_eq!(e404.status, Some(404));
    // A redirect is a failed attempt: the new address was never checked by the guard.
    let moved = attempt("/moved").await.unwrap_err();
    assert!(!moved.retryable, "{moved:?}");
    assert_eq!(moved.status, Some(302));
    assert!(moved.message.contains("redirect"), "{moved:?}");
    assert!(log.lock().unwrap().is_empty(), "the redirect was followed");
    // Nothing listens on a port just released: a network error, worth retrying.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let target = webhook(format!("http://{closed}/hook/x"), WebhookFormat::Generic);
    let refused = notifier
        .deliver(&target, &notice(), "k-2")
        .await
        .unwrap_err();
    assert!(refused.retryable, "{refused:?}");
    assert_eq!(refused.status, None);
    assert!(
        !refused.message.contains(&closed.to_string()),
        "{refused:?}"
    );
}

/// ALERT-04: without `webhook_allow_private`, loopback is refused both as a literal and
/// behind a name (`localhost`), permanently, and nothing reaches the receiver.
#[tokio::test]
async fn alert_04_private_receivers_are_refused_by_default() {
    let (addr, log) = receiver().await;
    let notifier = notifier(false, None);
    for url in [
        format!("http://{addr}/hook/literal"),
        format!("http://localhost:{}/hook/name", addr.port()),
        format!("http://[::ffff:127.0.0.1]:{}/hook/mapped", addr.port()),
    ] {
        let err = notifier
            .deliver(
                &webhook(url.clone(), WebhookFormat::Generic),
                &notice(),
                "k",
            )
            .await
            .unwrap_err();
        assert!(!err.retryable, "{url}: {err:?}");
        assert!(
            err.message.contains("webhook_allow_private"),
            "{url}: {err:?}"
        );
        assert!(
            notifier
                .check_target(&webhook(url.clone(), WebhookFormat::Generic))
                .await
                .is_err(),
            "{url} is refused at creation too"
        );
    }
    assert!(log.lock().unwrap().is_empty());
}

/// The Python interpreter of the test virtualenv (scripts/test installs aiosmtpd in it).
/// ALERT-04: an e-mail action goes through a real SMTP server, with the summary in the
/// subject, the recipients on the envelope, the issue's link in the body and a Message-ID
/// from the idempotency key.
#[tokio::test]
async fn alert_04_email_reaches_a_real_smtp_server() {
    let sink = SmtpSink::start();
    let notifier = notifier(false, Some(format!("smtp://127.0.0.1:{}", sink.port)));
    assert!(notifier.email_enabled());
    let target = Target::Email {
        to: vec!["oncall@example.com".into(), "Dev <dev@example.com>".into()],
    };
    notifier.check_target(&target).await.unwrap();
    let delivered = notifier
        .deliver(&target, &notice(), "alert-11-action-0")
        .await
        .unwrap();
    assert_eq!(delivered.status, None);
    let (message, text) = sink.message(1).await;
    assert!(
        message.contains("X-Envelope-To: oncall@example.com"),
        "{message}"
    );
    assert!(
        message.contains("X-Envelope-To: dev@example.com"),
        "{message}"
    );
    assert!(
        message.contains("Subject: [Mesher] New issue: ZeroDivisionError: division by zero"),
        "{message}"
    );
    assert!(
        message.contains("From: mesher@errors.example.com"),
        "{message}"
    );
    assert!(
        message.contains("Message-ID: <alert-11-action-0.alert@errors.example.com>"),
        "{message}"
    );
    assert!(
        text.contains("https://errors.example.com/issues/99"),
        "{text}"
    );
    assert!(text.contains("Project: Backend"), "{text}");
    // An SMTP server that is gone is worth retrying.
    drop(sink);
    let err = notifier
        .deliver(&target, &notice(), "alert-11-action-0")
        .await
        .unwrap_err();
    assert!(err.retryable, "{err:?}");
}
