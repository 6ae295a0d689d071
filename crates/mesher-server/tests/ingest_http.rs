//! Ingestion from the outside, case by case: every auth form, every body encoding, the
//! envelope framing checklist (protocol doc E), limits, the native and bulk endpoints, CORS,
//! and a server that keeps serving after bad input (INGEST-01 … INGEST-03, INGEST-06).

mod common;

use std::io::Write;

use base64::Engine as _;
use common::{TestServer, envelope, new_id};
use mesher_protocol::EventId;
use mesher_store::testing::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_both_backends!(
    every_auth_form_is_accepted,
    bad_credentials_are_refused_with_the_right_status,
    every_encoding_is_decoded,
    envelope_framing_follows_the_protocol,
    limits_answer_413_and_the_server_keeps_serving,
    store_endpoint_accepts_json_and_legacy_bodies,
    native_and_bulk_endpoints_answer_per_event,
    cors_preflight_is_answered_like_relay,
    routes_work_under_the_public_url_prefix,
);

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

fn event_json(message: &str) -> Value {
    json!({"message": message, "level": "error", "platform": "python"})
}

async fn post(url: &str, headers: &[(&str, String)], body: Vec<u8>) -> (StatusCode, Value) {
    let mut req = client().post(url).body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn assert_stored(server: &TestServer, id: &str) {
    let event_id = EventId::parse(id).unwrap_or_else(|_| panic!("{id:?} is not an event id"));
    assert!(
        server
            .store
            .event(server.project_id, event_id)
            .await
            .unwrap()
            .is_some(),
        "event {id} is not stored"
    );
}

/// A raw HTTP/1.1 request (for header-name case and chunked bodies, which clients normalize).
async fn raw_request(server: &TestServer, head: &str, body: &[u8]) -> String {
    let addr = server.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut out),
    )
    .await;
    String::from_utf8_lossy(&out).to_string()
}

