//! The issue lifecycle on both backends, with controlled time: regression, resolve in next
//! release, escalation (on ingest and by the periodic sweep), discard, delete, assignment,
//! activity and distinct users (ISSUE-01 … ISSUE-05, GROUP-05).

mod common;

use std::sync::Arc;

use mesher_protocol::{EventId, Level};
use mesher_store::*;
use time::OffsetDateTime;
use time::macros::datetime;

conformance!(
    a_resolved_issue_regresses_on_a_new_event,
    resolved_in_next_release_regresses_only_on_a_newer_release,
    resolved_in_next_release_falls_back_to_release_dates,
    resolve_in_next_release_without_a_release_uses_the_project_latest,
    an_archived_issue_escalates_on_a_spike,
    a_busy_baseline_raises_the_escalation_bar,
    the_sweep_escalates_and_ages_new_issues,
    discarded_fingerprints_drop_events_until_the_tombstone_goes,
    deleting_an_issue_deletes_its_events,
    issues_are_assigned_to_members_only,
    distinct_users_are_counted,
);

const T: OffsetDateTime = datetime!(2026-11-01 10:30:00 UTC);

async fn setup(store: &Arc<dyn Store>) -> (i64, i64) {
    let org = store.create_org("O", "o").await.unwrap();
    let p = store
        .create_project(&NewProject {
            org_id: org.id,
            name: "P",
            slug: "p",
            platform: None,
        })
        .await
        .unwrap();
    (org.id, p.id)
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn event(project_id: i64, fingerprint: &str, at: OffsetDateTime) -> NewEvent {
    let n = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&n.to_be_bytes());
    id[8] = 0xee;
    let bytes = br#"{"message":"x"}"#.to_vec();
    NewEvent {
        project_id,
        event_id: EventId::from_bytes(id),
        fingerprint: fingerprint.into(),
        timestamp: at,
        received_at: at,
        level: Level::Error,
        title: "Boom".into(),
        culprit: None,
        environment: None,
        release: None,
        search_text: "boom".into(),
        tags: vec![],
        user_key: None,
        grouping: r#"{"kind":"message","components":["boom"]}"#.into(),
        payload_size: bytes.len() as u32,
        payload: compress_payload(&bytes),
    }
}

fn with_release(mut e: NewEvent, release: &str) -> NewEvent {
    e.release = Some(release.into());
    e
}

async fn write(store: &Arc<dyn Store>, events: Vec<NewEvent>) -> Vec<WriteOutcome> {
    store.write_events(Arc::new(events)).await.unwrap()
}

fn issue_of(out: &[WriteOutcome]) -> i64 {
    match out[0] {
        WriteOutcome::Stored { issue_id, .. }
        | WriteOutcome::Discarded { issue_id }
        | WriteOutcome::Capped { issue_id, .. } => issue_id,
        WriteOutcome::Duplicate => panic!("duplicate"),
    }
}

async fn kinds(store: &Arc<dyn Store>, id: i64) -> Vec<String> {
    store
        .list_activity(id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.kind)
        .collect()
}

async fn a_resolved_issue_regresses_on_a_new_event(store: Arc<dyn Store>) {
    let (_, p) = setup(&store).await;
    let id = issue_of(&write(&store, vec![event(p, "f", T)]).await);
    let resolved = store
        .set_issue_status(id, StatusChange::Resolve, None, T)
        .await
        .unwrap();
    assert_eq!(resolved.status, IssueStatus::Resolved);
    assert!(resolved.resolved_at.is_some());
    // Resolving again changes nothing and records nothing.
    store
        .set_issue_status(id, StatusChange::Resolve, None, T)
        .await
        .unwrap();

    let out = write(&store, vec![event(p, "f", T + time::Duration::minutes(5))]).await;
    assert_eq!(out[0].stored(), Some((id, Some(IssueChange::Regressed))));
    let issue = store.issue(id).await.unwrap().unwrap();
    assert_eq!(issue.status, IssueStatus::Unresolved);
    assert_eq!(issue.substatus.as_deref(), Some("regressed"));
    assert_eq!(issue.resolved_at, None);
    assert_eq!(issue.event_count, 2);
    assert_eq!(kinds(&store, id).await, ["resolved", "regression"]);
}

