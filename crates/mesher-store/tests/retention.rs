//! Retention on both backends (issue 17): expired events go in bounded batches, issues keep
//! their counts and first and last seen, the project's figures follow, rollups older than the
//! longest retention are pruned (RETAIN-01, RETAIN-02); SQLite gives the space back to the
//! file system and its storage figures agree with `dbstat` (RETAIN-03).

mod common;
#[path = "support/events.rs"]
mod support;

use std::sync::Arc;

use mesher_store::testing::TestDb;
use mesher_store::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use support::{Ev, project, write};

conformance!(
    expired_events_go_in_batches_and_issues_keep_their_counts,
    expiry_spares_other_projects_and_newer_events,
    deleting_an_issue_takes_its_bytes_off_the_project,
    rollups_before_the_cutoff_are_pruned,
    the_expiry_mark_passes_only_deleted_events,
);

const T: OffsetDateTime = datetime!(2026-11-01 10:30:00 UTC);

fn query(project_id: i64, text: Option<&str>) -> EventQuery {
    EventQuery {
        project_id,
        query: text.map(Into::into),
        limit: 100,
        ..EventQuery::default()
    }
}

/// RETAIN-01, RETAIN-02: 25 old events of one issue and 5 new ones; batches of 10 delete the
/// old ones; the issue keeps its count and first seen; the project's count and bytes fall by
/// exactly what went; full-text search no longer finds them.
async fn expired_events_go_in_batches_and_issues_keep_their_counts(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let mut events = Vec::new();
    for i in 0..25 {
        let mut e = Ev::new(p, "a", T - Duration::days(10) + Duration::minutes(i));
        e.text = "ancient failure";
        events.push(e);
    }
    for i in 0..5 {
        events.push(Ev::new(p, "a", T + Duration::minutes(i)));
    }
    write(&store, events).await;
    let full = store.project_storage(p).await.unwrap();
    assert_eq!(full.events, 30);
    assert!(full.bytes > 0);
    assert_eq!(full.expired_before, None);
    let per_event = full.bytes / 30;

    let cutoff = T - Duration::days(1);
    let mut batches = Vec::new();
    loop {
        let n = store.expire_events(p, cutoff, 10).await.unwrap();
        batches.push(n);
        if n < 10 {
            break;
        }
    }
    assert_eq!(batches, vec![10, 10, 5]);
    assert_eq!(store.expire_events(p, cutoff, 10).await.unwrap(), 0);

    let after = store.project_storage(p).await.unwrap();
    assert_eq!(after.events, 5);
    assert_eq!(store.count_events(p).await.unwrap(), 5);
    // Every event here has the same shape, so each took about the same bytes.
    let left = after.bytes as f64 / (per_event * 5) as f64;
    assert!((0.9..1.1).contains(&left), "bytes left {left}");
    let mark = after.expired_before.expect("the expiry is recorded");
    assert!(mark <= cutoff && mark > T - Duration::days(10), "{mark}");

    let issues = store.list_issues(p).await.unwrap();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].event_count, 30);
    assert_eq!(issues[0].first_seen, T - Duration::days(10));
    assert_eq!(issues[0].last_seen, T + Duration::minutes(4));
    let listed = store.query_events(&query(p, None)).await.unwrap();
    assert_eq!(listed.items.len(), 5);
    assert!(listed.items.iter().all(|e| e.timestamp >= T));
    let found = store
        .query_events(&query(p, Some("ancient")))
        .await
        .unwrap();
    assert!(found.items.is_empty(), "deleted events are not searchable");
    let (events, issue_count) = store.project_counts(p).await.unwrap();
    assert_eq!((events, issue_count), (5, 1));
}

/// The project's expiry mark (`expired_before`, which the issue page's "older events expired"
/// and "all expired" read) never passes an event still stored, and passes the last deleted one
/// even when the backlog is an exact multiple of the batch.
async fn the_expiry_mark_passes_only_deleted_events(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let at = |i: i64| T - Duration::days(10) + Duration::minutes(i);
    write(&store, (0..20).map(|i| Ev::new(p, "a", at(i))).collect()).await;
    let cutoff = T - Duration::days(1);
    let mark = || async {
        let storage = store.project_storage(p).await.unwrap();
        storage.expired_before.expect("the expiry is recorded")
    };
    assert_eq!(store.expire_events(p, cutoff, 10).await.unwrap(), 10);
    let first = mark().await;
    assert!(first > at(9) && first <= at(10), "{first}");
    assert_eq!(store.expire_events(p, cutoff, 10).await.unwrap(), 10);
    store.expire_events(p, cutoff, 10).await.unwrap();
    let last = mark().await;
    assert!(last > at(19) && last <= cutoff, "{last}");
}