async fn every_auth_form_is_accepted(backend: Backend) {
    let s = TestServer::start(backend).await;
    let key = &s.public_key;
    let url = s.envelope_url();

    // X-Sentry-Auth, as the Python and Rust SDKs send it.
    let id = new_id();
    let (status, body) = post(
        &url,
        &[("x-sentry-auth", s.auth_header())],
        envelope(&id, &event_json("a")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], id);

    // Authorization: Sentry …
    let id = new_id();
    let (status, _) = post(
        &url,
        &[("authorization", s.auth_header())],
        envelope(&id, &event_json("b")),
    )
    .await;
    assert_eq!(status, 200);

    // Authorization: Basic base64(key:)
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    let (status, _) = post(
        &url,
        &[("authorization", format!("Basic {basic}"))],
        envelope(&new_id(), &event_json("c")),
    )
    .await;
    assert_eq!(status, 200);

    // The query string, as the JavaScript SDKs send it (no headers at all).
    let q = format!(
        "{url}?sentry_version=7&sentry_key={key}&sentry_client=sentry.javascript.node%2F11.12.0"
    );
    let (status, _) = post(&q, &[], envelope(&new_id(), &event_json("d"))).await;
    assert_eq!(status, 200);

    // The envelope's own dsn header.
    let id = new_id();
    let event = serde_json::to_string(&event_json("e")).unwrap();
    let body = format!(
        "{{\"event_id\":\"{id}\",\"dsn\":\"{}\"}}\n{{\"type\":\"event\"}}\n{event}",
        s.dsn
    );
    let (status, _) = post(&url, &[], body.into_bytes()).await;
    assert_eq!(status, 200);
    assert_stored(&s, &id).await;

    // Header names in any case, on the wire.
    let id = new_id();
    let payload = envelope(&id, &event_json("f"));
    let head = format!(
        "POST /api/{}/envelope/ HTTP/1.1\r\nHost: x\r\nX-SENTRY-AUTH: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        s.project_id,
        s.auth_header(),
        payload.len()
    );
    let response = raw_request(&s, &head, &payload).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // Bearer on the native API.
    let (status, body) = post(
        &format!("{}/api/v1/events", s.url),
        &[("authorization", format!("Bearer {key}"))],
        serde_json::to_vec(&event_json("g")).unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_stored(&s, body["id"].as_str().unwrap()).await;
    s.wait_for_events(7).await;
}

async fn bad_credentials_are_refused_with_the_right_status(backend: Backend) {
    let s = TestServer::start(backend).await;
    let url = s.envelope_url();
    let body = || envelope(&new_id(), &event_json("x"));

    let (status, err) = post(&url, &[], body()).await;
    assert_eq!(status, 401, "no credentials");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing authentication")
    );

    let other = "ab".repeat(16);
    let (status, err) = post(
        &format!("{url}?sentry_key={other}"),
        &[("x-sentry-auth", s.auth_header())],
        body(),
    )
    .await;
    assert_eq!(status, 400, "two keys that disagree: {err}");

    let (status, _) = post(
        &url,
        &[("x-sentry-auth", format!("Sentry sentry_key={other}"))],
        body(),
    )
    .await;
    assert_eq!(status, 403, "unknown key");

    let (status, _) = post(
        &url,
        &[("x-sentry-auth", "Sentry sentry_key=not-hex".into())],
        body(),
    )
    .await;
    assert_eq!(status, 403, "malformed key");

    let (status, _) = post(&url, &[("authorization", "Digest abc".into())], body()).await;
    assert_eq!(status, 400, "unknown scheme");

    // A key of another project.
    let (other_project, other_key) =
        mesher_server::accounts::create_project(s.store.as_ref(), s.org_id, "Other", None, None)
            .await
            .unwrap();
    assert_ne!(other_project.id, s.project_id);
    let (status, err) = post(
        &url,
        &[(
            "x-sentry-auth",
            format!("Sentry sentry_key={}", other_key.public_key),
        )],
        body(),
    )
    .await;
    assert_eq!(status, 403, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another project")
    );

    // A revoked key stops working (the cache notices within its epoch check).
    s.store.revoke_key(&s.public_key).await.unwrap();
    tokio::time::sleep(mesher_server::cache::EPOCH_CHECK + std::time::Duration::from_millis(200))
        .await;
    let (status, err) = post(&url, &[("x-sentry-auth", s.auth_header())], body()).await;
    assert_eq!(status, 403, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    assert_eq!(s.store.count_events(s.project_id).await.unwrap(), 0);
    assert!(s.metric("mesher_outcomes_total{reason=\"auth\"}").await >= 5.0);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn every_encoding_is_decoded(backend: Backend) {
    let s = TestServer::start(backend).await;
    let url = s.envelope_url();
    let auth = ("x-sentry-auth", s.auth_header());
    let mut ids = Vec::new();
    for encoding in ["identity", "gzip", "x-gzip", "deflate", "zstd"] {
        let id = new_id();
        let raw = envelope(&id, &event_json(&format!("encoded with {encoding}")));
        let body = match encoding {
            "gzip" | "x-gzip" => gzip(&raw),
            "deflate" => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&raw).unwrap();
                e.finish().unwrap()
            }
            "zstd" => zstd::bulk::compress(&raw, 3).unwrap(),
            _ => raw,
        };
        let (status, resp) = post(
            &url,
            &[auth.clone(), ("content-encoding", encoding.into())],
            body,
        )
        .await;
        assert_eq!(status, 200, "{encoding}: {resp}");
        ids.push(id);
    }
    // Chunked transfer encoding, as @sentry/node sends every body (no Content-Length).
    let id = new_id();
    let payload = gzip(&envelope(&id, &event_json("chunked")));
    let mut chunked = Vec::new();
    for chunk in payload.chunks(100) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "POST /api/{}/envelope/?sentry_key={}&sentry_version=7 HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        s.project_id, s.public_key
    );
    let response = raw_request(&s, &head, &chunked).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    ids.push(id);
    for id in &ids {
        assert_stored(&s, id).await;
    }

    let (status, err) = post(
        &url,
        &[auth.clone(), ("content-encoding", "compress".into())],
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    let (status, err) = post(
        &url,
        &[auth, ("content-encoding", "gzip".into())],
        b"not gzip at all".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{err}");
}

async fn envelope_framing_follows_the_protocol(backend: Backend) {
    let s = TestServer::start(backend).await;
    let url = s.envelope_url();
    let auth = ("x-sentry-auth", s.auth_header());
    let send = |body: Vec<u8>| {
        let auth = auth.clone();
        let url = url.clone();
        async move { post(&url, &[auth], body).await }
    };
    let ev = |m: &str| serde_json::to_string(&event_json(m)).unwrap();

    // Implicit length, no final newline (the JavaScript SDKs).
    let id = new_id();
    let (status, body) = send(
        format!(
            "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{}",
            ev("implicit")
        )
        .into_bytes(),
    )
    .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );

    // A dashed UUID in the envelope header (the Rust SDK) comes back as 32 hex.
    let dashed = "fc6d8c0c-43fc-4630-8f77-2ee4ba48c31d";
    let (status, body) = send(
        format!(
            "{{\"event_id\":\"{dashed}\"}}\n{{\"type\":\"event\"}}\n{}\n",
            ev("dashed")
        )
        .into_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], "fc6d8c0c43fc46308f772ee4ba48c31d");

    // An attachment whose sized payload contains \r\n, an unknown item type, then the event.
    let id = new_id();
    let event = ev("after attachment");
    let body = format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"attachment\",\"length\":9,\"filename\":\"a.txt\"}}\nhello\r\nyo\n{{\"type\":\"future_thing\"}}\n{{\"x\":1}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    );
    let (status, resp) = send(body.into_bytes()).await;
    assert_eq!(status, 200, "{resp}");
    assert_stored(&s, &id).await;
    assert_eq!(
        s.metric("mesher_items_not_stored_total{item_type=\"attachment\"}")
            .await,
        1.0
    );
    assert_eq!(
        s.metric("mesher_items_not_stored_total{item_type=\"unknown\"}")
            .await,
        1.0
    );

    // An empty envelope, and a session-only one: accepted, nothing stored.
    let (status, body) = send(b"{}\n".to_vec()).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let session = r#"{"sid":"7c7b6585-04bd-4562-b6a4-6d6a6e7a8a9f","status":"ok","started":"2026-11-23T10:00:00Z","attrs":{"release":"a@1"}}"#;
    let (status, _) =
        send(format!("{{}}\n{{\"type\":\"session\"}}\n{session}\n").into_bytes()).await;
    assert_eq!(status, 200);

    // A client report is recorded as outcomes.
    let report = r#"{"timestamp":"2026-11-23T10:00:00Z","discarded_events":[{"reason":"queue_overflow","category":"error","quantity":3}]}"#;
    let (status, _) =
        send(format!("{{}}\n{{\"type\":\"client_report\"}}\n{report}").into_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(
        s.metric("mesher_client_outcomes_total{reason=\"queue_overflow\",category=\"error\"}")
            .await,
        3.0
    );

    // Malformed: EOF inside a sized payload, a bad header line, two events, a bad event.
    for (case, body) in [
        (
            "EOF mid-item",
            format!(
                "{{}}\n{{\"type\":\"event\",\"length\":500}}\n{}",
                ev("short")
            ),
        ),
        ("bad header", "not json\n".to_string()),
        (
            "two events",
            format!(
                "{{}}\n{{\"type\":\"event\"}}\n{}\n{{\"type\":\"event\"}}\n{}\n",
                ev("1"),
                ev("2")
            ),
        ),
        (
            "event not JSON",
            "{}\n{\"type\":\"event\"}\n{nope\n".to_string(),
        ),
    ] {
        let (status, err) = send(body.into_bytes()).await;
        assert_eq!(status, 400, "{case}: {err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{case}: {err}"
        );
    }
    assert!(s.metric("mesher_outcomes_total{reason=\"invalid\"}").await >= 4.0);
    // Issue 12, row 4: an unknown level or an unreadable timestamp is dropped and noted, and
    // the event is kept.
    let (status, body) = send(
        "{}\n{\"type\":\"event\"}\n{\"level\":\"verbose\",\"timestamp\":\"not a date\"}\n"
            .as_bytes()
            .to_vec(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap();
    let stored = s
        .store
        .event(s.project_id, EventId::parse(id).unwrap())
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.level.as_str(), "error");
    let errors = stored.payload_json().unwrap()["errors"].to_string();
    assert!(
        errors.contains("verbose") && errors.contains("timestamp"),
        "{errors}"
    );
    // So is a malformed event id (the envelope's stands in) or an exception of the wrong type.
    let kept_id = new_id();
    let (status, body) = send(
        format!(
            "{{\"event_id\":\"{kept_id}\"}}\n{{\"type\":\"event\"}}\n\
             {{\"event_id\":\"xyz\",\"exception\":42,\"message\":\"kept\"}}\n"
        )
        .into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], kept_id.as_str());
    let stored = s
        .store
        .event(s.project_id, EventId::parse(&kept_id).unwrap())
        .await
        .unwrap()
        .expect("stored");
    let errors = stored.payload_json().unwrap()["errors"].to_string();
    assert!(
        errors.contains("\"event_id\"") && errors.contains("\"exception\""),
        "{errors}"
    );
    // Still serving.
    let (status, _) = send(envelope(&new_id(), &event_json("still here"))).await;
    assert_eq!(status, 200);
}

