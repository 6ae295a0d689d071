//! The live stream from outside (STREAM-01 … STREAM-05): a real WebSocket client against an
//! in-process node, events sent through the envelope endpoint, on both backends.

mod common;

use std::time::Duration;

use common::TestServer;
use common::api::{Api, ingest, owner_token, user_token};
use futures_util::{SinkExt, StreamExt};
use mesher_server::accounts;
use mesher_store::testing::Backend;
use mesher_store::{ProjectUpdate, Role, Scope};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn stream_url(s: &TestServer, project_id: i64, query: &str) -> String {
    format!(
        "{}/api/v1/projects/{project_id}/stream{query}",
        s.url.replacen("http", "ws", 1)
    )
}

/// Opens a stream with `headers`; the upgrade's error when refused.
async fn open_with(url: &str, headers: &[(&'static str, String)]) -> Result<Ws, WsError> {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

/// Opens a stream with an API token and reads its `subscribed` and `counts` greeting.
async fn open(s: &TestServer, token: &str, query: &str) -> Ws {
    let url = stream_url(s, s.project_id, query);
    let mut ws = open_with(&url, &[("authorization", format!("Bearer {token}"))])
        .await
        .expect("the stream opens");
    let first = next(&mut ws).await;
    assert_eq!(first["type"], "subscribed", "{first}");
    assert_eq!(first["v"], 1);
    let second = next(&mut ws).await;
    assert_eq!(second["type"], "counts", "{second}");
    ws
}

/// The next JSON message (pings and pongs skipped), within 10 s.
async fn next(ws: &mut Ws) -> Value {
    let deadline = Duration::from_secs(10);
    loop {
        let m = tokio::time::timeout(deadline, ws.next())
            .await
            .expect("a message within 10 s")
            .expect("the stream is open")
            .expect("a valid frame");
        match m {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Replaces the stream's filters and waits for the server to say they are in force.
async fn subscribe(ws: &mut Ws, filters: Value) {
    let m = json!({"type": "subscribe", "filters": filters});
    ws.send(Message::text(m.to_string())).await.unwrap();
    loop {
        let reply = next(ws).await;
        if reply["type"] == "subscribed" {
            return;
        }
        assert_ne!(reply["type"], "error", "{reply}");
    }
}

/// The titles of the next `n` events, then checks that no other event follows soon.
async fn events(ws: &mut Ws, n: usize) -> Vec<String> {
    let mut titles = Vec::new();
    while titles.len() < n {
        let m = next(ws).await;
        if m["type"] == "event" {
            titles.push(m["title"].as_str().unwrap().to_string());
        }
    }
    let quiet = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let m: Value = serde_json::from_str(t.as_str()).unwrap();
                    if m["type"] == "event" {
                        return m;
                    }
                }
                Some(Ok(_)) => {}
                _ => std::future::pending::<()>().await,
            }
        }
    })
    .await;
    if let Ok(extra) = quiet {
        panic!("an event that does not match: {extra}");
    }
    titles
}

struct Sent {
    message: &'static str,
    level: &'static str,
    environment: &'static str,
    release: &'static str,
    browser: Option<&'static str>,
}

const SENT: [Sent; 5] = [
    Sent {
        message: "database timeout on read",
        level: "error",
        environment: "production",
        release: "2.0",
        browser: Some("Chrome"),
    },
    Sent {
        message: "cache miss",
        level: "info",
        environment: "production",
        release: "1.0",
        browser: Some("Firefox"),
    },
    Sent {
        message: "Database TIMEOUT again",
        level: "warning",
        environment: "staging",
        release: "2.0",
        browser: Some("Chrome"),
    },
    Sent {
        message: "disk full",
        level: "fatal",
        environment: "production",
        release: "2.0",
        browser: Some("Safari"),
    },
    Sent {
        message: "seed",
        level: "error",
        environment: "staging",
        release: "1.0",
        browser: None,
    },
];

fn event_json(e: &Sent) -> Value {
    let mut v = json!({
        "message": e.message,
        "level": e.level,
        "environment": e.environment,
        "release": e.release,
    });
    if let Some(b) = e.browser {
        v["tags"] = json!({"browser": b});
    }
    v
}

/// STREAM-01, STREAM-02: every filter alone and combined, set by a `subscribe` message or the
/// upgrade's query string; each stream receives exactly the matching committed events, in
/// commit order.
async fn each_filter_alone_and_combined(backend: Backend) {
    let s = TestServer::start(backend).await;
    let token = owner_token(&s).await;

    // A first event creates the issue the issue filter names.
    let mut all = open(&s, &token, "").await;
    ingest(&s, event_json(&SENT[4])).await;
    let seed = loop {
        let m = next(&mut all).await;
        if m["type"] == "event" {
            break m;
        }
    };
    assert_eq!(seed["title"], "seed");
    assert_eq!(seed["environment"], "staging");
    assert_eq!(seed["level"], "error");
    assert_eq!(seed["id"].as_str().unwrap().len(), 32);
    let seed_issue = seed["issue_id"].as_i64().unwrap();

    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({}),
            vec![
                "database timeout on read",
                "cache miss",
                "Database TIMEOUT again",
                "disk full",
                "seed",
            ],
        ),
        (
            json!({"level": "warning"}),
            vec![
                "database timeout on read",
                "Database TIMEOUT again",
                "disk full",
                "seed",
            ],
        ),
        (
            json!({"environment": "production"}),
            vec!["database timeout on read", "cache miss", "disk full"],
        ),
        (
            json!({"release": "2.0"}),
            vec![
                "database timeout on read",
                "Database TIMEOUT again",
                "disk full",
            ],
        ),
        (json!({"issue": seed_issue}), vec!["seed"]),
        (
            json!({"tag": "browser:Chrome"}),
            vec!["database timeout on read", "Database TIMEOUT again"],
        ),
        (
            json!({"query": "timeout DATABASE"}),
            vec!["database timeout on read", "Database TIMEOUT again"],
        ),
        (
            json!({"level": "error", "environment": "production", "release": "2.0", "tag": ["browser:Chrome"], "query": "read"}),
            vec!["database timeout on read"],
        ),
        (json!({"level": "fatal", "environment": "staging"}), vec![]),
    ];
    let mut streams = Vec::new();
    for (filters, _) in &cases {
        let mut ws = open(&s, &token, "").await;
        subscribe(&mut ws, filters.clone()).await;
        streams.push(ws);
    }
    // Filters given at the upgrade.
    let mut by_query = open(
        &s,
        &token,
        "?level=error&environment=production&tag=browser:Chrome",
    )
    .await;

    for e in &SENT {
        ingest(&s, event_json(e)).await;
    }
    for ((filters, expected), ws) in cases.iter().zip(&mut streams) {
        assert_eq!(&events(ws, expected.len()).await, expected, "{filters}");
    }
    assert_eq!(events(&mut by_query, 1).await, ["database timeout on read"]);
}

