//! The Rust `sentry` crate, unmodified but for the DSN, against a real node: every event it
//! reports is stored under the id it returned (INGEST-01, INGEST-06; issue acceptance 1).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use mesher_protocol::EventId;
use mesher_store::testing::Backend;
use sentry::protocol::{Breadcrumb, User};
use sentry::{ClientOptions, Hub, Level, Scope};

on_both_backends!(rust_sdk_events_are_stored_with_their_ids);

async fn rust_sdk_events_are_stored_with_their_ids(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let dsn = server.dsn.clone();
    let ids = tokio::task::spawn_blocking(move || {
        let mut options = ClientOptions::default();
        options.dsn = Some(dsn.parse().unwrap());
        options.release = Some("billing@2.1.0".into());
        options.environment = Some("staging".into());
        // What `sentry::init` does: the default transport and integrations.
        let options = sentry::apply_defaults(options);
        let client = Arc::new(sentry::Client::from_config(options));
        let hub = Hub::new(Some(client.clone()), Arc::new(Scope::default()));
        let warning = hub.capture_message("disk almost full", Level::Warning);
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "config.toml missing");
        let error = hub.capture_error(&io);
        hub.add_breadcrumb(Breadcrumb {
            category: Some("ui.click".into()),
            message: Some("pay button".into()),
            ..Breadcrumb::default()
        });
        hub.configure_scope(|s| {
            s.set_tag("component", "billing");
            s.set_user(Some(User {
                id: Some("42".into()),
                email: Some("ada@example.com".into()),
                ..User::default()
            }));
            s.set_fingerprint(Some(&["payment-gateway", "{{ default }}"]));
        });
        let scoped = hub.capture_message("payment declined for order 1234", Level::Error);
        assert!(
            client.flush(Some(Duration::from_secs(10))),
            "the SDK flushed"
        );
        vec![warning, error, scoped]
    })
    .await
    .unwrap();

    for id in &ids {
        assert!(!id.is_nil(), "the SDK reported an id");
    }
    server.wait_for_events(3).await;
    let store = &server.store;
    let p = server.project_id;

    let warning = store
        .event(p, EventId::from_bytes(*ids[0].as_bytes()))
        .await
        .unwrap()
        .expect("warning stored");
    assert_eq!(warning.level.as_str(), "warning");
    assert_eq!(warning.title, "disk almost full");
    assert_eq!(warning.release.as_deref(), Some("billing@2.1.0"));
    assert_eq!(warning.environment.as_deref(), Some("staging"));
    assert_eq!(warning.payload_json().unwrap()["platform"], "native");

    let error = store
        .event(p, EventId::from_bytes(*ids[1].as_bytes()))
        .await
        .unwrap()
        .expect("io error stored");
    assert_eq!(
        error.level.as_str(),
        "error",
        "Rust omits the level of errors; it defaults to error"
    );
    assert!(
        error.title.contains("config.toml missing"),
        "{}",
        error.title
    );

    let scoped = store
        .event(p, EventId::from_bytes(*ids[2].as_bytes()))
        .await
        .unwrap()
        .expect("scoped event stored");
    assert!(
        scoped
            .tags
            .contains(&("component".into(), "billing".into())),
        "{:?}",
        scoped.tags
    );
    let scoped_json = scoped.payload_json().unwrap();
    assert_eq!(scoped_json["user"]["email"], "ada@example.com");
    assert_eq!(
        scoped_json["breadcrumbs"]["values"][0]["message"],
        "pay button"
    );
    assert_eq!(scoped_json["fingerprint"][0], "payment-gateway");

    // Three different problems: three issues.
    let issues = store.list_issues(p).await.unwrap();
    assert_eq!(issues.len(), 3);
    assert!(issues.iter().all(|i| i.event_count == 1));
    server.stop().await.unwrap();
}