async fn limits_answer_413_and_the_server_keeps_serving(backend: Backend) {
    let s = TestServer::start_with(backend, |settings| {
        settings.limits.max_event_bytes = 10_000;
        settings.limits.max_envelope_bytes = 50_000;
        settings.limits.max_request_bytes = 20_000;
    })
    .await;
    let url = s.envelope_url();
    let auth = ("x-sentry-auth", s.auth_header());

    let big = event_json(&"x".repeat(12_000));
    let (status, err) = post(&url, std::slice::from_ref(&auth), envelope(&new_id(), &big)).await;
    assert_eq!(status, 413, "event over max_event_bytes: {err}");

    let (status, _) = post(&url, std::slice::from_ref(&auth), vec![b'{'; 25_000]).await;
    assert_eq!(status, 413, "body over max_request_bytes");

    // A small gzip body that inflates past the envelope limit.
    let bomb = gzip(&vec![b' '; 5_000_000]);
    assert!(bomb.len() < 20_000);
    let (status, err) = post(
        &url,
        &[auth.clone(), ("content-encoding", "gzip".into())],
        bomb,
    )
    .await;
    assert_eq!(status, 413, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("limit"));

    // The same through the native endpoint.
    let (status, _) = post(
        &format!("{}/api/v1/events", s.url),
        std::slice::from_ref(&auth),
        serde_json::to_vec(&big).unwrap(),
    )
    .await;
    assert_eq!(status, 413);
    assert!(
        s.metric("mesher_outcomes_total{reason=\"too_large\"}")
            .await
            >= 4.0
    );

    let (status, _) = post(&url, &[auth], envelope(&new_id(), &event_json("fits"))).await;
    assert_eq!(status, 200, "the server keeps serving");
}

