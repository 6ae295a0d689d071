//! The public ingest edge under hostile input (issue 11): credentials are judged before the
//! body is inflated (finding 1), connections that idle or trickle are closed (finding 2), and
//! one event cannot carry tens of thousands of tags (finding 10). The memory and connection
//! figures against the real binary are in `crates/mesher/tests/edge.rs`.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{TestServer, envelope, new_id};
use mesher_protocol::EventId;
use mesher_store::testing::Backend;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_both_backends!(
    finding_1_credentials_are_judged_before_the_body_is_inflated,
    finding_10_an_event_keeps_at_most_the_configured_tags,
);

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A gzip envelope whose header line names `dsn`, followed by `mib` MiB of zeros: gzip
/// members of 1 MiB each, concatenated (about 1 KB apiece on the wire).
fn bomb(dsn: Option<&str>, mib: usize) -> Vec<u8> {
    static MEMBER: std::sync::LazyLock<Vec<u8>> =
        std::sync::LazyLock::new(|| gzip(&vec![b'0'; 1 << 20]));
    let header = match dsn {
        Some(dsn) => json!({"event_id": new_id(), "dsn": dsn}),
        None => json!({"event_id": new_id()}),
    };
    let mut body = gzip(format!("{header}\n").as_bytes());
    for _ in 0..mib {
        body.extend_from_slice(&MEMBER);
    }
    body
}

async fn post(url: &str, headers: &[(&str, String)], body: Vec<u8>) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(url).body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn finding_1_credentials_are_judged_before_the_body_is_inflated(backend: Backend) {
    let s = TestServer::start(backend).await;
    let url = s.envelope_url();
    let gz = ("content-encoding", "gzip".to_string());
    let bogus = (
        "x-sentry-auth",
        "Sentry sentry_key=0123456789abcdef0123456789abcdef".to_string(),
    );

    // A bogus key in the headers: refused whatever the body, even a corrupt one, so it was
    // never decompressed (before: 400 "cannot decompress" or 413 after inflating).
    let (status, body) = post(&url, &[bogus.clone(), gz.clone()], b"not gzip".to_vec()).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = post(&url, &[bogus, gz.clone()], bomb(None, 200)).await;
    assert_eq!(status, 403, "{body}");

    // No credentials anywhere: 401 from the header line alone (before: 413).
    let (status, body) = post(&url, std::slice::from_ref(&gz), bomb(None, 200)).await;
    assert_eq!(status, 401, "{body}");

    // A bogus key in the envelope's own `dsn` header: the header line authenticates it.
    let host = s.url.trim_start_matches("http://");
    let dsn = format!(
        "http://0123456789abcdef0123456789abcdef@{host}/{}",
        s.project_id
    );
    let (status, body) = post(&url, std::slice::from_ref(&gz), bomb(Some(&dsn), 200)).await;
    assert_eq!(status, 403, "{body}");

    // The real key in the envelope header still works, compressed or not, and the real key
    // with a bomb gets 413 at the limit.
    let dsn = s.dsn.clone();
    let id = new_id();
    let mut env = format!("{}\n", json!({"event_id": id, "dsn": dsn})).into_bytes();
    env.extend_from_slice(br#"{"type":"event"}"#);
    env.extend_from_slice(b"\n{\"message\": \"from the envelope dsn\"}\n");
    let (status, body) = post(&url, std::slice::from_ref(&gz), gzip(&env)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], id.as_str());
    let (status, body) = post(&url, &[], env).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &url,
        &[("x-sentry-auth", s.auth_header()), gz],
        bomb(None, 200),
    )
    .await;
    assert_eq!(status, 413, "{body}");

    // Keys that disagree are still refused.
    let other = format!("http://0123456789abcdef0123456789abcdef@{host}/1");
    let mut env = format!("{}\n", json!({"event_id": new_id(), "dsn": other})).into_bytes();
    env.extend_from_slice(b"{\"type\":\"event\"}\n{}\n");
    let (status, body) = post(&url, &[("x-sentry-auth", s.auth_header())], env).await;
    assert_eq!(status, 400, "{body}");
}

