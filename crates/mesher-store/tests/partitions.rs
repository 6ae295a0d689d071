//! Issue 17 on PostgreSQL: events partitioned by week, created ahead and dropped whole once
//! every retention has passed them (RETAIN-01, RETAIN-02), migration V16's conversion of an
//! existing database, and the storage figures held against the relations' own sizes
//! (RETAIN-03).

#[path = "support/sized.rs"]
mod sized;

use std::collections::BTreeMap;
use std::sync::Arc;

use mesher_store::testing::TestDb;
use mesher_store::*;
use sized::Rng;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// A Monday well before the weeks the migration creates around the real date, so that the
/// upkeep's `now` and `keep_after` decide every partition of these weeks.
const W0: OffsetDateTime = datetime!(2025-01-06 00:00 UTC);

fn week(n: i64) -> OffsetDateTime {
    W0 + Duration::weeks(n)
}

/// The name of the partition of the week starting at `monday`.
fn name(monday: OffsetDateTime) -> String {
    let d = monday.date();
    format!(
        "events_p{:04}{:02}{:02}",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

/// The Monday 00:00 UTC of `t`'s week.
fn monday_of(t: OffsetDateTime) -> OffsetDateTime {
    let d = t.date();
    (d - Duration::days(i64::from(d.weekday().number_days_from_monday())))
        .midnight()
        .assume_utc()
}

async fn sql(db: &TestDb) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

async fn project(store: &Arc<dyn Store>, slug: &str) -> i64 {
    let org = match store.org_by_slug("o").await.unwrap() {
        Some(o) => o,
        None => store.create_org("O", "o").await.unwrap(),
    };
    store
        .create_project(&NewProject {
            org_id: org.id,
            name: slug,
            slug,
            platform: None,
        })
        .await
        .unwrap()
        .id
}

async fn write(store: &Arc<dyn Store>, events: Vec<NewEvent>) -> Vec<WriteOutcome> {
    let mut out = Vec::new();
    for chunk in events.chunks(200) {
        out.extend(store.write_events(Arc::new(chunk.to_vec())).await.unwrap());
    }
    out
}

/// Per partition and project: (events, bytes).
async fn placement(c: &tokio_postgres::Client) -> BTreeMap<(String, i64), (i64, i64)> {
    c.query(
        "SELECT tableoid::regclass::text, project_id, count(*), sum(bytes)::bigint FROM events \
         GROUP BY 1, 2",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
    .collect()
}

/// What the named partitions take on disk: heap, TOAST, indexes, free space and visibility maps.
async fn relation_bytes(c: &tokio_postgres::Client, names: &[String]) -> i64 {
    c.query_one(
        "SELECT coalesce(sum(pg_total_relation_size(n::regclass)), 0)::bigint FROM unnest($1::text[]) n",
        &[&names],
    )
    .await
    .unwrap()
    .get(0)
}

/// Every partition of events, the default one included.
async fn leaves(c: &tokio_postgres::Client) -> Vec<String> {
    let mut out: Vec<String> = c
        .query(
            "SELECT relid::regclass::text FROM pg_partition_tree('events') WHERE isleaf",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    out.sort();
    out
}

/// RETAIN-01, RETAIN-02: events land in their week's partition (edges included), the upkeep
/// creates the coming weeks and drops exactly the weeks before `keep_after`, taking their
/// events off the projects' figures while the issues keep theirs; running it again, or twice at
/// once, changes nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_weeks_are_dropped_whole() {
    let db = TestDb::postgres().await;
    let store = db.store();
    let c = sql(&db).await;
    let (p, q) = (project(&store, "p").await, project(&store, "q").await);

    let up = store
        .storage_upkeep(week(0) + Duration::hours(5), week(0), 0)
        .await
        .unwrap();
    assert_eq!(
        up.created,
        (0..5).map(|w| name(week(w))).collect::<Vec<_>>()
    );
    assert!(up.dropped.is_empty() && !up.more, "{up:?}");

    // Events of four weeks for p and q, on the first and last instants of each week too, and
    // one far outside every week.
    let mut rng = Rng::new(17);
    let mut events = Vec::new();
    for w in 0..4 {
        let times = [
            week(w),
            week(w) + Duration::days(3),
            week(w + 1) - Duration::milliseconds(1),
        ];
        for (i, t) in times.iter().cycle().take(10 + 5 * w as usize).enumerate() {
            let project = if i % 3 == 0 { q } else { p };
            let size = rng.log_range(300, 20_000);
            events.push(sized::event(&mut rng, project, *t, size));
        }
    }
    events.push(sized::event(
        &mut rng,
        p,
        datetime!(2020-01-01 00:00 UTC),
        500,
    ));
    let outcomes = write(&store, events.clone()).await;
    assert!(
        outcomes.iter().all(|o| o.stored().is_some()),
        "{outcomes:?}"
    );

    let placed = placement(&c).await;
    for (i, e) in events.iter().enumerate() {
        let expected = if i + 1 == events.len() {
            "events_default".to_string()
        } else {
            name(monday_of(e.timestamp))
        };
        assert!(
            placed.contains_key(&(expected.clone(), e.project_id)),
            "{expected}"
        );
    }
    let stored: i64 = placed.values().map(|v| v.0).sum();
    assert_eq!(stored, events.len() as i64);

    let issues_before = store
        .query_issues(&IssueQuery {
            project_id: p,
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .items;
    let (p_before, q_before) = (
        store.project_storage(p).await.unwrap(),
        store.project_storage(q).await.unwrap(),
    );
    let expiring = [name(week(0)), name(week(1))];
    let gone = |project: i64| -> (i64, i64) {
        expiring
            .iter()
            .filter_map(|n| placed.get(&(n.clone(), project)))
            .fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1))
    };
    // Vacuumed first, so that autovacuum has nothing to add to the sizes compared below.
    c.batch_execute("VACUUM events").await.unwrap();
    let all_before = relation_bytes(&c, &leaves(&c).await).await;
    let dropped_bytes = relation_bytes(&c, &expiring).await;

    let up = store
        .storage_upkeep(week(2) + Duration::hours(1), week(2), 0)
        .await
        .unwrap();
    assert_eq!(up.dropped, expiring.to_vec());
    assert_eq!(up.created, vec![name(week(5)), name(week(6))]);
    assert!(!up.more);

    for (project, before) in [(p, &p_before), (q, &q_before)] {
        let (n, bytes) = gone(project);
        assert!(n > 0);
        let after = store.project_storage(project).await.unwrap();
        assert_eq!(after.events, before.events - n);
        assert_eq!(after.bytes, before.bytes - bytes);
        assert_eq!(after.expired_before, Some(week(2)));
        assert_eq!(store.count_events(project).await.unwrap(), after.events);
    }
    // The relations shrink by what the dropped weeks took, and the new empty weeks add their
    // empty files and index metapages.
    let new_weeks = relation_bytes(&c, &up.created).await;
    let all_after = relation_bytes(&c, &leaves(&c).await).await;
    assert_eq!(all_after, all_before - dropped_bytes + new_weeks);
    // Issues keep their counts and times.
    let issues_after = store
        .query_issues(&IssueQuery {
            project_id: p,
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .items;
    let summary = |i: &Issue| (i.id, i.event_count, i.first_seen, i.last_seen);
    assert_eq!(
        issues_after.iter().map(summary).collect::<Vec<_>>(),
        issues_before.iter().map(summary).collect::<Vec<_>>()
    );

    // Again: no partition to create or drop (the tables it vacuums where autovacuum is off
    // are `the_upkeep_vacuums_where_autovacuum_is_off`'s).
    let again = store
        .storage_upkeep(week(2) + Duration::hours(1), week(2), 0)
        .await
        .unwrap();
    assert_eq!(
        (again.dropped, again.created, again.more),
        (vec![], vec![], false)
    );
    // Twice at once, a week later: one drop, one creation, between the two calls.
    let p_mid = store.project_storage(p).await.unwrap();
    let (a, b) = tokio::join!(
        store.storage_upkeep(week(3) + Duration::hours(1), week(3), 0),
        store.storage_upkeep(week(3) + Duration::hours(1), week(3), 0),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut dropped = [a.dropped.clone(), b.dropped.clone()].concat();
    let mut created = [a.created.clone(), b.created.clone()].concat();
    // A call that found the other at work leaves the rest for later: the next call finishes.
    if a.more || b.more {
        let rest = store
            .storage_upkeep(week(3) + Duration::hours(1), week(3), 0)
            .await
            .unwrap();
        dropped.extend(rest.dropped);
        created.extend(rest.created);
    }
    assert_eq!(dropped, vec![name(week(2))]);
    assert_eq!(created, vec![name(week(7))]);
    let (n, bytes) = placed[&(name(week(2)), p)];
    let p_after = store.project_storage(p).await.unwrap();
    assert_eq!(
        (p_after.events, p_after.bytes),
        (p_mid.events - n, p_mid.bytes - bytes)
    );
}

/// A partition created for a week whose events arrived before it (in the default partition)
/// takes them over: creating it cannot fail, and no event is lost or counted twice. The weeks
/// before the current one are created too, back to the longest retention but no further than
/// thirteen weeks: a late event of two weeks ago goes with its week, one of twenty weeks ago
/// stays in the default partition (batched deletes take it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_week_takes_over_its_events_from_the_default_partition() {
    let db = TestDb::postgres().await;
    let store = db.store();
    let c = sql(&db).await;
    let p = project(&store, "p").await;
    let mut rng = Rng::new(3);
    let mut events: Vec<NewEvent> = (0..30)
        .map(|i| sized::event(&mut rng, p, week(0) + Duration::hours(i * 5), 800))
        .collect();
    events.push(sized::event(&mut rng, p, week(-2) + Duration::days(1), 800));
    events.push(sized::event(
        &mut rng,
        p,
        week(-20) + Duration::days(1),
        800,
    ));
    write(&store, events).await;
    assert_eq!(
        placement(&c).await.keys().cloned().collect::<Vec<_>>(),
        vec![("events_default".to_string(), p)]
    );
    let before = store.project_storage(p).await.unwrap();

    let up = store
        .storage_upkeep(week(0) + Duration::hours(1), week(-60), 0)
        .await
        .unwrap();
    let expected: Vec<String> = (0..=4)
        .chain((-13..=-1).rev())
        .map(|w| name(week(w)))
        .collect();
    assert_eq!(up.created, expected);
    let placed = placement(&c).await;
    assert_eq!(placed.len(), 3, "{placed:?}");
    assert_eq!(placed[&(name(week(0)), p)].0, 30);
    assert_eq!(placed[&(name(week(-2)), p)].0, 1);
    assert_eq!(placed[&("events_default".to_string(), p)].0, 1);
    assert_eq!(store.project_storage(p).await.unwrap(), before);
    // The moved rows are indexed like any other.
    let listed = store
        .query_events(&EventQuery {
            project_id: p,
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .items;
    assert_eq!(listed.len(), 32);
    assert!(store.event(p, listed[0].event_id).await.unwrap().is_some());
}

/// Idempotent writes survive the unique key's timestamp: a retried event is stored once, and
/// one id twice in a batch is stored once even with two timestamps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_event_is_stored_once() {
    let db = TestDb::postgres().await;
    let store = db.store();
    let p = project(&store, "p").await;
    store.storage_upkeep(week(0), week(0), 0).await.unwrap();
    let mut rng = Rng::new(5);
    let e = sized::event(&mut rng, p, week(0) + Duration::days(1), 2_000);
    assert!(write(&store, vec![e.clone()]).await[0].stored().is_some());
    assert_eq!(
        write(&store, vec![e.clone()]).await,
        vec![WriteOutcome::Duplicate]
    );
    let mut shifted = sized::event(&mut rng, p, week(1) + Duration::days(1), 2_000);
    let mut twin = shifted.clone();
    twin.timestamp = week(2) + Duration::days(1);
    let out = write(&store, vec![shifted.clone(), twin]).await;
    assert!(out[0].stored().is_some());
    assert_eq!(out[1], WriteOutcome::Duplicate);
    shifted.received_at += Duration::seconds(30);
    assert_eq!(
        write(&store, vec![shifted]).await,
        vec![WriteOutcome::Duplicate]
    );
    assert_eq!(store.count_events(p).await.unwrap(), 2);
    assert_eq!(store.project_storage(p).await.unwrap().events, 2);
}

/// Migration V16 converts a V15 database: every event keeps its row (id, time, bytes, payload)
/// and lands in its week's partition (events older than a year in the default one), new rows
/// are numbered after the old, and retries of old events are still duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_v16_partitions_an_existing_database() {
    let db = TestDb::postgres().await;
    let store = db.store();
    let c = sql(&db).await;
    let p = project(&store, "p").await;
    let now = OffsetDateTime::now_utc();
    let mut rng = Rng::new(11);
    let mut events: Vec<NewEvent> = (0..120)
        .map(|i| {
            let at = now - Duration::hours(i * 29);
            let size = rng.log_range(300, 30_000);
            sized::event(&mut rng, p, at, size)
        })
        .collect();
    events.push(sized::event(&mut rng, p, now - Duration::weeks(80), 700));
    write(&store, events.clone()).await;
    let rows = "SELECT concat_ws('|', id, project_id, issue_id, event_id, \
                extract(epoch FROM timestamp), bytes, md5(payload), search::text) \
                FROM events ORDER BY id";
    let column =
        |rows: Vec<tokio_postgres::Row>| -> Vec<String> { rows.iter().map(|r| r.get(0)).collect() };
    let before = column(c.query(rows, &[]).await.unwrap());
    let storage = store.project_storage(p).await.unwrap();

    // The schema as V15 left it (later migrations undone), the events' rows kept.
    c.batch_execute(
        "BEGIN;
         CREATE TABLE events_v15 (
             id           BIGINT GENERATED BY DEFAULT AS IDENTITY,
             project_id   BIGINT NOT NULL,
             issue_id     BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
             event_id     UUID NOT NULL,
             timestamp    TIMESTAMPTZ NOT NULL,
             received_at  TIMESTAMPTZ NOT NULL,
             level        TEXT NOT NULL,
             title        TEXT NOT NULL,
             environment  TEXT,
             release      TEXT,
             tags         JSONB NOT NULL DEFAULT '{}',
             search       TSVECTOR NOT NULL,
             payload      BYTEA NOT NULL,
             payload_size INTEGER NOT NULL,
             bytes        INTEGER NOT NULL DEFAULT 0
         );
         ALTER TABLE events_v15 ALTER COLUMN payload SET STORAGE EXTERNAL;
         INSERT INTO events_v15 SELECT * FROM events;
         SELECT setval(pg_get_serial_sequence('events_v15', 'id'), (SELECT max(id) FROM events));
         DROP TABLE events;
         ALTER TABLE events_v15 RENAME TO events;
         CREATE UNIQUE INDEX events_project_event_id ON events (project_id, event_id);
         CREATE INDEX events_project_id ON events (project_id, id);
         CREATE INDEX events_issue_timestamp ON events (issue_id, timestamp, id);
         CREATE INDEX events_project_timestamp ON events (project_id, timestamp, id);
         CREATE INDEX events_search ON events USING GIN (search);
         DROP TABLE project_outcomes;
         ALTER TABLE projects DROP COLUMN max_events_per_issue_per_hour;
         ALTER TABLE users DROP COLUMN time_zone;
         DROP TABLE artifact_files;
         DROP TABLE artifact_chunks;
         DROP TABLE deploys; DROP TABLE release_commits;
         ALTER TABLE releases DROP COLUMN date_released;
         DELETE FROM refinery_schema_history WHERE version >= 16;
         COMMIT;",
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();

    assert_eq!(column(c.query(rows, &[]).await.unwrap()), before);
    let placed = placement(&c).await;
    let mut expected: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let partition = if i + 1 == events.len() {
            "events_default".to_string()
        } else {
            name(monday_of(e.timestamp))
        };
        expected.entry((partition, p)).or_default().0 += 1;
    }
    assert_eq!(
        placed
            .iter()
            .map(|(k, v)| (k.clone(), v.0))
            .collect::<Vec<_>>(),
        expected
            .iter()
            .map(|(k, v)| (k.clone(), v.0))
            .collect::<Vec<_>>()
    );
    // The weeks from the oldest event's to four ahead, and the default partition.
    let mut weeks = vec!["events_default".to_string()];
    let mut w = monday_of(events[events.len() - 2].timestamp);
    while w <= monday_of(now) + Duration::weeks(4) {
        weeks.push(name(w));
        w += Duration::weeks(1);
    }
    weeks.sort();
    assert_eq!(leaves(&c).await, weeks);
    assert_eq!(store.project_storage(p).await.unwrap(), storage);

    assert_eq!(
        write(&store, vec![events[3].clone()]).await,
        vec![WriteOutcome::Duplicate]
    );
    let last_id: i64 = c
        .query_one("SELECT max(id) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    let fresh = sized::event(&mut rng, p, now, 900);
    let WriteOutcome::Stored { row, .. } = write(&store, vec![fresh]).await[0] else {
        panic!("a new event is stored");
    };
    assert!(row > last_id, "{row} > {last_id}");
}

/// RETAIN-03: a project's `storage_bytes` is within 10 % of what its events' partition takes
/// (heap, TOAST, indexes, full-text index, free space and visibility maps, after a vacuum), for
/// small payloads only, large ones only and a mix (compressed payloads of 300 B to 100 KB).
async fn storage_is_measured_within_ten_percent(mix: &str, sizes: (usize, usize), n: usize) {
    let db = TestDb::postgres().await;
    let store = db.store();
    let c = sql(&db).await;
    let p = project(&store, "p").await;
    store.storage_upkeep(week(0), week(0), 0).await.unwrap();
    let mut rng = Rng::new(n as u64);
    let step = Duration::weeks(1) / n as u32;
    let events: Vec<NewEvent> = (0..n)
        .map(|i| {
            let target = rng.log_range(sizes.0, sizes.1);
            sized::event(&mut rng, p, week(0) + step * i as u32, target)
        })
        .collect();
    let (least, most) = events.iter().fold((usize::MAX, 0), |(lo, hi), e| {
        (lo.min(e.payload.len()), hi.max(e.payload.len()))
    });
    write(&store, events).await;
    c.batch_execute("VACUUM ANALYZE events").await.unwrap();

    let estimate = store.project_storage(p).await.unwrap().bytes;
    let partition = name(week(0));
    let actual = relation_bytes(&c, std::slice::from_ref(&partition)).await;
    let parts = c
        .query_one(
            "SELECT pg_table_size(c.oid) - coalesce(pg_total_relation_size(c.reltoastrelid), 0), \
               coalesce(pg_total_relation_size(c.reltoastrelid), 0), \
               pg_indexes_size(c.oid) - pg_relation_size((SELECT i.indexrelid FROM pg_index i \
                 JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am a ON a.oid = x.relam \
                 WHERE i.indrelid = c.oid AND a.amname = 'gin')), \
               pg_relation_size((SELECT i.indexrelid FROM pg_index i \
                 JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am a ON a.oid = x.relam \
                 WHERE i.indrelid = c.oid AND a.amname = 'gin')) \
             FROM pg_class c WHERE c.oid = $1::text::regclass",
            &[&partition],
        )
        .await
        .unwrap();
    let off = (estimate - actual) as f64 / actual as f64 * 100.0;
    eprintln!(
        "{mix}: {n} events, compressed payloads {least}..{most} B: estimate {estimate} B, \
         relations {actual} B ({off:+.1} %); heap {}, TOAST {}, b-trees {}, GIN {}",
        parts.get::<_, i64>(0),
        parts.get::<_, i64>(1),
        parts.get::<_, i64>(2),
        parts.get::<_, i64>(3),
    );
    assert!(off.abs() <= 10.0, "{mix}: {off:+.1} %");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_of_small_events_is_measured() {
    storage_is_measured_within_ten_percent("small", (300, 2_000), 6_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_of_large_events_is_measured() {
    storage_is_measured_within_ten_percent("large", (10_000, 100_000), 800).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_of_mixed_events_is_measured() {
    storage_is_measured_within_ten_percent("mixed", (300, 100_000), 3_000).await;
}

/// Where autovacuum is off, the storage upkeep vacuums in its place the tables past its
/// thresholds: one issue written 300 times leaves hundreds of dead versions of its row, and the
/// upkeep clears them. Where it is on, the upkeep vacuums nothing. The test server decides
/// which branch is checked: both are real assertions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upkeep_vacuums_where_autovacuum_is_off() {
    let db = TestDb::postgres().await;
    let store = db.store();
    let c = sql(&db).await;
    let p = project(&store, "p").await;
    let now = mesher_store::now();
    store.storage_upkeep(now, week(0), 0).await.unwrap();
    let mut rng = Rng::new(9);
    for _ in 0..300 {
        let mut e = sized::event(&mut rng, p, now, 500);
        e.fingerprint = "one-issue".into();
        write(&store, vec![e]).await;
    }
    let autovacuum: String = c.query_one("SHOW autovacuum", &[]).await.unwrap().get(0);
    let dead = || async {
        c.query_one(
            "SELECT n_dead_tup, last_vacuum IS NOT NULL FROM pg_stat_user_tables \
             WHERE schemaname = current_schema() AND relname = 'issues'",
            &[],
        )
        .await
        .map(|r| (r.get::<_, i64>(0), r.get::<_, bool>(1)))
        .unwrap()
    };
    if autovacuum == "on" {
        let step = store.storage_upkeep(now, week(0), 0).await.unwrap();
        assert!(step.vacuumed.is_empty(), "autovacuum is on: {step:?}");
        return;
    }
    // Statistics reach the server about a second after each writer's last transaction: wait
    // until they have all arrived, so that none lands after the vacuum.
    let mut seen = (0, false);
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let now_seen = dead().await;
        if now_seen.0 > 100 && now_seen == seen {
            break;
        }
        seen = now_seen;
    }
    assert!(seen.0 > 100 && !seen.1, "the writes left {seen:?}");
    let vacuumed = store
        .storage_upkeep(now, week(0), 0)
        .await
        .unwrap()
        .vacuumed;
    assert!(
        vacuumed.iter().any(|t| t == "issues"),
        "issues not vacuumed: {vacuumed:?}"
    );
    // A vacuum removes only what no open transaction can still see, and the other tests'
    // transactions share the database: the next upkeeps finish the job.
    let mut left = dead().await;
    for _ in 0..50 {
        if left.0 < 50 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        store.storage_upkeep(now, week(0), 0).await.unwrap();
        left = dead().await;
    }
    assert!(left.1 && left.0 < 50, "{left:?} after {seen:?}");
}
