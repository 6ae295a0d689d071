//! Distinct users per issue on both backends (issue 12, row 8): exact up to 10,000 users, then
//! within 2 %; a user seen again is not counted again; pre-V7 sketches keep counting; deleting
//! an issue deletes its users.

mod common;
#[path = "support/events.rs"]
mod support;

use std::sync::Arc;

use mesher_store::testing::{Backend, TestDb};
use mesher_store::*;
use support::Ev;
use time::OffsetDateTime;
use time::macros::datetime;

conformance!(counts_are_exact_to_ten_thousand_then_within_two_percent);

const T: OffsetDateTime = datetime!(2026-11-01 10:30:00 UTC);

/// The pipeline's default batch size.
const BATCH: usize = 1000;

async fn project(store: &Arc<dyn Store>) -> i64 {
    support::project(store, "p").await.1
}

/// An event of `fingerprint` by `user` (`None`: no user).
fn event(project_id: i64, fingerprint: &str, user: Option<String>) -> NewEvent {
    let mut e = Ev::new(project_id, "f", T).build();
    e.fingerprint = fingerprint.into();
    e.user_key = user;
    e
}

/// Writes one event per user of `users` to the issue of `fingerprint`, in pipeline-sized
/// batches; returns the issue.
async fn send_users(
    store: &Arc<dyn Store>,
    p: i64,
    fingerprint: &str,
    users: std::ops::Range<u32>,
) -> i64 {
    let all: Vec<u32> = users.collect();
    let mut issue = 0;
    for chunk in all.chunks(BATCH) {
        let events = chunk
            .iter()
            .map(|u| event(p, fingerprint, Some(format!("id:user-{u}"))))
            .collect();
        let out = store.write_events(Arc::new(events)).await.unwrap();
        match out[0] {
            WriteOutcome::Stored { issue_id, .. } => issue = issue_id,
            ref other => panic!("not stored: {other:?}"),
        }
    }
    issue
}

async fn users_of(store: &Arc<dyn Store>, issue: i64) -> i64 {
    store.issue(issue).await.unwrap().unwrap().user_count
}

/// Issue 12, row 8 and acceptance 3: 1, 4, 25, 500 and 10,000 distinct users are counted
/// exactly (the 256-register sketch showed 4 as 3, 25 as 26, 500 as 532), 20,000 within 2 %;
/// users seen before, in an earlier batch or the same one, are not counted again, neither in
/// the exact set nor once the issue has moved to its sketch.
async fn counts_are_exact_to_ten_thousand_then_within_two_percent(store: Arc<dyn Store>) {
    let p = project(&store).await;
    let mut sent = 0;
    let mut issue = 0;
    for n in [1, 4, 25, 500, 10_000] {
        issue = send_users(&store, p, "f", sent..n).await;
        sent = n;
        assert_eq!(users_of(&store, issue).await, i64::from(n), "{n} users");
    }
    // Known users again, in one batch with repeats inside it: nothing changes.
    let again: Vec<NewEvent> = (0..BATCH as u32)
        .map(|u| event(p, "f", Some(format!("id:user-{}", u % 300))))
        .collect();
    store.write_events(Arc::new(again)).await.unwrap();
    assert_eq!(users_of(&store, issue).await, 10_000);

    send_users(&store, p, "f", sent..20_000).await;
    let estimate = users_of(&store, issue).await;
    let error = (estimate - 20_000).abs() as f64 / 20_000.0;
    assert!(error < 0.02, "{estimate} for 20,000 users");
    // The sketch holds the users of the exact set too: they do not count again.
    send_users(&store, p, "f", 0..2_000).await;
    send_users(&store, p, "f", 15_000..20_000).await;
    assert_eq!(users_of(&store, issue).await, estimate);
    let issue = store.issue(issue).await.unwrap().unwrap();
    assert_eq!(issue.event_count, 20_000 + BATCH as i64 + 7_000);
    // Another issue's users are its own.
    let other = send_users(&store, p, "g", 0..3).await;
    assert_eq!(users_of(&store, other).await, 3);
}

/// The raw SQL the store offers no call for: the state a pre-V7 database left, and whether
/// rows are left behind.
async fn sql(db: &TestDb, backend: Backend, statement: &str) -> i64 {
    match backend {
        Backend::Sqlite => {
            let path = db.url().strip_prefix("sqlite://").unwrap().to_string();
            let statement = statement.to_string();
            tokio::task::spawn_blocking(move || {
                let c = rusqlite::Connection::open(path).unwrap();
                let mut stmt = c.prepare(&statement).unwrap();
                let mut rows = stmt.query([]).unwrap();
                match rows.next().unwrap() {
                    Some(row) => row.get(0).unwrap(),
                    None => 0,
                }
            })
            .await
            .unwrap()
        }
        Backend::Postgres => {
            let (client, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            let rows = client.query(statement, &[]).await.unwrap();
            rows.first().map_or(0, |r| r.get(0))
        }
    }
}

/// Issue 12, row 8: an issue whose users were counted in a 256-register sketch before
/// migration V7 keeps counting in it, and deleting an issue deletes its exact users.
async fn legacy_sketches_keep_counting_and_deleted_issues_leave_no_users(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store();
    let p = project(&store).await;
    let legacy = send_users(&store, p, "legacy", 0..1).await;
    // What the old writer left: a 256-register sketch of 50 users and its estimate.
    let mut registers = vec![0u8; 256];
    for u in 0..50u32 {
        // Register and rank as the old sketch set them, from the stable user hash.
        let h = user_hash(&format!("id:old-{u}"));
        let rank = ((h >> 8).trailing_zeros() + 1).min(57) as u8;
        let r = &mut registers[(h & 255) as usize];
        *r = (*r).max(rank);
    }
    let hex: String = registers.iter().map(|b| format!("{b:02x}")).collect();
    let blob = match backend {
        Backend::Sqlite => format!("x'{hex}'"),
        Backend::Postgres => format!("'\\x{hex}'::bytea"),
    };
    sql(
        &db,
        backend,
        &format!(
            "UPDATE issues SET users_hll = {blob}, user_count = 50 WHERE id = {legacy} RETURNING id"
        ),
    )
    .await;
    sql(&db, backend, "DELETE FROM issue_users RETURNING issue_id").await;
    send_users(&store, p, "legacy", 0..10).await;
    let count = users_of(&store, legacy).await;
    assert!(
        (55..=65).contains(&count),
        "50 old users and 10 new: {count}"
    );
    assert_eq!(
        sql(
            &db,
            backend,
            &format!("SELECT count(*) FROM issue_users WHERE issue_id = {legacy}")
        )
        .await,
        0,
        "a legacy issue does not start an exact set"
    );

    let exact = send_users(&store, p, "exact", 0..40).await;
    let rows = format!("SELECT count(*) FROM issue_users WHERE issue_id = {exact}");
    assert_eq!(sql(&db, backend, &rows).await, 40);
    store.delete_issue(exact).await.unwrap();
    assert_eq!(sql(&db, backend, &rows).await, 0);
}

/// The persisted user hash (FNV-1a with a SplitMix64 finalizer), as the store computes it.
fn user_hash(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

mod raw {
    use mesher_store::testing::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_legacy_sketches_keep_counting_and_deleted_issues_leave_no_users() {
        super::legacy_sketches_keep_counting_and_deleted_issues_leave_no_users(Backend::Sqlite)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_legacy_sketches_keep_counting_and_deleted_issues_leave_no_users() {
        super::legacy_sketches_keep_counting_and_deleted_issues_leave_no_users(Backend::Postgres)
            .await;
    }
}
