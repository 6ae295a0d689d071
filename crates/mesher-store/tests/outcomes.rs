//! Issue 17, RETAIN-04: outcomes per project and hour, and the per-issue hourly cap, on both
//! backends. The writer counts `accepted`, `discarded` and `capped` in the batch's transaction;
//! the edge's counts are added by `add_outcomes`; the cap holds exactly under concurrent
//! writers while every event still counts in its issue.

mod common;
#[path = "support/events.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use mesher_store::*;
use support::{Ev, project, write};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

conformance!(
    retain_04_writer_counts_accepted_capped_and_discarded,
    retain_04_cap_is_exact_under_concurrent_writers,
    retain_04_edge_outcomes_add_up_by_hour_and_range,
    retain_04_cap_setting_is_validated_and_cleared,
);

/// A round hour.
const H: OffsetDateTime = datetime!(2026-11-20 10:00:00 UTC);

async fn set_cap(store: &Arc<dyn Store>, project_id: i64, cap: Option<i64>) {
    let p = store
        .update_project(
            project_id,
            &ProjectUpdate {
                max_events_per_issue_per_hour: Some(cap),
                ..ProjectUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(p.max_events_per_issue_per_hour, cap.filter(|&k| k > 0));
}

/// Counts per reason over `[since, until)`.
async fn totals(
    store: &Arc<dyn Store>,
    project_id: i64,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for c in store
        .project_outcomes(project_id, since, until)
        .await
        .unwrap()
    {
        assert_eq!(c.project_id, project_id);
        *out.entry(c.reason).or_default() += c.count;
    }
    out
}

fn with_user(ev: Ev, user: &str) -> NewEvent {
    let mut e = ev.build();
    e.user_key = Some(format!("id:{user}"));
    e
}

async fn retain_04_writer_counts_accepted_capped_and_discarded(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "capped").await;
    set_cap(&store, p, Some(3)).await;
    // Five events of one issue in one hour, each from its own user: three stored, two capped.
    let first: Vec<NewEvent> = (0..5)
        .map(|i| with_user(Ev::new(p, "a", H + Duration::minutes(i)), &i.to_string()))
        .collect();
    let out = store.write_events(Arc::new(first.clone())).await.unwrap();
    let issue = match out[0] {
        WriteOutcome::Stored { issue_id, .. } => issue_id,
        ref o => panic!("{o:?}"),
    };
    assert!(
        out[..3]
            .iter()
            .all(|o| matches!(o, WriteOutcome::Stored { .. }))
    );
    assert_eq!(
        out[3..],
        [WriteOutcome::Capped {
            issue_id: issue,
            change: None
        }; 2]
    );
    // A later batch in that hour is all capped; the next hour starts again.
    let out = write(
        &store,
        vec![
            Ev::new(p, "a", H + Duration::minutes(30)),
            Ev::new(p, "a", H + Duration::minutes(59)),
            Ev::new(p, "a", H + Duration::minutes(61)),
        ],
    )
    .await;
    assert!(matches!(out[0], WriteOutcome::Capped { .. }), "{out:?}");
    assert!(matches!(out[1], WriteOutcome::Capped { .. }), "{out:?}");
    assert!(matches!(out[2], WriteOutcome::Stored { .. }), "{out:?}");

    // Every event counts in the issue; only those under the cap are stored.
    let i = store.issue(issue).await.unwrap().unwrap();
    assert_eq!(i.event_count, 8);
    assert_eq!(i.user_count, 5);
    assert_eq!(i.last_seen, H + Duration::minutes(61));
    assert_eq!(store.count_events(p).await.unwrap(), 4);
    assert_eq!(store.project_counts(p).await.unwrap(), (4, 1));
    let hours = store
        .issue_timeline(issue, H, H + Duration::hours(2), Bucket::Hour)
        .await
        .unwrap();
    assert_eq!(hours.iter().map(|h| h.1).collect::<Vec<_>>(), [7, 1]);
    // A capped event is not stored: its id can be read nowhere.
    assert!(store.event(p, first[4].event_id).await.unwrap().is_none());

    // A discarded issue's events are counted as discarded, retries of stored ones included.
    store
        .set_issue_status(issue, StatusChange::Discard, None, H)
        .await
        .unwrap();
    write(&store, vec![Ev::new(p, "a", H + Duration::minutes(62))]).await;
    let retry = store.write_events(Arc::new(vec![first[0].clone()])).await;
    assert_eq!(
        retry.unwrap(),
        [WriteOutcome::Discarded { issue_id: issue }]
    );

    // Outcomes are by hour of receipt (the test events are received at their timestamps).
    let all = totals(&store, p, H, H + Duration::hours(2)).await;
    assert_eq!(
        all,
        BTreeMap::from([
            ("accepted".to_string(), 4),
            ("capped".to_string(), 4),
            ("discarded".to_string(), 2),
        ])
    );
    let first_hour = totals(
        &store,
        p,
        H + Duration::minutes(10),
        H + Duration::minutes(20),
    )
    .await;
    assert_eq!(first_hour["accepted"], 3);
    assert_eq!(first_hour["capped"], 4);
    // The retry was received (as the test builds it) in the first hour, the other one later.
    assert_eq!(first_hour["discarded"], 1);
    // Without a cap nothing is held back.
    set_cap(&store, p, None).await;
    let (_, q) = project(&store, "free").await;
    let out = write(
        &store,
        (0..5)
            .map(|i| Ev::new(q, "a", H + Duration::minutes(i)))
            .collect(),
    )
    .await;
    assert!(out.iter().all(|o| matches!(o, WriteOutcome::Stored { .. })));
}

async fn retain_04_cap_is_exact_under_concurrent_writers(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "busy").await;
    set_cap(&store, p, Some(7)).await;
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let events = (0..5)
                    .map(|i| Ev::new(p, "hot", H + Duration::seconds(t * 10 + i)))
                    .collect();
                write(&store, events).await
            })
        })
        .collect();
    let mut stored = 0;
    let mut capped = 0;
    for t in tasks {
        for o in t.await.unwrap() {
            match o {
                WriteOutcome::Stored { .. } => stored += 1,
                WriteOutcome::Capped { .. } => capped += 1,
                o => panic!("{o:?}"),
            }
        }
    }
    assert_eq!((stored, capped), (7, 33));
    assert_eq!(store.count_events(p).await.unwrap(), 7);
    let issues = store.list_issues(p).await.unwrap();
    assert_eq!(issues[0].event_count, 40);
    let all = totals(&store, p, H, H + Duration::hours(1)).await;
    assert_eq!((all["accepted"], all["capped"]), (7, 33));
}