/// STREAM-03, STREAM-04: new and changed issues are pushed with their counts, and the counts
/// follow.
async fn issue_changes_and_counts_are_pushed(backend: Backend) {
    let s = TestServer::start(backend).await;
    let token = owner_token(&s).await;
    let mut ws = open(&s, &token, "").await;
    ingest(
        &s,
        json!({"message": "first of its kind", "level": "error"}),
    )
    .await;
    let mut created = None;
    let mut counted = None;
    while created.is_none() || counted.is_none() {
        let m = next(&mut ws).await;
        match m["type"].as_str() {
            Some("issue") => created = Some(m),
            Some("counts") if m["events_last_minute"] == 1 => counted = Some(m),
            _ => {}
        }
    }
    let created = created.unwrap();
    assert_eq!(created["change"], "created");
    assert_eq!(created["status"], "unresolved");
    assert_eq!(created["count"], 1);
    assert_eq!(created["title"], "first of its kind");
    let counted = counted.unwrap();
    assert_eq!(counted["unresolved_issues"], 1, "{counted}");
    assert_eq!(counted["new_issues_today"], 1, "{counted}");

    let issue_id = created["issue_id"].as_i64().unwrap();
    Api::new(&s, Some(token.clone()))
        .ok(
            Method::POST,
            &format!("/api/v1/issues/{issue_id}/status"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    let mut resolved = None;
    let mut recounted = None;
    while resolved.is_none() || recounted.is_none() {
        let m = next(&mut ws).await;
        match m["type"].as_str() {
            Some("issue") => resolved = Some(m),
            Some("counts") if m["unresolved_issues"] == 0 => recounted = Some(m),
            _ => {}
        }
    }
    let resolved = resolved.unwrap();
    assert_eq!(
        (resolved["change"].as_str(), resolved["issue_id"].as_i64()),
        (Some("resolved"), Some(issue_id))
    );
    assert_eq!(resolved["status"], "resolved");

    // A regression of the same issue is pushed as such.
    ingest(
        &s,
        json!({"message": "first of its kind", "level": "error"}),
    )
    .await;
    loop {
        let m = next(&mut ws).await;
        if m["type"] == "issue" {
            assert_eq!(m["change"], "regressed", "{m}");
            assert_eq!(m["count"], 2);
            break;
        }
    }
}

/// Anonymous callers, another organization, a credential without read access, and a cookie
/// from another site's page are all refused before the upgrade; the dashboard's own page is
/// let in.
async fn refusals(backend: Backend) {
    let s = TestServer::start(backend).await;
    let token = owner_token(&s).await;
    let url = stream_url(&s, s.project_id, "");
    let status = |r: Result<Ws, WsError>| match r {
        Err(WsError::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{e}"),
        Ok(_) => 101,
    };
    assert_eq!(status(open_with(&url, &[]).await), 401, "anonymous");
    // A DSN key is for sending events, not for reading them.
    let dsn_key = vec![("authorization", format!("Bearer {}", s.public_key))];
    assert_eq!(status(open_with(&url, &dsn_key).await), 401, "a DSN key");

    // Another organization's member, with a read token.
    let store = s.store.as_ref();
    let other = accounts::create_org(store, "Other Org", None)
        .await
        .unwrap();
    let (stranger, read, record) = user_token(
        &s,
        "stranger@example.com",
        (other.id, Role::Owner),
        Scope::Read,
    )
    .await;
    let theirs = vec![("authorization", format!("Bearer {read}"))];
    assert_eq!(
        status(open_with(&url, &theirs).await),
        404,
        "another organization"
    );
    let (other_project, _) = accounts::create_project(store, other.id, "Theirs", None, None)
        .await
        .unwrap();
    let their_url = stream_url(&s, other_project.id, "");
    assert_eq!(
        status(open_with(&their_url, &theirs).await),
        101,
        "their own project"
    );
    store.revoke_token(stranger, record).await.unwrap();
    assert_eq!(
        status(open_with(&their_url, &theirs).await),
        401,
        "a revoked token"
    );
    let mine = vec![("authorization", format!("Bearer {token}"))];
    let missing = stream_url(&s, 999_999, "");
    assert_eq!(
        status(open_with(&missing, &mine).await),
        404,
        "no such project"
    );

    // The session cookie: only from Mesher's own pages.
    let login = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", s.url))
        .json(&json!({"email": "owner@example.com", "password": "long enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let with_origin = |origin: Option<&str>| {
        let mut h = vec![("cookie", cookie.clone())];
        if let Some(o) = origin {
            h.push(("origin", o.to_string()));
        }
        h
    };
    assert_eq!(
        status(open_with(&url, &with_origin(Some("https://evil.example"))).await),
        403,
        "a foreign Origin"
    );
    assert_eq!(
        status(open_with(&url, &with_origin(None)).await),
        403,
        "no Origin"
    );
    assert_eq!(
        status(open_with(&url, &with_origin(Some(&s.url))).await),
        101,
        "Mesher's own page"
    );

    // A bad filter at the upgrade is a 400 that says why; a plain GET is told to upgrade.
    let bad = stream_url(&s, s.project_id, "?level=loud");
    assert_eq!(status(open_with(&bad, &mine).await), 400);
    let plain = reqwest::Client::new()
        .get(url.replacen("ws", "http", 1))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 400);
    assert!(plain.text().await.unwrap().contains("WebSocket"));
}

/// STREAM-05: a client that stops reading loses the oldest messages and is told how many; a
/// reading client on the same project gets every event, in order, meanwhile.
async fn a_stalled_client_loses_the_oldest_and_is_told(backend: Backend) {
    let s = TestServer::start_with(backend, |settings| settings.stream.queue_messages = 1000).await;
    let token = owner_token(&s).await;
    unlimited(&s).await;
    // The stalled client reads nothing, through a small socket buffer.
    let mut stalled = open_silent(&s, &token).await;
    let mut fast = open(&s, &token, "").await;

    let n = 12_000;
    let reader = tokio::spawn(async move {
        let mut ids = Vec::new();
        while ids.len() < n {
            let m = next(&mut fast).await;
            assert_ne!(m["type"], "lagged", "the reading client lost nothing");
            if m["type"] == "event" {
                ids.push(m["id"].as_str().unwrap().to_string());
            }
        }
        ids
    });
    let sent = flood(&s, n).await;
    let received = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(received, sent, "every event, in commit order");

    // The stalled client now reads: a lagged notice, then the newest messages.
    let mut lagged = 0;
    let mut got = 0;
    let mut last_event = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), stalled.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let m: Value = serde_json::from_str(t.as_str()).unwrap();
                match m["type"].as_str() {
                    Some("lagged") => lagged += m["missed"].as_u64().unwrap(),
                    Some("event") => {
                        got += 1;
                        last_event = Some(m["id"].as_str().unwrap().to_string())
                    }
                    _ => {}
                }
            }
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
    assert!(got < n, "{got} of {n}");
    assert!(lagged > 0, "the stalled client is told it lost messages");
    assert_eq!(
        last_event.as_deref(),
        sent.last().map(String::as_str),
        "and gets the newest"
    );
}

/// Streams are capped per user and per node; over a cap the stream closes with a reason.
async fn caps_close_with_a_reason(backend: Backend) {
    let s = TestServer::start_with(backend, |settings| {
        settings.stream.max_per_user = 2;
        settings.stream.max_per_node = 3;
    })
    .await;
    let token = owner_token(&s).await;
    let _a = open(&s, &token, "").await;
    let _b = open(&s, &token, "").await;
    let closed = |mut ws: Ws| async move {
        match next_frame(&mut ws).await {
            Message::Close(Some(frame)) => (frame.code, frame.reason.to_string()),
            other => panic!("{other:?}"),
        }
    };
    let url = stream_url(&s, s.project_id, "");
    let third = open_with(&url, &[("authorization", format!("Bearer {token}"))])
        .await
        .unwrap();
    let (code, reason) = closed(third).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("maximum of 2"), "{reason}");

    // Another user fills the node.
    let (_, theirs, _) = user_token(
        &s,
        "member@example.com",
        (s.org_id, Role::Member),
        Scope::Read,
    )
    .await;
    let _c = open(&s, &theirs, "").await;
    let fourth = open_with(&url, &[("authorization", format!("Bearer {theirs}"))])
        .await
        .unwrap();
    let (code, reason) = closed(fourth).await;
    assert_eq!(code, CloseCode::Again);
    assert!(reason.contains("this node"), "{reason}");
    // Closing one frees its place.
    drop(_a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    open(&s, &token, "").await;
}

/// Sends `n` events with long titles in bulk, in order, and returns their ids: more than the
/// kernel's socket buffers hold (up to 4 MiB on the server's side) for 12,000.
async fn flood(s: &TestServer, n: usize) -> Vec<String> {
    let pad = "x".repeat(180);
    let mut sent = Vec::new();
    let client = reqwest::Client::new();
    for chunk in 0..n / 250 {
        let batch: Vec<Value> = (0..250)
            .map(|i| json!({"message": format!("event {} {pad}", chunk * 250 + i), "level": "error"}))
            .collect();
        let resp = client
            .post(format!("{}/api/v1/events/bulk", s.url))
            .bearer_auth(&s.public_key)
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        let results: Value = resp.json().await.unwrap();
        for r in results.as_array().unwrap() {
            sent.push(r["id"].as_str().expect("stored").to_string());
        }
    }
    sent
}

/// A client that never reads is closed (pings unanswered, a full socket), and its place is
/// freed; nothing waits on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_nothing_is_closed_and_frees_its_place() {
    let s = TestServer::start_with(Backend::Sqlite, |settings| {
        settings.stream.ping_interval = Duration::from_secs(1);
        settings.stream.queue_messages = 8;
    })
    .await;
    let token = owner_token(&s).await;
    unlimited(&s).await;
    let _silent = open_silent(&s, &token).await;
    // The server registers the stream just after its 101 answer, which the client may see
    // first: wait for it (well within the two ping intervals that would close it).
    let opened = tokio::time::Instant::now() + Duration::from_secs(5);
    while s.metric("mesher_live_streams").await != 1.0 {
        assert!(
            tokio::time::Instant::now() < opened,
            "the stream never opened"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    flood(&s, 12_000).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while s.metric("mesher_live_streams").await != 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the silent stream is still open"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A stream is re-authorized at every ping: a revoked token, or a member removed from the
/// organization, closes it with a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_access_closes_the_stream() {
    let s = TestServer::start_with(Backend::Sqlite, |settings| {
        settings.stream.ping_interval = Duration::from_millis(200);
    })
    .await;
    let store = s.store.as_ref();
    let member = |email: &'static str| user_token(&s, email, (s.org_id, Role::Member), Scope::Read);
    let (revoked_user, revoked_token, record) = member("revoked@example.com").await;
    let (removed_user, removed_token, _) = member("removed@example.com").await;
    let mut by_token = open(&s, &revoked_token, "").await;
    let mut by_member = open(&s, &removed_token, "").await;
    store.revoke_token(revoked_user, record).await.unwrap();
    store.remove_member(s.org_id, removed_user).await.unwrap();
    for (ws, says) in [(&mut by_token, "revoked"), (&mut by_member, "not found")] {
        let frame = loop {
            match next_frame(ws).await {
                Message::Close(Some(frame)) => break frame,
                _ => continue,
            }
        };
        assert_eq!(frame.code, CloseCode::Policy);
        assert!(
            frame.reason.contains("access revoked") && frame.reason.contains(says),
            "{}",
            frame.reason
        );
    }
}

/// Opens a stream through a socket with a small receive buffer, for a client that will not
/// read (the server's side fills up soon).
async fn open_silent(s: &TestServer, token: &str) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = s.url.trim_start_matches("http://").parse().unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let mut request = stream_url(s, s.project_id, "")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp))
        .await
        .unwrap()
        .0
}

