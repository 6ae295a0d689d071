//! Retention from the outside (issue 17): with controlled time, a sweep deletes the events past
//! their project's retention while the issues keep their counts, and the API says what expired
//! (RETAIN-01, RETAIN-02) and what the project stores (RETAIN-03); a running node sweeps on its
//! own clock within a minute of its start, and publishes the storage figures in `/metrics`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use mesher_server::jobs::{Pace, sweep};
use mesher_store::testing::{Backend, TestDb};
use mesher_store::{ProjectUpdate, Store};
use reqwest::Method;
use serde_json::json;
use time::OffsetDateTime;

use common::TestServer;
use common::api::{Api, ingest, owner_token};

on_both_backends!(
    expired_events_go_and_issues_stay_with_their_counts,
    a_node_sweeps_on_its_own_clock_soon_after_it_starts,
);

async fn sweep_at(store: &dyn Store, now: OffsetDateTime) -> mesher_server::jobs::SweepReport {
    sweep(store, now, Pace::FLAT_OUT, &|| true, |_| async { true })
        .await
        .unwrap()
}

/// RETAIN-01, RETAIN-02, RETAIN-03 through the API, the clock moved by hand: two issues in a
/// project that keeps one day (another project keeps the default 90, so on PostgreSQL this one
/// is swept by batches, not by partition drops); two days later their events are gone, the
/// issues stay listed with their counts, and the API says every event expired.
async fn expired_events_go_and_issues_stay_with_their_counts(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = Api::new(&s, Some(owner_token(&s).await));
    let p = s.project_id;
    mesher_server::accounts::create_project(s.store.as_ref(), s.org_id, "Keeps", None, None)
        .await
        .unwrap();
    api.ok(
        Method::PATCH,
        &format!("/api/v1/projects/{p}"),
        Some(json!({"retention_days": 1})),
    )
    .await;
    for _ in 0..3 {
        ingest(
            &s,
            json!({"message": "old failure", "fingerprint": ["old"]}),
        )
        .await;
    }
    ingest(
        &s,
        json!({"message": "steady failure", "fingerprint": ["steady"]}),
    )
    .await;
    s.wait_for_events(4).await;
    // Uploaded source maps follow the project's retention too (issue 18).
    let map = mesher_store::NewArtifact {
        kind: mesher_store::ArtifactKind::SourceMap,
        url: "~/app.min.js.map".into(),
        debug_id: Some("3b394457-5d7b-57c0-b113-3a4c5ed2ef4e".into()),
        sourcemap_url: None,
        content: b"{}".to_vec(),
    };
    s.store
        .store_bundle(&mesher_store::NewBundle {
            org_id: s.org_id,
            project_ids: &[p],
            bundle_id: "b",
            release: None,
            dist: None,
            files: &[map],
            chunks: &[],
            now: OffsetDateTime::now_utc(),
        })
        .await
        .unwrap();
    let project = api
        .ok(Method::GET, &format!("/api/v1/projects/{p}"), None)
        .await;
    assert!(
        project["stats"]["storage_bytes"].as_i64().unwrap() > 0,
        "{project}"
    );
    assert_eq!(project["stats"]["events_expired_before"], json!(null));
    let issues = api
        .ok(Method::GET, &format!("/api/v1/projects/{p}/issues"), None)
        .await;
    let id = issues["data"][0]["id"].as_i64().unwrap();
    let detail = api
        .ok(Method::GET, &format!("/api/v1/issues/{id}"), None)
        .await;
    assert!(detail.get("events_expired").is_none(), "{detail}");

    let later = OffsetDateTime::now_utc() + time::Duration::days(2);
    let report = sweep_at(s.store.as_ref(), later).await;
    assert_eq!(report.events_deleted, 4);
    assert_eq!(report.artifacts_deleted, 1);
    assert_eq!(sweep_at(s.store.as_ref(), later).await.events_deleted, 0);

    let project = api
        .ok(Method::GET, &format!("/api/v1/projects/{p}"), None)
        .await;
    assert_eq!(project["stats"]["events"], 0);
    assert_eq!(project["stats"]["issues"], 2);
    assert_eq!(project["stats"]["storage_bytes"], 0);
    assert!(project["stats"]["events_expired_before"].is_string());
    let issues = api
        .ok(Method::GET, &format!("/api/v1/projects/{p}/issues"), None)
        .await;
    let issues = issues["data"].as_array().unwrap();
    assert_eq!(
        issues.len(),
        2,
        "issues whose every event expired stay listed"
    );
    let mut counts = Vec::new();
    for issue in issues {
        let id = issue["id"].as_i64().unwrap();
        let detail = api
            .ok(Method::GET, &format!("/api/v1/issues/{id}"), None)
            .await;
        assert_eq!(detail["events_expired"]["all"], true, "{detail}");
        assert_eq!(detail["first_seen"], issue["first_seen"]);
        let events = api
            .ok(Method::GET, &format!("/api/v1/issues/{id}/events"), None)
            .await;
        assert_eq!(events["data"].as_array().unwrap().len(), 0);
        counts.push(issue["count"].as_i64().unwrap());
    }
    counts.sort();
    assert_eq!(counts, [1, 3]);
}

/// RETAIN-01 on the real clock: a database holding events 40 days old in a project that keeps
/// 30; a node started on it with hourly sweeps deletes them within a minute, and `/metrics`
/// shows the project's storage.
async fn a_node_sweeps_on_its_own_clock_soon_after_it_starts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store: Arc<dyn Store> = db.store();
    let org = mesher_server::accounts::create_org(store.as_ref(), "Old Org", None)
        .await
        .unwrap();
    let (project, _) =
        mesher_server::accounts::create_project(store.as_ref(), org.id, "Old", None, None)
            .await
            .unwrap();
    store
        .update_project(
            project.id,
            &ProjectUpdate {
                retention_days: Some(30),
                ..ProjectUpdate::default()
            },
        )
        .await
        .unwrap();
    let long_ago = OffsetDateTime::now_utc() - time::Duration::days(40);
    let events = (0..20)
        .map(|_| common::stored_event(project.id, "from long ago", long_ago))
        .collect();
    store.write_events(Arc::new(events)).await.unwrap();
    assert_eq!(store.count_events(project.id).await.unwrap(), 20);

    let s = TestServer::start_on(db, |settings| {
        settings.cluster.retention_sweep_interval = Duration::from_secs(3600);
    })
    .await;
    // Both the rows and the project's figures: on PostgreSQL the node's first upkeep moves
    // these events out of the default partition into their week's, and a count planned just
    // before that partition's attach may run just after the move and see none for an instant.
    let mut left = (20, (20, 0));
    for _ in 0..600 {
        let storage = s.store.project_storage(project.id).await.unwrap();
        left = (
            s.store.count_events(project.id).await.unwrap(),
            (storage.events, storage.bytes),
        );
        if left == (0, (0, 0)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        left,
        (0, (0, 0)),
        "the node swept within a minute of its start"
    );
    let storage = s.store.project_storage(project.id).await.unwrap();
    assert!(storage.expired_before.is_some());
    assert_eq!(
        s.store.list_issues(project.id).await.unwrap()[0].event_count,
        20
    );
    // The figures reach /metrics (every round publishes them, the sweep's own round included).
    let series = format!("mesher_storage_bytes{{project=\"{}\"}}", s.project_id);
    let mut seen = false;
    for _ in 0..100 {
        let body = reqwest::get(format!("{}/metrics", s.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if body.contains(&series) {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "{series} in /metrics");
}
