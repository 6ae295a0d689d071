//! Conformance of the event write path on both backends: group commit, idempotency, issue
//! upserts (INGEST-01, GROUP-04, GROUP-05).

mod common;

use std::sync::Arc;

use mesher_protocol::{EventId, Level};
use mesher_store::*;
use time::OffsetDateTime;
use time::macros::datetime;

conformance!(
    a_batch_groups_events_into_issues,
    writes_are_idempotent_on_event_id,
    late_events_do_not_overwrite_the_summary,
    last_release_and_environment_follow_the_latest_timestamp_in_a_batch,
    a_late_straggler_does_not_rewrite_last_release_and_environment,
    stored_events_read_back_exactly,
    unknown_projects_are_refused,
    concurrent_writers_create_one_issue_with_an_exact_count,
    nul_characters_are_stored,
);

async fn project(store: &Arc<dyn Store>) -> i64 {
    let org = store.create_org("O", "o").await.unwrap();
    store
        .create_project(&NewProject {
            org_id: org.id,
            name: "P",
            slug: "p",
            platform: None,
        })
        .await
        .unwrap()
        .id
}

pub fn event(project_id: i64, n: u8, fingerprint: &str, ts: OffsetDateTime) -> NewEvent {
    let json = serde_json::json!({"event_id": EventId::from_bytes([n; 16]).to_string(), "message": format!("event {n}")});
    let bytes = serde_json::to_vec(&json).unwrap();
    NewEvent {
        project_id,
        event_id: EventId::from_bytes([n; 16]),
        fingerprint: fingerprint.to_string(),
        timestamp: ts,
        received_at: ts,
        level: Level::Error,
        title: format!("Error {n}"),
        culprit: Some(format!("app.views in handler_{n}")),
        environment: Some("production".into()),
        release: None,
        search_text: format!("event number {n}"),
        tags: vec![
            ("browser".into(), "Firefox".into()),
            ("level".into(), "error".into()),
        ],
        user_key: None,
        grouping: r#"{"kind":"message"}"#.into(),
        payload_size: bytes.len() as u32,
        payload: compress_payload(&bytes),
    }
}

const T0: OffsetDateTime = datetime!(2026-11-01 10:00:00 UTC);

async fn a_batch_groups_events_into_issues(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let t = |s: i64| T0 + time::Duration::seconds(s);
    let batch = vec![
        event(p, 1, "aaa", t(0)),
        event(p, 2, "bbb", t(1)),
        event(p, 3, "aaa", t(2)),
    ];
    let out = store.write_events(Arc::new(batch)).await.unwrap();
    let WriteOutcome::Stored {
        issue_id: a,
        change: Some(IssueChange::Created),
        ..
    } = out[0]
    else {
        panic!("{out:?}")
    };
    let WriteOutcome::Stored {
        issue_id: b,
        change: Some(IssueChange::Created),
        ..
    } = out[1]
    else {
        panic!("{out:?}")
    };
    assert_eq!(out[2].stored(), Some((a, None)));
    let row = |o: &WriteOutcome| match *o {
        WriteOutcome::Stored { row, .. } => row,
        _ => panic!("{o:?}"),
    };
    let first_rows = (row(&out[0]), row(&out[2]));
    assert_ne!(a, b);

    let issue = store.issue(a).await.unwrap().unwrap();
    assert_eq!(issue.event_count, 2);
    assert_eq!(issue.first_seen, t(0));
    assert_eq!(issue.last_seen, t(2));
    assert_eq!(issue.title, "Error 3");
    assert_eq!(issue.status, IssueStatus::Unresolved);
    assert_eq!(issue.substatus.as_deref(), Some("new"));
    assert_eq!(issue.last_environment.as_deref(), Some("production"));

    // A later batch adds to the same issue.
    let out = store
        .write_events(Arc::new(vec![event(p, 4, "aaa", t(10))]))
        .await
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].stored(), Some((a, None)));
    // Rows grow with insertion: a peer reads a committed batch by their range.
    assert!(
        matches!((first_rows, out[0]), ((r0, r2), WriteOutcome::Stored { row, .. }) if r0 < r2 && r2 < row),
        "{first_rows:?} {out:?}"
    );
    assert_eq!(store.issue(a).await.unwrap().unwrap().event_count, 3);
    assert_eq!(store.count_events(p).await.unwrap(), 4);
    let issues = store.list_issues(p).await.unwrap();
    assert_eq!(issues.iter().map(|i| i.id).collect::<Vec<_>>(), vec![a, b]);
}

