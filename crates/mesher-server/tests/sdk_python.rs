//! The Python `sentry-sdk` from PyPI, unmodified but for the DSN, against a real node
//! (INGEST-01, INGEST-04, INGEST-06; issue acceptance 1 and 5).

mod common;

use std::process::Command;

use common::{TestServer, python};
use mesher_protocol::EventId;
use mesher_store::ProjectUpdate;
use mesher_store::testing::Backend;
use serde_json::Value;

on_both_backends!(
    python_sdk_events_are_stored_with_brotli,
    python_sdk_events_are_stored_with_gzip,
    python_sdk_backs_off_when_rate_limited,
);

async fn python_sdk_events_are_stored_with_brotli(backend: Backend) {
    python_sdk_events_are_stored(backend, "br").await;
}

async fn python_sdk_events_are_stored_with_gzip(backend: Backend) {
    python_sdk_events_are_stored(backend, "gzip").await;
}

fn run_script(script: &str, args: &[&str]) -> Value {
    let path = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python())
        .arg(path)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

async fn python_sdk_events_are_stored(backend: Backend, compression: &str) {
    let mut server = TestServer::start(backend).await;
    let dsn = server.dsn.clone();
    let compression_owned = compression.to_string();
    let ids = tokio::task::spawn_blocking(move || {
        run_script("send_events.py", &[&dsn, &compression_owned])
    })
    .await
    .unwrap();
    let ids = ids.as_object().unwrap();
    assert_eq!(ids.len(), 11);
    server.wait_for_events(11).await;
    let encoding = if compression == "br" { "br" } else { "gzip" };
    assert_eq!(
        server
            .metric(&format!(
                "mesher_request_encodings_total{{encoding=\"{encoding}\"}}"
            ))
            .await,
        11.0,
        "every request was {encoding}-compressed"
    );

    let store = &server.store;
    let p = server.project_id;
    let get = |name: &str| {
        let id = ids[name]
            .as_str()
            .unwrap_or_else(|| panic!("the SDK returned no id for {name}"));
        EventId::parse(id).unwrap()
    };
    let mut stored = std::collections::HashMap::new();
    for name in ids.keys() {
        let event = store
            .event(p, get(name))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name} ({}) is not stored", ids[name]));
        assert_eq!(event.event_id.to_string(), ids[name].as_str().unwrap());
        stored.insert(name.as_str(), event);
    }

    // Chained exceptions keep both links, oldest first.
    let chained = &stored["chained"];
    let chained_json = chained.payload_json().unwrap();
    let values = chained_json["exception"]["values"].as_array().unwrap();
    let types: Vec<&str> = values.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ValueError", "RuntimeError"]);
    assert!(
        values[1]["stacktrace"]["frames"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    assert_eq!(chained.title, "RuntimeError: checkout failed");
    assert_eq!(chained.release.as_deref(), Some("shop@3.2.1"));

    for level in ["debug", "info", "warning", "error", "fatal"] {
        assert_eq!(
            stored[format!("message_{level}").as_str()].level.as_str(),
            level
        );
    }

    // Issue 12, acceptance 2: `level="verbose"` is stored as an error, the value noted.
    let verbose = &stored["message_verbose"];
    assert_eq!(verbose.level.as_str(), "error");
    let verbose_json = verbose.payload_json().unwrap();
    let notes = verbose_json["errors"].as_array().expect("errors noted");
    assert!(
        notes
            .iter()
            .any(|n| n["name"] == "level" && n["value"] == "verbose"),
        "{notes:?}"
    );

    let ctx = &stored["with_context"];
    assert!(ctx.tags.contains(&("feature".into(), "checkout".into())));
    assert!(ctx.tags.contains(&("region".into(), "eu-west-1".into())));
    let ctx_json = ctx.payload_json().unwrap();
    assert_eq!(ctx_json["user"]["email"], "user7@example.com");
    let crumbs = ctx_json["breadcrumbs"]["values"].as_array().unwrap();
    assert_eq!(crumbs.len(), 2);
    assert_eq!(crumbs[0]["message"], "user signed in");
    assert_eq!(crumbs[1]["category"], "http");

    // Custom fingerprints: two different messages, one issue; the hybrid one is its own.
    assert_eq!(stored["custom_1"].issue_id, stored["custom_2"].issue_id);
    assert_ne!(stored["hybrid"].issue_id, stored["custom_1"].issue_id);
    let issue = store
        .issue(stored["custom_1"].issue_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(issue.event_count, 2);
    server.stop().await.unwrap();
}

async fn python_sdk_backs_off_when_rate_limited(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    // One event per minute: the burst lets 10 through, then the limit answers 429.
    server
        .store
        .update_project(
            server.project_id,
            &ProjectUpdate {
                rate_limit_per_minute: Some(1),
                ..ProjectUpdate::default()
            },
        )
        .await
        .unwrap();
    let dsn = server.dsn.clone();
    let ids = tokio::task::spawn_blocking(move || run_script("rate_limited.py", &[&dsn, "16"]))
        .await
        .unwrap();
    assert_eq!(ids.as_array().unwrap().len(), 16);
    server.wait_for_events(10).await;
    let route = "mesher_http_requests_total{method=\"POST\",route=\"/api/{project_id}/envelope/\",status=\"{}\"}";
    let ok = server.metric(&route.replace("{}", "200")).await;
    let limited = server.metric(&route.replace("{}", "429")).await;
    assert_eq!(ok, 10.0, "the burst is accepted");
    assert_eq!(
        limited, 1.0,
        "after one 429 the SDK sends nothing during Retry-After"
    );
    assert_eq!(
        server.store.count_events(server.project_id).await.unwrap(),
        10
    );
    assert_eq!(
        server
            .metric("mesher_outcomes_total{reason=\"rate_limited\"}")
            .await,
        1.0
    );
    server.stop().await.unwrap();
}
