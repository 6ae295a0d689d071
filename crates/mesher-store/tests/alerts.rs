//! Alerts on both backends (issue 16): rules, the writer's issue changes waiting for them,
//! firing once under concurrency with cooldowns, the deliveries' outbox, alert states, and the
//! minute rollups thresholds count (ALERT-01 … ALERT-05).

mod common;
#[path = "support/events.rs"]
mod support;

use std::sync::Arc;

use mesher_store::*;
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use support::{Ev, project, write};

conformance!(
    rules_are_created_listed_changed_and_deleted,
    issue_changes_wait_for_the_rules_until_consumed,
    escalations_by_the_writer_and_the_sweep_wait_for_the_rules_too,
    an_alert_fires_once_under_concurrency,
    cooldowns_and_open_alerts_hold_back_a_second_firing,
    deliveries_are_claimed_retried_and_logged,
    alerts_move_forward_through_their_states,
    minute_rollups_count_recent_events_per_issue,
    issues_over_a_user_count_are_found,
);

const T: OffsetDateTime = datetime!(2026-11-01 10:30:00 UTC);

async fn rule(store: &Arc<dyn Store>, project_id: i64, trigger: &str, cooldown: i64) -> AlertRule {
    store
        .create_alert_rule(&NewAlertRule {
            project_id,
            name: "r",
            trigger: &json!({"type": trigger}),
            filters: &json!({}),
            actions: &json!([{"type": "webhook", "url": "http://example.com/h"}]),
            secret: "s3cret",
            cooldown_minutes: cooldown,
            enabled: true,
            created_by: None,
        })
        .await
        .unwrap()
}

fn new_alert(rule: &AlertRule, issue_id: Option<i64>, key: &str) -> NewAlert {
    NewAlert {
        rule_id: rule.id,
        project_id: rule.project_id,
        issue_id,
        dedupe_key: key.into(),
        kind: "new_issue".into(),
        summary: "New issue".into(),
        auto_resolve: false,
        skip_if_open: false,
        deliveries: vec![json!({"type": "webhook", "url": "http://example.com/h"})],
    }
}

async fn fire(store: &Arc<dyn Store>, alerts: Vec<NewAlert>, at: OffsetDateTime) -> Vec<Alert> {
    store
        .fire_alerts(&Firing {
            trigger_id: None,
            alerts,
            at,
        })
        .await
        .unwrap()
}