async fn writes_are_idempotent_on_event_id(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let first = store
        .write_events(Arc::new(vec![
            event(p, 1, "aaa", T0),
            event(p, 1, "aaa", T0),
        ]))
        .await
        .unwrap();
    assert!(matches!(first[0], WriteOutcome::Stored { .. }));
    assert_eq!(
        first[1],
        WriteOutcome::Duplicate,
        "a repeated id in one batch"
    );
    let again = store
        .write_events(Arc::new(vec![event(p, 1, "aaa", T0)]))
        .await
        .unwrap();
    assert_eq!(again, vec![WriteOutcome::Duplicate]);
    // Same id under another fingerprint: still the same event, and no empty issue appears.
    let moved = store
        .write_events(Arc::new(vec![event(p, 1, "zzz", T0)]))
        .await
        .unwrap();
    assert_eq!(moved, vec![WriteOutcome::Duplicate]);
    let issues = store.list_issues(p).await.unwrap();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].event_count, 1);
    assert_eq!(store.count_events(p).await.unwrap(), 1);
}

async fn late_events_do_not_overwrite_the_summary(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let later = T0 + time::Duration::hours(1);
    store
        .write_events(Arc::new(vec![event(p, 1, "aaa", later)]))
        .await
        .unwrap();
    let mut old = event(p, 2, "aaa", T0);
    old.level = Level::Warning;
    store.write_events(Arc::new(vec![old])).await.unwrap();
    let issue = &store.list_issues(p).await.unwrap()[0];
    assert_eq!(issue.title, "Error 1");
    assert_eq!(issue.level, "error");
    assert_eq!(issue.first_seen, T0);
    assert_eq!(issue.last_seen, later);
    assert_eq!(issue.event_count, 2);
}

fn tagged(mut e: NewEvent, release: Option<&str>, environment: Option<&str>) -> NewEvent {
    e.release = release.map(str::to_string);
    e.environment = environment.map(str::to_string);
    e
}

async fn last_release_and_environment(store: &Arc<dyn Store>, p: i64) -> (String, String) {
    let issue = &store.list_issues(p).await.unwrap()[0];
    (
        issue.last_release.clone().unwrap_or_default(),
        issue.last_environment.clone().unwrap_or_default(),
    )
}

/// Issue 12, row 11: in one batch, last_release and last_environment come from the event with
/// the latest timestamp, as the title does, not from the last to arrive; an event without a
/// release (or environment) leaves the one of the latest event that has it.
async fn last_release_and_environment_follow_the_latest_timestamp_in_a_batch(
    store: Arc<dyn Store>,
) {
    let p = project(&store).await;
    let t = |m: i64| T0 + time::Duration::minutes(m);
    let batch = vec![
        tagged(event(p, 1, "aaa", t(10)), Some("app@2.0"), Some("prod")),
        tagged(event(p, 2, "aaa", t(0)), Some("app@1.0"), Some("staging")),
        // The newest event has neither: the newest release and environment stand.
        tagged(event(p, 3, "aaa", t(20)), None, None),
    ];
    store.write_events(Arc::new(batch)).await.unwrap();
    assert_eq!(
        last_release_and_environment(&store, p).await,
        ("app@2.0".into(), "prod".into())
    );
    assert_eq!(store.list_issues(p).await.unwrap()[0].title, "Error 3");
}