/// RETAIN-01: a project's cutoff deletes only its own events older than it; an issue whose
/// every event expired stays listed with its counts.
async fn expiry_spares_other_projects_and_newer_events(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let (_, q) = project(&store, "q").await;
    write(
        &store,
        vec![
            Ev::new(p, "old", T - Duration::days(5)),
            Ev::new(p, "old", T - Duration::days(4)),
            Ev::new(p, "new", T),
            Ev::new(q, "old", T - Duration::days(5)),
        ],
    )
    .await;
    let q_before = store.project_storage(q).await.unwrap();
    assert_eq!(
        store
            .expire_events(p, T - Duration::days(1), 100)
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.project_storage(q).await.unwrap(), q_before);
    assert_eq!(store.count_events(q).await.unwrap(), 1);
    let issues = store.list_issues(p).await.unwrap();
    assert_eq!(issues.len(), 2, "the issue whose events all expired stays");
    let old = issues.iter().find(|i| i.title.starts_with("old")).unwrap();
    assert_eq!(old.event_count, 2);
    assert_eq!(old.last_seen, T - Duration::days(4));
    let mark = store
        .project_storage(p)
        .await
        .unwrap()
        .expired_before
        .unwrap();
    assert!(
        old.last_seen < mark,
        "the page can tell every event expired"
    );
}

/// RETAIN-03: deleting an issue takes its events' bytes off the project, exactly.
async fn deleting_an_issue_takes_its_bytes_off_the_project(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    write(&store, vec![Ev::new(p, "a", T), Ev::new(p, "a", T)]).await;
    let one = store.project_storage(p).await.unwrap().bytes;
    write(&store, vec![Ev::new(p, "b", T), Ev::new(p, "b", T)]).await;
    let two = store.project_storage(p).await.unwrap().bytes;
    assert!(two > one);
    let b = store
        .list_issues(p)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.title.starts_with("b"))
        .unwrap();
    store.delete_issue(b.id).await.unwrap();
    let left = store.project_storage(p).await.unwrap();
    assert_eq!(left.events, 2);
    assert!(
        (left.bytes - one).abs() * 10 < one,
        "{} vs {one}",
        left.bytes
    );
    assert_eq!(
        store.storage_by_project().await.unwrap(),
        vec![(p, left.bytes)]
    );
}

/// RETAIN-02: hourly rollups before the cutoff go; the issue's counts do not.
async fn rollups_before_the_cutoff_are_pruned(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    write(
        &store,
        vec![Ev::new(p, "a", T - Duration::days(400)), Ev::new(p, "a", T)],
    )
    .await;
    let issue = store.list_issues(p).await.unwrap().remove(0);
    let whole = |from: OffsetDateTime| {
        let store = store.clone();
        async move {
            store
                .issue_timeline(issue.id, from, T + Duration::hours(1), Bucket::Day)
                .await
                .unwrap()
                .iter()
                .map(|b| b.1)
                .sum::<i64>()
        }
    };
    assert_eq!(whole(T - Duration::days(401)).await, 2);
    assert!(store.prune_rollups(T - Duration::days(366)).await.unwrap() >= 2);
    assert_eq!(whole(T - Duration::days(401)).await, 1);
    assert_eq!(store.issue(issue.id).await.unwrap().unwrap().event_count, 2);
}

/// A compressible, varied JSON document of about `size` bytes, as an SDK's event is.
fn payload_json(seed: u64, size: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "frame",
        "module",
        "lineno",
        "context_line",
        "vars",
        "request",
        "headers",
        "user",
        "breadcrumbs",
        "message",
        "exception",
        "stacktrace",
        "filename",
        "function",
        "abs_path",
        "pre_context",
    ];
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut text = String::with_capacity(size + 64);
    text.push_str("{\"frames\":[");
    while text.len() < size {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let w = WORDS[(state >> 60) as usize];
        text.push_str(&format!(
            "{{\"{w}\":\"{w}_{:x}\",\"n\":{}}},",
            state >> 40,
            (state >> 20) & 0xffff
        ));
    }
    text.push_str("{}]}");
    text.into_bytes()
}