async fn finding_10_an_event_keeps_at_most_the_configured_tags(backend: Backend) {
    let s = TestServer::start_with(backend, |settings| {
        settings.limits.tags.max_tags = 100;
    })
    .await;
    let tags: serde_json::Map<String, Value> = (0..60_000)
        .map(|i| (format!("k{i}"), Value::from("v")))
        .collect();
    let id = new_id();
    let event = json!({"message": "many tags", "tags": tags});
    let (status, body) = post(
        &s.envelope_url(),
        &[("x-sentry-auth", s.auth_header())],
        envelope(&id, &event),
    )
    .await;
    assert_eq!(status, 200, "the event is kept: {body}");
    let stored = s
        .store
        .event(s.project_id, EventId::parse(&id).unwrap())
        .await
        .unwrap()
        .expect("stored");
    // The event's own tags; the stored list adds the few derived ones (level, …).
    let payload = stored.payload_json().unwrap();
    let own = payload["tags"].as_array().expect("tags");
    assert_eq!(own.len(), 100);
    assert_eq!(stored.tags[0].0, "k0");
    assert!(stored.tags.len() < 110, "{}", stored.tags.len());
    let errors = payload["errors"].to_string();
    assert!(
        errors.contains("59900 dropped over the limit of 100"),
        "{errors}"
    );
}

/// Reads until the server closes the connection; how long that took.
async fn time_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(
            limit.saturating_sub(started.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept the connection open for {limit:?}"),
        }
    }
}

/// Finding 2: an idle connection, a head sent a byte at a time and a keep-alive connection
/// left idle after a request are all closed by their timeouts, while others are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_2_idle_and_trickling_connections_are_closed() {
    let s = TestServer::start_with(Backend::Sqlite, |settings| {
        settings.connections.idle_timeout = Duration::from_secs(2);
        settings.connections.header_read_timeout = Duration::from_secs(1);
        settings.limits.body_read_grace = Duration::from_secs(1);
        settings.limits.body_min_bytes_per_sec = 1000;
    })
    .await;
    let addr = s.url.trim_start_matches("http://").to_string();

    // A body sent at 10 bytes a second against a floor of 1000 after one second: 408.
    let mut slow_body = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/{}/envelope/ HTTP/1.1\r\nHost: x\r\nX-Sentry-Auth: {}\r\nContent-Length: 100000\r\n\r\n",
        s.project_id,
        s.auth_header()
    );
    slow_body.write_all(head.as_bytes()).await.unwrap();
    let body_started = Instant::now();
    let mut answer = Vec::new();
    loop {
        tokio::select! {
            r = slow_body.read_buf(&mut answer) => {
                if r.unwrap_or(0) == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                let _ = slow_body.write_all(b"0").await;
            }
        }
        assert!(
            body_started.elapsed() < Duration::from_secs(10),
            "no answer to a trickled body"
        );
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let trickle_addr = addr.clone();
    let trickle = tokio::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(&trickle_addr).await.unwrap();
        let started = Instant::now();
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: "
            .iter()
            .cycle()
        {
            if stream.write_all(&[*b]).await.is_err() || started.elapsed() > Duration::from_secs(20)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        started.elapsed()
    });

    // Meanwhile a normal client is served, and its connection kept alive, then closed idle.
    let mut ok = tokio::net::TcpStream::connect(&addr).await.unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = ok.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let kept = time_until_closed(&mut ok, Duration::from_secs(10)).await;
    assert!(kept >= Duration::from_millis(1500), "closed after {kept:?}");

    let idle_for = time_until_closed(&mut idle, Duration::from_secs(10)).await;
    assert!(idle_for < Duration::from_secs(10), "{idle_for:?}");
    let trickled = trickle.await.unwrap();
    assert!(
        trickled < Duration::from_secs(5),
        "a head trickled for {trickled:?}"
    );
    assert!(s.metric("mesher_connections_timed_out_total").await >= 3.0);
}