/// Asserts that each event, written alone, is stored in issue `id` without changing it and that
/// the issue stays resolved.
async fn no_regression(store: &Arc<dyn Store>, id: i64, events: Vec<NewEvent>) {
    for e in events {
        let release = e.release.clone();
        let out = write(store, vec![e]).await;
        assert_eq!(out[0].stored(), Some((id, None)), "release {release:?}");
        assert_eq!(
            store.issue(id).await.unwrap().unwrap().status,
            IssueStatus::Resolved,
            "release {release:?}"
        );
    }
}

/// Asserts that `e` regresses issue `id`, recording its release.
async fn regresses(store: &Arc<dyn Store>, id: i64, e: NewEvent) {
    let release = e.release.clone();
    let out = write(store, vec![e]).await;
    assert_eq!(out[0].stored(), Some((id, Some(IssueChange::Regressed))));
    let issue = store.issue(id).await.unwrap().unwrap();
    assert_eq!(issue.status, IssueStatus::Unresolved);
    assert_eq!(issue.substatus.as_deref(), Some("regressed"));
    assert_eq!(issue.resolved_in_release, None);
    let activity = store.list_activity(id).await.unwrap();
    assert_eq!(activity.last().unwrap().kind, "regression");
    assert_eq!(
        activity.last().unwrap().data["release"].as_str(),
        release.as_deref()
    );
}

/// Issue 12, row 3: resolved in the next release after `app@1.0.0`, versions of `app` compare
/// as versions: `app@0.9.0`, first seen after the resolution, is older and does not reopen the
/// issue (nor does a pre-release of 1.0.0, the same release or an event without a release);
/// `app@1.0.1` does.
async fn resolved_in_next_release_regresses_only_on_a_newer_release(store: Arc<dyn Store>) {
    let (_, p) = setup(&store).await;
    let before = now() - time::Duration::hours(1);
    let id = issue_of(
        &write(
            &store,
            vec![with_release(event(p, "f", before), "app@1.0.0")],
        )
        .await,
    );
    let issue = store
        .set_issue_status(id, StatusChange::ResolveInNextRelease, None, now())
        .await
        .unwrap();
    assert_eq!(issue.resolved_in_release.as_deref(), Some("app@1.0.0"));

    let later = now() + time::Duration::minutes(1);
    no_regression(
        &store,
        id,
        vec![
            with_release(event(p, "f", later), "app@1.0.0"),
            event(p, "f", later),
            with_release(event(p, "f", later), "app@0.9.0"),
            with_release(event(p, "f", later), "app@1.0.0-rc.1"),
        ],
    )
    .await;
    regresses(&store, id, with_release(event(p, "f", later), "app@1.0.1")).await;
}

/// Issue 12, row 3: releases that are not versions of one package compare by when the project
/// first saw them, as Sentry compares release dates: resolved in the next release after
/// `build-b`, the older `build-a` does not reopen the issue, `build-c` (first seen after
/// `build-b`, even though before the resolution) does.
async fn resolved_in_next_release_falls_back_to_release_dates(store: Arc<dyn Store>) {
    let (_, p) = setup(&store).await;
    let ago = |h| now() - time::Duration::hours(h);
    write(
        &store,
        vec![with_release(event(p, "other", ago(3)), "build-a")],
    )
    .await;
    let id = issue_of(&write(&store, vec![with_release(event(p, "f", ago(2)), "build-b")]).await);
    write(
        &store,
        vec![with_release(event(p, "other", ago(1)), "build-c")],
    )
    .await;
    let issue = store
        .set_issue_status(id, StatusChange::ResolveInNextRelease, None, now())
        .await
        .unwrap();
    assert_eq!(issue.resolved_in_release.as_deref(), Some("build-b"));

    let later = now() + time::Duration::minutes(1);
    no_regression(
        &store,
        id,
        vec![
            with_release(event(p, "f", later), "build-b"),
            with_release(event(p, "f", later), "build-a"),
            event(p, "f", later),
        ],
    )
    .await;
    regresses(&store, id, with_release(event(p, "f", later), "build-c")).await;
}