/// Issue 12, row 11: a straggler arriving in a later batch with an older timestamp does not
/// rewrite last_release and last_environment; a newer event does, and an event without them
/// keeps them.
async fn a_late_straggler_does_not_rewrite_last_release_and_environment(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let t = |m: i64| T0 + time::Duration::minutes(m);
    let write = |e: NewEvent| {
        let store = store.clone();
        async move { store.write_events(Arc::new(vec![e])).await.unwrap() }
    };
    write(tagged(
        event(p, 1, "aaa", t(10)),
        Some("app@2.0"),
        Some("prod"),
    ))
    .await;
    write(tagged(
        event(p, 2, "aaa", t(0)),
        Some("app@1.0"),
        Some("staging"),
    ))
    .await;
    assert_eq!(
        last_release_and_environment(&store, p).await,
        ("app@2.0".into(), "prod".into())
    );
    // Newer, without either: nothing to replace them with.
    write(tagged(event(p, 3, "aaa", t(20)), None, None)).await;
    // Older than that one but newer than app@2.0's event: its release is the latest known.
    write(tagged(event(p, 4, "aaa", t(15)), Some("app@3.0"), None)).await;
    assert_eq!(
        last_release_and_environment(&store, p).await,
        ("app@3.0".into(), "prod".into())
    );
    write(tagged(
        event(p, 5, "aaa", t(12)),
        Some("app@1.5"),
        Some("dev"),
    ))
    .await;
    assert_eq!(
        last_release_and_environment(&store, p).await,
        ("app@3.0".into(), "dev".into())
    );
    let issue = &store.list_issues(p).await.unwrap()[0];
    assert_eq!(issue.last_seen, t(20));
    assert_eq!(issue.title, "Error 3");
}

async fn stored_events_read_back_exactly(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let mut e = event(p, 7, "aaa", T0);
    e.release = Some("app@1.2.3".into());
    let out = store.write_events(Arc::new(vec![e])).await.unwrap();
    let WriteOutcome::Stored { issue_id, .. } = out[0] else {
        panic!()
    };
    let stored = store
        .event(p, EventId::from_bytes([7; 16]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.event_id.to_string(), "07".repeat(16));
    assert_eq!(stored.issue_id, issue_id);
    assert_eq!(stored.timestamp, T0);
    assert_eq!(stored.release.as_deref(), Some("app@1.2.3"));
    assert_eq!(stored.environment.as_deref(), Some("production"));
    assert_eq!(
        stored.tags,
        vec![
            ("browser".into(), "Firefox".into()),
            ("level".into(), "error".into())
        ]
    );
    assert_eq!(stored.payload_json().unwrap()["message"], "event 7");
    let id = |n: u8| EventId::from_bytes([n; 16]);
    assert!(store.event(p, id(8)).await.unwrap().is_none());
    assert!(store.event(p + 1, id(7)).await.unwrap().is_none());
    assert_eq!(
        store
            .issue(issue_id)
            .await
            .unwrap()
            .unwrap()
            .last_release
            .as_deref(),
        Some("app@1.2.3")
    );
}

async fn unknown_projects_are_refused(store: Arc<dyn Store>) {
    let err = store
        .write_events(Arc::new(vec![event(999, 1, "aaa", T0)]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound("project")), "{err}");
}

async fn concurrent_writers_create_one_issue_with_an_exact_count(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let tasks: Vec<_> = (0..8u8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for round in 0..5u8 {
                    let batch: Vec<NewEvent> = (0..4u8)
                        .map(|k| {
                            let mut e = event(p, 0, "race", T0);
                            e.event_id = EventId::from_bytes([
                                w, round, k, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                            ]);
                            e
                        })
                        .collect();
                    store.write_events(Arc::new(batch)).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let issues = store.list_issues(p).await.unwrap();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].event_count, 8 * 5 * 4);
    assert_eq!(store.count_events(p).await.unwrap(), 160);
}

async fn nul_characters_are_stored(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let mut e = event(p, 9, "nul\0print", T0);
    e.title = "bad\0title".into();
    e.search_text = "nul\0text".into();
    e.tags = vec![("k\0".into(), "v\0".into())];
    let out = store.write_events(Arc::new(vec![e])).await.unwrap();
    assert!(matches!(out[0], WriteOutcome::Stored { .. }), "{out:?}");
    let stored = store
        .event(p, EventId::from_bytes([9; 16]))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.title.starts_with("bad"));
}