async fn store_endpoint_accepts_json_and_legacy_bodies(backend: Backend) {
    let s = TestServer::start(backend).await;
    let url = format!("{}/api/{}/store/", s.url, s.project_id);
    let auth = ("x-sentry-auth", s.auth_header());
    let id = new_id();
    let mut ev = event_json("via store");
    ev["event_id"] = json!(id);
    let (status, body) = post(
        &url,
        std::slice::from_ref(&auth),
        serde_json::to_vec(&ev).unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );

    // Legacy: base64(zlib(JSON)) with no Content-Encoding.
    let id = new_id();
    ev["event_id"] = json!(id);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&serde_json::to_vec(&ev).unwrap()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap());
    let (status, body) = post(&url, &[auth], b64.into_bytes()).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    assert_stored(&s, &id).await;
}

async fn native_and_bulk_endpoints_answer_per_event(backend: Backend) {
    let s = TestServer::start_with(backend, |settings| settings.limits.max_bulk_events = 5).await;
    let bearer = ("authorization", format!("Bearer {}", s.public_key));
    let (status, body) = post(
        &format!("{}/api/v1/events", s.url),
        std::slice::from_ref(&bearer),
        serde_json::to_vec(&json!({"message": "native", "level": "warning"})).unwrap(),
    )
    .await;
    assert_eq!(status, 202);
    let id = body["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_stored(&s, id).await;

    let bulk_url = format!("{}/api/v1/events/bulk", s.url);
    let batch = json!([
        {"message": "one"},
        {"message": "two", "event_id": "not an id"},
        {"exception": {"values": [{"type": "KeyError", "value": "'x'"}]}},
        "not an object",
    ]);
    let (status, results) = post(
        &bulk_url,
        std::slice::from_ref(&bearer),
        serde_json::to_vec(&batch).unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{results}");
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert!(results[0]["id"].is_string());
    // A bad event id is dropped and noted, and the event kept with a new id (issue 12).
    assert!(results[1]["id"].is_string(), "{}", results[1]);
    assert!(results[2]["id"].is_string());
    assert_eq!(results[3]["error"]["code"], "bad_request");
    assert!(
        results[3]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("event 3")
    );
    for result in &results[..3] {
        assert_stored(&s, result["id"].as_str().unwrap()).await;
    }

    let too_many: Vec<Value> = (0..6)
        .map(|i| json!({"message": format!("m{i}")}))
        .collect();
    let (status, _) = post(
        &bulk_url,
        std::slice::from_ref(&bearer),
        serde_json::to_vec(&too_many).unwrap(),
    )
    .await;
    assert_eq!(status, 413);
    let (status, _) = post(
        &bulk_url,
        &[bearer],
        b"{\"message\": \"not an array\"}".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
}

async fn cors_preflight_is_answered_like_relay(backend: Backend) {
    let s = TestServer::start(backend).await;
    let url = s.envelope_url();
    let resp = client()
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://shop.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, x-sentry-auth",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("x-sentry-auth") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert_eq!(h["access-control-max-age"], "3600");

    let resp = client()
        .post(format!("{url}?sentry_key={}", s.public_key))
        .header("origin", "https://shop.example.com")
        .header("content-type", "text/plain;charset=UTF-8")
        .body(envelope(&new_id(), &event_json("from a browser")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let exposed = resp.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("x-sentry-rate-limits") && exposed.contains("retry-after"),
        "{exposed}"
    );
}

async fn routes_work_under_the_public_url_prefix(backend: Backend) {
    let s = TestServer::start_with(backend, |settings| {
        settings.public_url = Some(url::Url::parse("https://errors.example.com/sentry").unwrap());
    })
    .await;
    assert!(
        s.dsn.starts_with("https://") && s.dsn.ends_with(&format!("/sentry/{}", s.project_id)),
        "{}",
        s.dsn
    );
    let prefixed = format!("{}/sentry/api/{}/envelope/", s.url, s.project_id);
    let (status, _) = post(
        &prefixed,
        &[("x-sentry-auth", s.auth_header())],
        envelope(&new_id(), &event_json("p")),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &s.envelope_url(),
        &[("x-sentry-auth", s.auth_header())],
        envelope(&new_id(), &event_json("q")),
    )
    .await;
    assert_eq!(
        status, 200,
        "the root path keeps working behind a proxy that strips the prefix"
    );
}