/// Issue 12, row 13: resolving an issue without a release in the next release anchors on the
/// project's latest release (the one first seen last); with no release in the project at all
/// it is refused and changes nothing.
async fn resolve_in_next_release_without_a_release_uses_the_project_latest(store: Arc<dyn Store>) {
    let (_, p) = setup(&store).await;
    let org = store.create_org("O2", "o2").await.unwrap();
    let empty = store
        .create_project(&NewProject {
            org_id: org.id,
            name: "Q",
            slug: "q",
            platform: None,
        })
        .await
        .unwrap()
        .id;
    let bare = issue_of(&write(&store, vec![event(empty, "f", T)]).await);
    let err = store
        .set_issue_status(bare, StatusChange::ResolveInNextRelease, None, now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NoReleaseData), "{err}");
    assert_eq!(
        err.to_string(),
        "No release data present in the system to form a basis for 'Next Release'"
    );
    assert_eq!(
        store.issue(bare).await.unwrap().unwrap().status,
        IssueStatus::Unresolved
    );
    assert!(kinds(&store, bare).await.is_empty());

    let ago = |h| now() - time::Duration::hours(h);
    write(
        &store,
        vec![with_release(event(p, "a", ago(2)), "app@2.0.0")],
    )
    .await;
    write(
        &store,
        vec![with_release(event(p, "b", ago(1)), "app@1.5.0")],
    )
    .await;
    let id = issue_of(&write(&store, vec![event(p, "f", ago(1))]).await);
    let issue = store
        .set_issue_status(id, StatusChange::ResolveInNextRelease, None, now())
        .await
        .unwrap();
    assert_eq!(issue.status, IssueStatus::Resolved);
    assert_eq!(issue.resolved_in_release.as_deref(), Some("app@1.5.0"));
    let activity = store.list_activity(id).await.unwrap();
    assert_eq!(activity[0].data["current_release"], "app@1.5.0");
    let later = now() + time::Duration::minutes(1);
    no_regression(
        &store,
        id,
        vec![with_release(event(p, "f", later), "app@1.5.0")],
    )
    .await;
    regresses(&store, id, with_release(event(p, "f", later), "app@1.6.0")).await;
}

async fn an_archived_issue_escalates_on_a_spike(store: Arc<dyn Store>) {
    let (_, p) = setup(&store).await;
    let id = issue_of(&write(&store, vec![event(p, "f", T - time::Duration::days(2))]).await);
    store
        .set_issue_status(id, StatusChange::Archive(ArchiveUntil::Escalating), None, T)
        .await
        .unwrap();
    // Ten events in the last hour: not more than ten.
    let out = write(&store, (0..10).map(|_| event(p, "f", T)).collect()).await;
    assert!(
        out.iter().all(|o| o.stored() == Some((id, None))),
        "{out:?}"
    );
    assert_eq!(
        store.issue(id).await.unwrap().unwrap().status,
        IssueStatus::Archived
    );
    let out = write(&store, vec![event(p, "f", T)]).await;
    assert_eq!(out[0].stored(), Some((id, Some(IssueChange::Escalated))));
    let issue = store.issue(id).await.unwrap().unwrap();
    assert_eq!(
        (issue.status, issue.substatus.as_deref()),
        (IssueStatus::Unresolved, Some("escalating"))
    );
    let activity = store.list_activity(id).await.unwrap();
    assert_eq!(activity.last().unwrap().kind, "escalation");
    assert_eq!(activity.last().unwrap().data["last_hour"], 11.0);
}