async fn retain_04_edge_outcomes_add_up_by_hour_and_range(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "edge").await;
    let count = |hour: OffsetDateTime, reason: &str, count: i64| OutcomeCount {
        project_id: p,
        hour,
        reason: reason.into(),
        count,
    };
    store
        .add_outcomes(&[
            count(H, "sampled", 5),
            // Any time in the hour counts in that hour.
            count(H + Duration::minutes(17), "sampled", 2),
            count(H + Duration::hours(1), "rate_limited", 4),
            // A project that does not exist (deleted since): dropped, the rest kept.
            OutcomeCount {
                project_id: p + 1000,
                hour: H,
                reason: "sampled".into(),
                count: 1,
            },
        ])
        .await
        .unwrap();
    store
        .add_outcomes(&[count(H, "sampled", 1), count(H, "invalid", 3)])
        .await
        .unwrap();
    store.add_outcomes(&[]).await.unwrap();
    let rows = store
        .project_outcomes(p, H, H + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(
        rows,
        [
            count(H, "invalid", 3),
            count(H, "sampled", 8),
            count(H + Duration::hours(1), "rate_limited", 4),
        ]
    );
    // The hours that overlap the range: a range inside an hour reads that hour.
    let inside = totals(
        &store,
        p,
        H + Duration::minutes(30),
        H + Duration::minutes(40),
    )
    .await;
    assert_eq!(
        inside,
        BTreeMap::from([("invalid".to_string(), 3), ("sampled".to_string(), 8)])
    );
    let later = totals(&store, p, H + Duration::hours(1), H + Duration::hours(3)).await;
    assert_eq!(later, BTreeMap::from([("rate_limited".to_string(), 4)]));
    assert!(
        totals(&store, p, H - Duration::hours(3), H)
            .await
            .is_empty()
    );
    // Deleting the project deletes its outcomes.
    store.delete_project(p).await.unwrap();
    assert!(
        store
            .project_outcomes(p, H, H + Duration::hours(2))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn retain_04_cap_setting_is_validated_and_cleared(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "settings").await;
    assert_eq!(
        store
            .project(p)
            .await
            .unwrap()
            .unwrap()
            .max_events_per_issue_per_hour,
        None
    );
    set_cap(&store, p, Some(100)).await;
    // Other changes leave it as it is.
    let renamed = store
        .update_project(
            p,
            &ProjectUpdate {
                name: Some("Renamed".into()),
                ..ProjectUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.max_events_per_issue_per_hour, Some(100));
    // 0 is "no cap", as is null.
    set_cap(&store, p, Some(0)).await;
    set_cap(&store, p, Some(5)).await;
    set_cap(&store, p, None).await;
    let bad = store
        .update_project(
            p,
            &ProjectUpdate {
                max_events_per_issue_per_hour: Some(Some(-1)),
                ..ProjectUpdate::default()
            },
        )
        .await;
    assert!(
        matches!(
            bad,
            Err(StoreError::Invalid {
                field: "max_events_per_issue_per_hour",
                ..
            })
        ),
        "{bad:?}"
    );
}
