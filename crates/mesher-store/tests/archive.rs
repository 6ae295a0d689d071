//! Archives that stick, on both backends with controlled time (issue 12, rows 1, 2 and 5): the
//! volume expected when archiving until escalating, the other archive conditions, and the
//! week after which new, regressed and escalating issues become ongoing.

mod common;
#[path = "support/events.rs"]
mod support;

use std::sync::Arc;

use mesher_store::*;
use support::Ev;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

conformance!(
    thirty_events_archived_do_not_escalate_on_the_next_one,
    a_quiet_archived_issue_does_not_escalate_at_the_sweep,
    regressed_and_escalating_issues_become_ongoing_a_week_later,
    a_late_sweep_ends_an_archive_and_ages_the_issue_in_one_pass,
    archived_forever_stays_archived,
    archived_for_a_duration_comes_back_when_it_ends,
    archived_until_more_events_comes_back_after_them,
    archived_until_more_users_comes_back_after_them,
);

const T: OffsetDateTime = datetime!(2026-11-01 10:30:00 UTC);

async fn project(store: &Arc<dyn Store>) -> i64 {
    support::project(store, "p").await.1
}

fn event(project_id: i64, at: OffsetDateTime) -> NewEvent {
    Ev::new(project_id, "f", at).build()
}

fn events(p: i64, n: usize, at: OffsetDateTime) -> Vec<NewEvent> {
    (0..n).map(|_| event(p, at)).collect()
}

/// Writes events and returns their issue and what happened to it.
async fn write(store: &Arc<dyn Store>, events: Vec<NewEvent>) -> (i64, Option<IssueChange>) {
    let out = store.write_events(Arc::new(events)).await.unwrap();
    match out[0] {
        WriteOutcome::Stored {
            issue_id, change, ..
        } => (issue_id, change),
        ref other => panic!("{other:?}"),
    }
}

async fn archive(
    store: &Arc<dyn Store>,
    id: i64,
    until: ArchiveUntil,
    at: OffsetDateTime,
) -> Issue {
    store
        .set_issue_status(id, StatusChange::Archive(until), None, at)
        .await
        .unwrap()
}

async fn state(store: &Arc<dyn Store>, id: i64) -> (IssueStatus, Option<String>) {
    let issue = store.issue(id).await.unwrap().unwrap();
    (issue.status, issue.substatus)
}

async fn last_activity(store: &Arc<dyn Store>, id: i64) -> IssueActivity {
    store.list_activity(id).await.unwrap().pop().unwrap()
}

fn archived() -> (IssueStatus, Option<String>) {
    (IssueStatus::Archived, None)
}

fn escalating() -> (IssueStatus, Option<String>) {
    (IssueStatus::Unresolved, Some("escalating".into()))
}

/// Issue 12, row 1: an issue with 30 events, archived, does not escalate on the next single
/// event: the 30 set the bar (10 × its busiest hour) and are not observed; a real spike after
/// the archive still escalates, and says why.
async fn thirty_events_archived_do_not_escalate_on_the_next_one(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let (id, _) = write(&store, events(p, 30, T)).await;
    let issue = archive(&store, id, ArchiveUntil::Escalating, T).await;
    assert_eq!(
        issue.substatus.as_deref(),
        Some("archived_until_escalating")
    );
    let a = issue.archive.unwrap();
    assert_eq!(
        (a.until, a.expected_volume),
        (ArchiveUntil::Escalating, Some(300.0))
    );
    assert_eq!(
        last_activity(&store, id).await.data["expected_volume"],
        300.0
    );

    let (_, change) = write(&store, events(p, 1, T + Duration::minutes(1))).await;
    assert_eq!(change, None);
    assert_eq!(state(&store, id).await.0, archived().0);
    assert!(
        store
            .sweep_issues(T + Duration::minutes(5))
            .await
            .unwrap()
            .is_empty()
    );
    let (_, change) = write(&store, events(p, 299, T + Duration::minutes(10))).await;
    assert_eq!(change, None, "300 new events are not more than 300");
    let (_, change) = write(&store, events(p, 1, T + Duration::minutes(10))).await;
    assert_eq!(change, Some(IssueChange::Escalated));
    assert_eq!(state(&store, id).await, escalating());
    let data = last_activity(&store, id).await.data;
    assert_eq!(data["reason"], "volume");
    assert_eq!(data["observed_volume"], 301.0);
    assert_eq!(data["last_hour"], 301.0);
    assert_eq!(data["expected_volume"], 300.0);
}