async fn a_busy_baseline_raises_the_escalation_bar(store: Arc<dyn Store>) {
    let (_, p) = setup(&store).await;
    // Ten events an hour for the week before: the forecast is about 5 times that plus the
    // weekday-weighted average (59.2; see the archive module's unit tests).
    let history: Vec<NewEvent> = (2..=169)
        .flat_map(|h| (0..10).map(move |_| (h, T - time::Duration::hours(h))))
        .map(|(_, at)| event(p, "busy", at))
        .collect();
    let id = issue_of(&write(&store, history).await);
    let issue = store
        .set_issue_status(id, StatusChange::Archive(ArchiveUntil::Escalating), None, T)
        .await
        .unwrap();
    assert_eq!(issue.archive.unwrap().expected_volume, Some(59.2));
    write(&store, (0..59).map(|_| event(p, "busy", T)).collect()).await;
    assert_eq!(
        store.issue(id).await.unwrap().unwrap().status,
        IssueStatus::Archived,
        "59 < 59.2"
    );
    let out = write(&store, vec![event(p, "busy", T)]).await;
    assert_eq!(out[0].stored(), Some((id, Some(IssueChange::Escalated))));
}

async fn the_sweep_escalates_and_ages_new_issues(store: Arc<dyn Store>) {
    let (_, p) = setup(&store).await;
    let id = issue_of(&write(&store, vec![event(p, "spiky", T - time::Duration::days(2))]).await);
    let archived_at = T - time::Duration::hours(1);
    store
        .set_issue_status(
            id,
            StatusChange::Archive(ArchiveUntil::Escalating),
            None,
            archived_at,
        )
        .await
        .unwrap();
    // Eleven events stamped ahead of the server's clock: on arrival their hour has not begun,
    // so ingest does not see a spike; the sweep does once that hour comes.
    let ahead: Vec<NewEvent> = (0..11)
        .map(|_| {
            let mut e = event(p, "spiky", T);
            e.received_at = T - time::Duration::minutes(50);
            e
        })
        .collect();
    let out = write(&store, ahead).await;
    assert!(
        out.iter()
            .all(|o| matches!(o, WriteOutcome::Stored { change: None, .. }))
    );
    let quiet = issue_of(&write(&store, vec![event(p, "quiet", T)]).await);
    store
        .set_issue_status(
            quiet,
            StatusChange::Archive(ArchiveUntil::Escalating),
            None,
            T,
        )
        .await
        .unwrap();

    assert_eq!(store.sweep_issues(T).await.unwrap(), vec![id]);
    let issue = store.issue(id).await.unwrap().unwrap();
    assert_eq!(issue.substatus.as_deref(), Some("escalating"));
    assert_eq!(issue.archive, None);
    let escalation = store.list_activity(id).await.unwrap().pop().unwrap();
    assert_eq!(escalation.kind, "escalation");
    assert_eq!(escalation.data["observed_volume"], 11.0);
    assert_eq!(escalation.data["expected_volume"], 10.0);
    assert_eq!(
        store.issue(quiet).await.unwrap().unwrap().status,
        IssueStatus::Archived
    );
    // Two hours later the spike is over.
    assert!(
        store
            .sweep_issues(T + time::Duration::hours(3))
            .await
            .unwrap()
            .is_empty()
    );

    let fresh = issue_of(&write(&store, vec![event(p, "fresh", T)]).await);
    assert_eq!(
        store
            .issue(fresh)
            .await
            .unwrap()
            .unwrap()
            .substatus
            .as_deref(),
        Some("new")
    );
    store
        .sweep_issues(T + time::Duration::days(8))
        .await
        .unwrap();
    assert_eq!(
        store
            .issue(fresh)
            .await
            .unwrap()
            .unwrap()
            .substatus
            .as_deref(),
        Some("ongoing")
    );
}