async fn rules_are_created_listed_changed_and_deleted(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let a = rule(&store, p, "new_issue", 5).await;
    let b = rule(&store, p, "threshold", 0).await;
    assert_eq!(a.secret, "s3cret");
    assert_eq!(a.trigger, json!({"type": "new_issue"}));
    assert_eq!(
        store.list_alert_rules(p).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(store.alert_rule(a.id).await.unwrap(), Some(a.clone()));
    let thresholds = store.enabled_alert_rules("threshold").await.unwrap();
    assert_eq!(
        thresholds.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![b.id]
    );

    let changed = store
        .update_alert_rule(
            b.id,
            &AlertRuleUpdate {
                name: "renamed",
                trigger: &json!({"type": "threshold", "count": 3}),
                filters: &json!({"environment": "production"}),
                actions: &json!([]),
                cooldown_minutes: 10,
                enabled: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.name, "renamed");
    assert_eq!(changed.secret, "s3cret", "the secret stays");
    assert!(!changed.enabled);
    assert!(
        store
            .enabled_alert_rules("threshold")
            .await
            .unwrap()
            .is_empty()
    );

    store.delete_alert_rule(a.id).await.unwrap();
    assert!(matches!(
        store.delete_alert_rule(a.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.list_alert_rules(p).await.unwrap().len(), 1);
    let missing = store
        .create_alert_rule(&NewAlertRule {
            project_id: 999_999,
            name: "x",
            trigger: &json!({"type": "new_issue"}),
            filters: &json!({}),
            actions: &json!([]),
            secret: "s",
            cooldown_minutes: 0,
            enabled: true,
            created_by: None,
        })
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

/// The writer records each issue change with its commit; claims hide a change from other
/// claimers until their lease runs out; a firing consumes it once.
async fn issue_changes_wait_for_the_rules_until_consumed(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let mut ev = Ev::new(p, "boom", T);
    ev.environment = Some("production");
    ev.tags = vec![("os", "Linux")];
    let other = Ev::new(p, "other", T);
    write(&store, vec![ev, Ev::new(p, "boom", T), other]).await;
    let mut claimed = store
        .claim_alert_triggers(T, T + Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2, "one change per new issue: {claimed:?}");
    claimed.retain(|t| t.event["environment"] == "production");
    let t = &claimed[0];
    assert_eq!(t.kind, "new_issue");
    assert_eq!(t.project_id, p);
    assert_eq!(t.event["environment"], "production");
    assert_eq!(t.event["level"], "error");
    assert_eq!(t.event["tags"]["os"], "Linux");
    assert!(
        store
            .claim_alert_triggers(T, T + Duration::seconds(30), 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed changes are not claimed again within the lease"
    );
    // A node that died holding it: the lease runs out and another takes it.
    let again = store
        .claim_alert_triggers(T + Duration::seconds(31), T + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 2);

    let r = rule(&store, p, "new_issue", 0).await;
    let firing = Firing {
        trigger_id: Some(t.id),
        alerts: vec![new_alert(
            &r,
            Some(t.issue_id),
            &format!("trigger-{}", t.id),
        )],
        at: T,
    };
    assert_eq!(store.fire_alerts(&firing).await.unwrap().len(), 1);
    assert!(
        store.fire_alerts(&firing).await.unwrap().is_empty(),
        "a consumed change fires nothing"
    );
    // Changes no rule wants go together.
    let others: Vec<i64> = again
        .iter()
        .map(|t| t.id)
        .filter(|id| *id != t.id)
        .collect();
    assert_eq!(store.drop_alert_triggers(&others).await.unwrap(), 1);
    assert_eq!(store.drop_alert_triggers(&others).await.unwrap(), 0);

    // Resolve, then a new event regresses the issue: a second change.
    store
        .set_issue_status(t.issue_id, StatusChange::Resolve, None, T)
        .await
        .unwrap();
    write(&store, vec![Ev::new(p, "boom", T + Duration::minutes(1))]).await;
    let regressed = store
        .claim_alert_triggers(T + Duration::minutes(2), T + Duration::minutes(3), 10)
        .await
        .unwrap();
    let regressed: Vec<_> = regressed
        .into_iter()
        .filter(|t| t.kind != "new_issue")
        .collect();
    assert_eq!(regressed.len(), 1);
    assert_eq!(regressed[0].kind, "regression");
    assert_eq!(regressed[0].issue_id, t.issue_id);
}

async fn an_alert_fires_once_under_concurrency(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let r = rule(&store, p, "new_issue", 0).await;
    let mut racers = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let alert = new_alert(&r, None, "same-window");
        racers.push(tokio::spawn(async move {
            fire(&store, vec![alert], T).await.len()
        }));
    }
    let mut fired = 0;
    for racer in racers {
        fired += racer.await.unwrap();
    }
    assert_eq!(fired, 1);
    let alerts = store.list_alerts(p, None, 100).await.unwrap();
    assert_eq!(alerts.len(), 1);
    let deliveries = store.alert_deliveries(alerts[0].id).await.unwrap();
    assert_eq!(deliveries.len(), 1, "one delivery per action");
    assert_eq!(deliveries[0].0.state, DeliveryState::Pending);
    assert_eq!(
        store.alert_history(alerts[0].id).await.unwrap()[0].state,
        AlertState::Active
    );
    // A disabled or deleted rule fires nothing.
    store.delete_alert_rule(r.id).await.unwrap();
    assert!(
        fire(&store, vec![new_alert(&r, None, "later")], T)
            .await
            .is_empty()
    );
}

async fn cooldowns_and_open_alerts_hold_back_a_second_firing(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let issues: Vec<i64> = write(&store, vec![Ev::new(p, "one", T), Ev::new(p, "two", T)])
        .await
        .into_iter()
        .map(|o| match o {
            WriteOutcome::Stored { issue_id, .. } => issue_id,
            other => panic!("{other:?}"),
        })
        .collect();
    let (one, two) = (Some(issues[0]), Some(issues[1]));
    let r = rule(&store, p, "regression", 10).await;
    assert_eq!(
        fire(&store, vec![new_alert(&r, one, "a")], T).await.len(),
        1
    );
    // Within ten minutes, for the same issue: held back; another issue is not.
    assert!(
        fire(
            &store,
            vec![new_alert(&r, one, "b")],
            T + Duration::minutes(9)
        )
        .await
        .is_empty()
    );
    assert_eq!(
        fire(
            &store,
            vec![new_alert(&r, two, "c")],
            T + Duration::minutes(9)
        )
        .await
        .len(),
        1
    );
    assert_eq!(
        fire(
            &store,
            vec![new_alert(&r, one, "d")],
            T + Duration::minutes(11)
        )
        .await
        .len(),
        1
    );

    // Thresholds: one alert per episode, while it is open.
    let th = rule(&store, p, "threshold", 0).await;
    let mut open = new_alert(&th, None, "w1");
    open.skip_if_open = true;
    let first = fire(&store, vec![open.clone()], T).await;
    assert_eq!(first.len(), 1);
    open.dedupe_key = "w2".into();
    assert!(
        fire(&store, vec![open.clone()], T + Duration::minutes(5))
            .await
            .is_empty()
    );
    store
        .set_alert_state(first[0].id, AlertState::Resolved, None, Some("cleared"), T)
        .await
        .unwrap();
    assert_eq!(
        fire(&store, vec![open], T + Duration::minutes(6))
            .await
            .len(),
        1
    );
    assert_eq!(store.open_alerts(th.id).await.unwrap().len(), 1);
    // An issue deleted before its alert fires gets none.
    store.delete_issue(issues[1]).await.unwrap();
    assert!(
        fire(
            &store,
            vec![new_alert(&r, two, "e")],
            T + Duration::hours(1)
        )
        .await
        .is_empty()
    );
}

async fn deliveries_are_claimed_retried_and_logged(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let r = rule(&store, p, "new_issue", 0).await;
    let alert = fire(&store, vec![new_alert(&r, None, "k")], T)
        .await
        .remove(0);
    let lease = Duration::seconds(15);
    let due = store
        .claim_deliveries("n1", T, T + lease, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert!(
        store
            .claim_deliveries("n1", T, T + lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A node that restarts releases what it held; another node's claims stay.
    assert_eq!(store.release_deliveries("n2").await.unwrap(), 0);
    assert_eq!(store.release_deliveries("n1").await.unwrap(), 1);
    let due = store
        .claim_deliveries("n1", T, T + lease, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    let d = &due[0];
    assert_eq!(d.alert_id, alert.id);
    assert_eq!(d.target["url"], "http://example.com/h");
    let failed = DeliveryAttempt {
        at: T,
        status: Some(500),
        error: Some("HTTP 500".into()),
        duration_ms: 12,
    };
    store
        .record_attempt(
            d.id,
            &failed,
            AttemptResult::RetryAt(T + Duration::seconds(10)),
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_deliveries("n1", T + Duration::seconds(5), T + lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "not before it is due"
    );
    let retry = store
        .claim_deliveries(
            "n1",
            T + Duration::seconds(10),
            T + Duration::seconds(25),
            10,
        )
        .await
        .unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].attempts, 1);
    let ok = DeliveryAttempt {
        at: T + Duration::seconds(10),
        status: Some(200),
        error: None,
        duration_ms: 3,
    };
    store
        .record_attempt(d.id, &ok, AttemptResult::Delivered)
        .await
        .unwrap();
    let (delivery, attempts) = store.alert_deliveries(alert.id).await.unwrap().remove(0);
    assert_eq!(delivery.state, DeliveryState::Delivered);
    assert_eq!(delivery.attempts, 2);
    assert_eq!(delivery.delivered_at, Some(T + Duration::seconds(10)));
    assert_eq!(attempts, vec![failed, ok]);
    assert!(
        store
            .claim_deliveries("n1", T + Duration::hours(1), T + Duration::hours(2), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn alerts_move_forward_through_their_states(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let user = store
        .create_user(&NewUser {
            email: "a@example.com",
            name: "A",
            password_hash: "x",
        })
        .await
        .unwrap();
    let r = rule(&store, p, "new_issue", 0).await;
    let alert = fire(&store, vec![new_alert(&r, None, "k")], T)
        .await
        .remove(0);
    assert_eq!(alert.state, AlertState::Active);
    let acked = store
        .set_alert_state(
            alert.id,
            AlertState::Acknowledged,
            Some(user.id),
            None,
            T + Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(acked.state, AlertState::Acknowledged);
    let err = store
        .set_alert_state(alert.id, AlertState::Active, Some(user.id), None, T)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    store
        .set_alert_state(
            alert.id,
            AlertState::Resolved,
            Some(user.id),
            Some("fixed"),
            T + Duration::minutes(2),
        )
        .await
        .unwrap();
    let history = store.alert_history(alert.id).await.unwrap();
    let states: Vec<_> = history.iter().map(|h| h.state).collect();
    assert_eq!(
        states,
        vec![
            AlertState::Active,
            AlertState::Acknowledged,
            AlertState::Resolved
        ]
    );
    assert_eq!(history[2].actor_id, Some(user.id));
    assert_eq!(history[2].note.as_deref(), Some("fixed"));
    assert_eq!(
        store
            .list_alerts(p, Some(AlertState::Resolved), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .list_alerts(p, Some(AlertState::Active), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store
            .set_alert_state(0, AlertState::Resolved, None, None, T)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn minute_rollups_count_recent_events_per_issue(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let mut events = Vec::new();
    for i in 0..5 {
        let mut e = Ev::new(p, "a", T + Duration::minutes(i));
        e.environment = Some(if i % 2 == 0 { "production" } else { "staging" });
        events.push(e);
    }
    events.push(Ev::new(p, "b", T + Duration::minutes(4)));
    let outcomes = write(&store, events).await;
    let issue = |i: usize| match outcomes[i] {
        WriteOutcome::Stored { issue_id, .. } => issue_id,
        other => panic!("{other:?}"),
    };
    let (a, b) = (issue(0), issue(5));
    let all = store.recent_issue_counts(p, T, None).await.unwrap();
    assert_eq!(all, vec![(a, 5), (b, 1)]);
    // From minute 2 on: events at minutes 2, 3, 4.
    let recent = store
        .recent_issue_counts(p, T + Duration::minutes(2), None)
        .await
        .unwrap();
    assert_eq!(recent, vec![(a, 3), (b, 1)]);
    let production = store
        .recent_issue_counts(p, T, Some("production"))
        .await
        .unwrap();
    assert_eq!(production, vec![(a, 3)]);
    assert_eq!(
        store
            .prune_minute_counts(T + Duration::minutes(2))
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.recent_issue_counts(p, T, None).await.unwrap(), recent);
}

async fn issues_over_a_user_count_are_found(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let with_user = |fingerprint: &'static str, user: &str| {
        let mut e = Ev::new(p, fingerprint, T).build();
        e.user_key = Some(format!("id:{user}"));
        e
    };
    let mut events: Vec<NewEvent> = (0..4)
        .map(|i| with_user("many", &format!("u{i}")))
        .collect();
    events.push(with_user("few", "u0"));
    store.write_events(Arc::new(events)).await.unwrap();
    let over = store
        .issues_over_users(p, 3, T - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(over.len(), 1);
    assert_eq!(over[0].1, 4);
    assert!(
        store
            .issues_over_users(p, 3, T + Duration::hours(1))
            .await
            .unwrap()
            .is_empty()
    );
}

/// An archived issue that escalates, on an event (the writer) or when its archive's time is up
/// (the sweep), records an `escalation` change for the rules.
async fn escalations_by_the_writer_and_the_sweep_wait_for_the_rules_too(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let issue = |o: &WriteOutcome| match o {
        WriteOutcome::Stored { issue_id, .. } => *issue_id,
        other => panic!("{other:?}"),
    };
    let counted = issue(&write(&store, vec![Ev::new(p, "counted", T)]).await[0]);
    let timed = issue(&write(&store, vec![Ev::new(p, "timed", T)]).await[0]);
    let lease = Duration::seconds(1);
    store.claim_alert_triggers(T, T + lease, 10).await.unwrap();
    let until_two_more = ArchiveUntil::EventCount {
        count: 2,
        window_minutes: None,
    };
    store
        .set_issue_status(counted, StatusChange::Archive(until_two_more), None, T)
        .await
        .unwrap();
    store
        .set_issue_status(
            timed,
            StatusChange::Archive(ArchiveUntil::Duration { minutes: 5 }),
            None,
            T,
        )
        .await
        .unwrap();
    let later = T + Duration::minutes(1);
    write(
        &store,
        vec![Ev::new(p, "counted", later), Ev::new(p, "counted", later)],
    )
    .await;
    store.sweep_issues(T + Duration::minutes(6)).await.unwrap();
    let mut changes: Vec<(i64, String)> = store
        .claim_alert_triggers(T + Duration::minutes(7), T + Duration::minutes(8), 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.kind != "new_issue")
        .map(|t| (t.issue_id, t.kind))
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        vec![
            (counted, "escalation".to_string()),
            (timed, "escalation".to_string())
        ]
    );
}

/// PostgreSQL: the alert engine share-locks an issue while it fires for it (so that the issue
/// is not deleted under it), and a write batch with an event of that issue must not wait for
/// it. The batch's upsert used to take the key-exclusive lock: a firing holding one issue and a
/// batch holding another, each wanting the other's, deadlocked (66 times in a 30-minute
/// two-node soak).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_batch_does_not_wait_for_a_firings_share_lock() {
    let db = mesher_store::testing::TestDb::postgres().await;
    let store = db.store();
    let (_, p) = project(&store, "locks").await;
    let now = OffsetDateTime::now_utc();
    write(&store, vec![Ev::new(p, "held", now)]).await;
    let issue = store.list_issues(p).await.unwrap()[0].id;
    let (client, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.batch_execute("BEGIN").await.unwrap();
    client
        .query_one(
            "SELECT 1 FROM issues WHERE id = $1 FOR KEY SHARE",
            &[&issue],
        )
        .await
        .unwrap();
    let batch = write(&store, vec![Ev::new(p, "held", now)]);
    let written = tokio::time::timeout(std::time::Duration::from_secs(5), batch).await;
    client.batch_execute("ROLLBACK").await.unwrap();
    assert!(written.is_ok(), "the batch waited for the share lock");
    assert_eq!(store.list_issues(p).await.unwrap()[0].event_count, 2);
    // The upsert still tells an existing issue from a new one.
    assert_eq!(store.project_counts(p).await.unwrap(), (2, 1));
}