/// Lifts the project's rate limit (thousands of events in seconds).
async fn unlimited(s: &TestServer) {
    s.store
        .update_project(
            s.project_id,
            &ProjectUpdate {
                rate_limit_per_minute: Some(0),
                ..ProjectUpdate::default()
            },
        )
        .await
        .unwrap();
}

async fn next_frame(ws: &mut Ws) -> Message {
    tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a frame within 10 s")
        .expect("open")
        .expect("valid")
}

on_both_backends!(
    each_filter_alone_and_combined,
    issue_changes_and_counts_are_pushed,
    refusals,
    a_stalled_client_loses_the_oldest_and_is_told,
    caps_close_with_a_reason,
);

/// A client that answers no ping is closed after two intervals; a bad client message gets an
/// `error` and the stream goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_closed_and_bad_messages_answered() {
    let s = TestServer::start_with(Backend::Sqlite, |settings| {
        settings.stream.ping_interval = Duration::from_millis(300);
    })
    .await;
    let token = owner_token(&s).await;
    let mut ws = open(&s, &token, "").await;
    ws.send(Message::text(
        r#"{"type": "subscribe", "filters": {"level": "loud"}}"#,
    ))
    .await
    .unwrap();
    let error = next(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert!(
        error["message"].as_str().unwrap().contains("level"),
        "{error}"
    );
    ws.send(Message::text(r#"{"type": "teleport"}"#))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await["type"], "error");
    // Still open: a good subscribe is confirmed.
    subscribe(&mut ws, json!({"level": "error"})).await;

    // Reading nothing for a while: pings go unanswered (the client answers only as it reads).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut closed = None;
    while closed.is_none() {
        match next_frame(&mut ws).await {
            Message::Close(frame) => closed = frame,
            _ => continue,
        }
    }
    let frame = closed.unwrap();
    assert_eq!(frame.code, CloseCode::Policy);
    assert!(frame.reason.contains("ping"), "{}", frame.reason);
}