async fn discarded_fingerprints_drop_events_until_the_tombstone_goes(store: Arc<dyn Store>) {
    let (_, p) = setup(&store).await;
    let id = issue_of(&write(&store, vec![event(p, "noise", T)]).await);
    store
        .set_issue_status(id, StatusChange::Discard, None, T)
        .await
        .unwrap();
    let out = write(&store, vec![event(p, "noise", T), event(p, "noise", T)]).await;
    assert_eq!(out, vec![WriteOutcome::Discarded { issue_id: id }; 2]);
    // Discarding deleted the issue's events (issue 12, row 10); the tombstone keeps its count.
    assert_eq!(store.issue(id).await.unwrap().unwrap().event_count, 1);
    assert_eq!(store.count_events(p).await.unwrap(), 0);
    assert_eq!(kinds(&store, id).await, ["discarded"]);

    store.delete_issue(id).await.unwrap();
    let out = write(&store, vec![event(p, "noise", T)]).await;
    assert!(
        matches!(out[0], WriteOutcome::Stored { issue_id, change: Some(IssueChange::Created), .. } if issue_id != id),
        "{out:?}"
    );
}

async fn deleting_an_issue_deletes_its_events(store: Arc<dyn Store>) {
    let (_, p) = setup(&store).await;
    let events = vec![
        event(p, "gone", T),
        event(p, "gone", T),
        event(p, "kept", T),
    ];
    let first_id = events[0].event_id;
    let out = write(&store, events).await;
    let id = issue_of(&out);
    store
        .set_issue_status(id, StatusChange::Resolve, None, T)
        .await
        .unwrap();
    store.delete_issue(id).await.unwrap();
    assert!(store.issue(id).await.unwrap().is_none());
    assert!(store.event(p, first_id).await.unwrap().is_none());
    assert_eq!(store.count_events(p).await.unwrap(), 1);
    assert!(store.list_activity(id).await.unwrap().is_empty());
    assert!(matches!(
        store.delete_issue(id).await,
        Err(StoreError::NotFound("issue"))
    ));
    // The fingerprint starts a new issue.
    let again = write(&store, vec![event(p, "gone", T)]).await;
    let WriteOutcome::Stored {
        issue_id,
        change: Some(IssueChange::Created),
        ..
    } = again[0]
    else {
        panic!("{again:?}")
    };
    assert_ne!(issue_id, id);
}

async fn issues_are_assigned_to_members_only(store: Arc<dyn Store>) {
    let (org, p) = setup(&store).await;
    let new_user = |email: &'static str| NewUser {
        email,
        name: "U",
        password_hash: "x",
    };
    let member = store.create_user(&new_user("m@example.com")).await.unwrap();
    let stranger = store.create_user(&new_user("s@example.com")).await.unwrap();
    store
        .add_member(org, member.id, Role::Member)
        .await
        .unwrap();
    let id = issue_of(&write(&store, vec![event(p, "f", T)]).await);

    let issue = store
        .assign_issue(id, Some(member.id), Some(member.id))
        .await
        .unwrap();
    assert_eq!(issue.assignee_id, Some(member.id));
    let err = store
        .assign_issue(id, Some(stranger.id), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Invalid {
                field: "assignee",
                ..
            }
        ),
        "{err}"
    );
    let issue = store.assign_issue(id, None, Some(member.id)).await.unwrap();
    assert_eq!(issue.assignee_id, None);
    let activity = store.list_activity(id).await.unwrap();
    assert_eq!(
        activity
            .iter()
            .map(|a| (a.kind.as_str(), a.actor_id))
            .collect::<Vec<_>>(),
        [
            ("assigned", Some(member.id)),
            ("unassigned", Some(member.id))
        ]
    );
    assert_eq!(activity[0].data["assignee_id"], member.id);
}

async fn distinct_users_are_counted(store: Arc<dyn Store>) {
    let (_, p) = setup(&store).await;
    let user = |u: &str| {
        let mut e = event(p, "f", T);
        e.user_key = Some(format!("id:{u}"));
        e
    };
    let id = issue_of(
        &write(
            &store,
            vec![user("a"), user("b"), user("a"), event(p, "f", T)],
        )
        .await,
    );
    assert_eq!(store.issue(id).await.unwrap().unwrap().user_count, 2);
    write(&store, vec![user("c"), user("b")]).await;
    let issue = store.issue(id).await.unwrap().unwrap();
    assert_eq!(issue.user_count, 3);
    assert_eq!(issue.event_count, 6);
    assert_eq!(issue.grouping.unwrap()["components"][0], "boom");
}