/// Events of every size an SDK sends, written in batches as the pipeline does.
async fn write_sized(store: &Arc<dyn Store>, p: i64, sizes: &[usize], at: OffsetDateTime) {
    let mut batch = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let mut e = Ev::new(p, "sized", at + Duration::seconds(i as i64)).build();
        let json = payload_json(i as u64, size);
        e.payload_size = json.len() as u32;
        e.payload = compress_payload(&json);
        e.search_text = format!("ValueError: invalid literal {i} for int() with base 10");
        batch.push(e);
        if batch.len() == 200 {
            store
                .write_events(Arc::new(std::mem::take(&mut batch)))
                .await
                .unwrap();
        }
    }
    store.write_events(Arc::new(batch)).await.unwrap();
}

/// What SQLite itself says the events take: the table, its indexes and the full-text index.
fn sqlite_events_bytes(path: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT sum(pgsize) FROM dbstat WHERE name = 'events' \
           OR name IN (SELECT name FROM sqlite_master WHERE tbl_name = 'events' AND type = 'index') \
           OR name LIKE 'events_fts%'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn sizes(mix: &str, n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let r = (i * 7919) % 1000;
            match mix {
                "small" => 800 + r * 3,
                "large" => 30_000 + r * 270,
                _ => match r % 10 {
                    0..=5 => 1_500 + r * 10,
                    6..=8 => 12_000 + r * 40,
                    _ => 100_000 + r * 200,
                },
            }
        })
        .collect()
}

/// RETAIN-03: on SQLite the project's figure is within 10 % of what `dbstat` reports for the
/// events' table and indexes, for small, large and mixed events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_storage_figures_agree_with_dbstat() {
    for mix in ["small", "mixed", "large"] {
        let db = TestDb::sqlite().await;
        let store = db.store();
        let (_, p) = project(&store, "p").await;
        write_sized(&store, p, &sizes(mix, 3000), T).await;
        let ours = store.project_storage(p).await.unwrap().bytes;
        let theirs = sqlite_events_bytes(db.url().trim_start_matches("sqlite://"));
        let ratio = ours as f64 / theirs as f64;
        eprintln!("{mix}: estimate {ours} B, dbstat {theirs} B, ratio {ratio:.3}");
        assert!(
            (0.9..=1.1).contains(&ratio),
            "{mix}: estimate {ours} vs dbstat {theirs} ({ratio:.3})"
        );
    }
}

/// RETAIN-02: after expiry, upkeep steps give the freed pages back: the file shrinks by about
/// the deleted share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upkeep_shrinks_the_file() {
    let db = TestDb::sqlite().await;
    let store = db.store();
    let path = db.url().trim_start_matches("sqlite://").to_string();
    let (_, p) = project(&store, "p").await;
    write_sized(&store, p, &sizes("mixed", 600), T - Duration::days(30)).await;
    write_sized(&store, p, &sizes("mixed", 200), T).await;
    let checkpoint = || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    };
    checkpoint();
    let full = std::fs::metadata(&path).unwrap().len();
    while store
        .expire_events(p, T - Duration::days(1), 500)
        .await
        .unwrap()
        > 0
    {}
    let mut steps = 0;
    loop {
        let upkeep = store.storage_upkeep(T, T, 256).await.unwrap();
        steps += 1;
        // Every step but the last gives back its whole allowance: a step that released one
        // page at a time would take hours over a big backlog at the sweeper's pace.
        if upkeep.more {
            assert_eq!(upkeep.pages_released, 256, "step {steps}");
        } else {
            assert!(upkeep.pages_released <= 256, "bounded steps");
            break;
        }
    }
    assert!(steps > 1, "a big release takes several steps");
    checkpoint();
    let after = std::fs::metadata(&path).unwrap().len();
    let share = after as f64 / full as f64;
    eprintln!("file {full} B → {after} B ({share:.3})");
    assert!(
        share < 0.35,
        "the file kept {share:.3} of its size after 75 % expired"
    );
    assert_eq!(store.count_events(p).await.unwrap(), 200);
}