/// Issue 12, row 1: an issue with 20 events and no new one does not escalate at the next
/// 5-minute sweep.
async fn a_quiet_archived_issue_does_not_escalate_at_the_sweep(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let (id, _) = write(&store, events(p, 20, T)).await;
    archive(
        &store,
        id,
        ArchiveUntil::Escalating,
        T + Duration::minutes(1),
    )
    .await;
    for minutes in [5, 10, 60] {
        assert!(
            store
                .sweep_issues(T + Duration::minutes(minutes))
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(state(&store, id).await.0, IssueStatus::Archived);
}

/// Issue 12, row 2: regressed and escalating issues become ongoing a week after they became
/// so, like new ones a week after they were first seen (Sentry's auto_ongoing_issues).
async fn regressed_and_escalating_issues_become_ongoing_a_week_later(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let (id, _) = write(&store, events(p, 1, T - Duration::days(10))).await;
    store.sweep_issues(T - Duration::days(2)).await.unwrap();
    assert_eq!(
        state(&store, id).await.1.as_deref(),
        Some("ongoing"),
        "new, 8 days on"
    );
    store
        .set_issue_status(id, StatusChange::Resolve, None, T - Duration::days(1))
        .await
        .unwrap();
    let (_, change) = write(&store, events(p, 1, T)).await;
    assert_eq!(change, Some(IssueChange::Regressed));
    store.sweep_issues(T + Duration::days(6)).await.unwrap();
    assert_eq!(state(&store, id).await.1.as_deref(), Some("regressed"));
    store
        .sweep_issues(T + Duration::days(7) + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(state(&store, id).await.1.as_deref(), Some("ongoing"));

    archive(
        &store,
        id,
        ArchiveUntil::EventCount {
            count: 1,
            window_minutes: None,
        },
        T + Duration::days(8),
    )
    .await;
    let (_, change) = write(&store, events(p, 1, T + Duration::days(9))).await;
    assert_eq!(change, Some(IssueChange::Escalated));
    store.sweep_issues(T + Duration::days(15)).await.unwrap();
    assert_eq!(state(&store, id).await, escalating(), "6 days escalating");
    store
        .sweep_issues(T + Duration::days(16) + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(state(&store, id).await.1.as_deref(), Some("ongoing"));
}

/// Issue 12, rows 2 and 5: a node whose sweep runs ten days after a one-hour archive ended
/// makes the issue escalating as of the end and, a week having passed since, ongoing.
async fn a_late_sweep_ends_an_archive_and_ages_the_issue_in_one_pass(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let (id, _) = write(&store, events(p, 1, T)).await;
    archive(&store, id, ArchiveUntil::Duration { minutes: 60 }, T).await;
    assert_eq!(
        store.sweep_issues(T + Duration::days(10)).await.unwrap(),
        vec![id]
    );
    assert_eq!(
        state(&store, id).await,
        (IssueStatus::Unresolved, Some("ongoing".into()))
    );
    let data = last_activity(&store, id).await.data;
    assert_eq!(data["reason"], "duration");
}

/// Issue 12, row 5: archived forever, no volume brings it back.
async fn archived_forever_stays_archived(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let (id, _) = write(&store, events(p, 1, T - Duration::days(1))).await;
    let issue = archive(&store, id, ArchiveUntil::Forever, T).await;
    assert_eq!(issue.substatus.as_deref(), Some("archived_forever"));
    let (_, change) = write(&store, events(p, 500, T + Duration::minutes(1))).await;
    assert_eq!(change, None);
    assert!(
        store
            .sweep_issues(T + Duration::minutes(5))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(state(&store, id).await.0, IssueStatus::Archived);
}

/// Issue 12, row 5: archived for an hour, the sweep brings it back once the hour is over, and
/// so does an event arriving after it.
async fn archived_for_a_duration_comes_back_when_it_ends(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let (id, _) = write(&store, events(p, 1, T)).await;
    let issue = archive(&store, id, ArchiveUntil::Duration { minutes: 60 }, T).await;
    assert_eq!(
        issue.substatus.as_deref(),
        Some("archived_until_condition_met")
    );
    assert_eq!(
        issue.archive.unwrap().expires_at,
        Some(T + Duration::hours(1))
    );
    assert!(
        store
            .sweep_issues(T + Duration::minutes(59))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.sweep_issues(T + Duration::minutes(61)).await.unwrap(),
        vec![id]
    );
    assert_eq!(state(&store, id).await, escalating());
    assert_eq!(store.issue(id).await.unwrap().unwrap().archive, None);
    let a = last_activity(&store, id).await;
    assert_eq!(
        (a.kind.as_str(), a.data["reason"].as_str()),
        ("escalation", Some("duration"))
    );

    archive(
        &store,
        id,
        ArchiveUntil::Duration { minutes: 30 },
        T + Duration::hours(2),
    )
    .await;
    let (_, change) = write(
        &store,
        events(p, 1, T + Duration::hours(2) + Duration::minutes(10)),
    )
    .await;
    assert_eq!(change, None);
    let (_, change) = write(&store, events(p, 1, T + Duration::hours(3))).await;
    assert_eq!(change, Some(IssueChange::Escalated));
}

/// Issue 12, row 5: until 3 more events, and until 3 more within an hour.
async fn archived_until_more_events_comes_back_after_them(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let (id, _) = write(&store, events(p, 5, T)).await;
    archive(
        &store,
        id,
        ArchiveUntil::EventCount {
            count: 3,
            window_minutes: None,
        },
        T,
    )
    .await;
    assert_eq!(
        write(&store, events(p, 2, T + Duration::hours(5))).await.1,
        None
    );
    assert_eq!(
        write(&store, events(p, 1, T + Duration::hours(9))).await.1,
        Some(IssueChange::Escalated)
    );
    let data = last_activity(&store, id).await.data;
    assert_eq!(
        (data["reason"].as_str(), data["observed"].as_i64()),
        (Some("event_count"), Some(3))
    );

    let at = T + Duration::days(1);
    let until = ArchiveUntil::EventCount {
        count: 3,
        window_minutes: Some(60),
    };
    let issue = archive(&store, id, until, at).await;
    assert_eq!(issue.archive.unwrap().until, until);
    assert_eq!(
        write(&store, events(p, 2, at + Duration::minutes(10)))
            .await
            .1,
        None
    );
    // The hour is over: the two do not count any more.
    assert_eq!(
        write(&store, events(p, 2, at + Duration::minutes(80)))
            .await
            .1,
        None
    );
    assert_eq!(state(&store, id).await.0, IssueStatus::Archived);
    assert_eq!(
        write(&store, events(p, 1, at + Duration::minutes(85)))
            .await
            .1,
        Some(IssueChange::Escalated)
    );
    assert_eq!(state(&store, id).await, escalating());
}

/// Issue 12, row 5: until 2 more users: a user already counted is not one more.
async fn archived_until_more_users_comes_back_after_them(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let by = |user: &str, at| {
        let mut e = event(p, at);
        e.user_key = Some(format!("id:{user}"));
        e
    };
    let (id, _) = write(&store, vec![by("a", T)]).await;
    archive(
        &store,
        id,
        ArchiveUntil::UserCount {
            count: 2,
            window_minutes: None,
        },
        T,
    )
    .await;
    let later = T + Duration::minutes(5);
    assert_eq!(
        write(&store, vec![by("a", later), by("a", later)]).await.1,
        None
    );
    assert_eq!(write(&store, vec![by("b", later)]).await.1, None);
    assert_eq!(
        write(&store, vec![by("c", later)]).await.1,
        Some(IssueChange::Escalated)
    );
    let data = last_activity(&store, id).await.data;
    assert_eq!(
        (data["reason"].as_str(), data["observed"].as_i64()),
        (Some("user_count"), Some(2))
    );
}
