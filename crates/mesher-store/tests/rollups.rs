//! Issue 13: the project-wide rollups and the reads built on them, on both backends: tag value
//! breakdowns summed from `project_tag_hourly`, issue lists sorted by count in a period summed
//! from `issue_hourly` by project, the bounded newest-first search walk, and migration V11's
//! backfill of both rollups.

mod common;
#[path = "support/events.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Arc;

use mesher_store::testing::{Backend, TestDb};
use mesher_store::*;
use support::{Ev, project, write};
use time::OffsetDateTime;
use time::macros::datetime;

conformance!(
    tag_values_are_exact_over_any_range,
    issue_lists_by_count_in_a_period_match_per_issue_counts,
    search_returns_the_newest_matches_page_after_page,
);

/// A round hour: the rollups' edges fall on either side of it.
const H: OffsetDateTime = datetime!(2026-11-20 10:00:00 UTC);

fn minutes(n: i64) -> OffsetDateTime {
    H + time::Duration::minutes(n)
}

const BROWSERS: [&str; 4] = ["Firefox", "Chrome", "Safari", "Edge"];

/// The events of `tag_values_are_exact_over_any_range`: (fingerprint, time, browser).
fn tagged_events() -> Vec<(&'static str, OffsetDateTime, &'static str)> {
    (0..300i64)
        .map(|i| {
            // Uneven counts per browser, and more events late in each hour than early, so that
            // both parts of a partial hour are the smaller one for some range.
            let browser = BROWSERS[((i * i) % 7 % 4) as usize];
            let fingerprint = ["a", "b", "c"][(i % 3) as usize];
            let minute = (i / 50) * 60 + 59 - (i % 50) * (i % 50) / 42;
            (fingerprint, minutes(minute), browser)
        })
        .collect()
}

/// The breakdown the events' tags give, as `tag_values` orders it.
fn expected(
    events: &[(&'static str, OffsetDateTime, &'static str)],
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> Vec<(String, i64)> {
    let mut counts: HashMap<String, i64> = HashMap::new();
    for (_, at, browser) in events {
        if *at >= since && *at < until {
            *counts.entry(browser.to_string()).or_default() += 1;
        }
    }
    let mut v: Vec<(String, i64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

async fn tag_values_are_exact_over_any_range(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let (_, other) = project(&store, "other").await;
    let mut events = tagged_events();
    let built: Vec<NewEvent> = events
        .iter()
        .map(|&(fingerprint, at, browser)| {
            Ev {
                tags: vec![("browser", browser)],
                ..Ev::new(p, fingerprint, at)
            }
            .build()
        })
        .collect();
    // In batches, one of them twice: a duplicate is stored once and counted once.
    for batch in built.chunks(70) {
        store.write_events(Arc::new(batch.to_vec())).await.unwrap();
    }
    store
        .write_events(Arc::new(built[..70].to_vec()))
        .await
        .unwrap();
    // Another project's events at the same times count only there.
    write(
        &store,
        (0..40)
            .map(|i| Ev {
                tags: vec![("browser", "Opera")],
                ..Ev::new(other, "a", minutes(i * 9))
            })
            .collect(),
    )
    .await;

    let ranges = [
        (minutes(20), minutes(185)),  // both edges partial
        (minutes(20), minutes(50)),   // inside one hour
        (minutes(60), minutes(180)),  // on the hours
        (minutes(-60), minutes(420)), // everything
        (minutes(59), minutes(61)),   // across one boundary
        (minutes(130), minutes(355)), // an end where few events lie outside
        (minutes(5), minutes(360)),   // a start where few events lie outside
        (minutes(100), minutes(30)),  // empty
        (minutes(179), minutes(180)), // the last minute of an hour
        (minutes(240), minutes(300)), // one whole hour
    ];
    let check = |events: Vec<(&'static str, OffsetDateTime, &'static str)>| {
        let store = store.clone();
        async move {
            for (since, until) in ranges {
                assert_eq!(
                    store
                        .tag_values(p, "browser", since, until, 10)
                        .await
                        .unwrap(),
                    expected(&events, since, until),
                    "{since} – {until}"
                );
            }
        }
    };
    check(events.clone()).await;
    assert_eq!(
        store
            .tag_values(other, "browser", minutes(-60), minutes(420), 10)
            .await
            .unwrap(),
        vec![("Opera".into(), 40)]
    );
    assert_eq!(
        store
            .tag_values(p, "level", minutes(-60), minutes(420), 10)
            .await
            .unwrap(),
        vec![("error".into(), 300)]
    );
    let top = store
        .tag_values(p, "browser", minutes(-60), minutes(420), 2)
        .await
        .unwrap();
    assert_eq!(top, expected(&events, minutes(-60), minutes(420))[..2]);

    // Deleting an issue takes its events out of the breakdown.
    let b = store
        .list_issues(p)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.fingerprint == "b")
        .unwrap();
    store.delete_issue(b.id).await.unwrap();
    events.retain(|(fingerprint, _, _)| *fingerprint != "b");
    check(events).await;
}

async fn issue_lists_by_count_in_a_period_match_per_issue_counts(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    // Six issues; issue k has events every (k + 1) * 7 minutes over five hours.
    let fingerprints = ["f0", "f1", "f2", "f3", "f4", "f5"];
    let mut times: Vec<(&'static str, OffsetDateTime)> = Vec::new();
    for (k, fingerprint) in fingerprints.iter().enumerate() {
        let step = (k as i64 + 1) * 7;
        let mut m = k as i64;
        while m < 300 {
            times.push((fingerprint, minutes(m)));
            m += step;
        }
    }
    for batch in times.chunks(25) {
        write(
            &store,
            batch.iter().map(|&(f, at)| Ev::new(p, f, at)).collect(),
        )
        .await;
    }
    let ids: HashMap<String, i64> = store
        .list_issues(p)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.fingerprint, i.id))
        .collect();
    for (since, until) in [
        (minutes(95), None),
        (minutes(95), Some(minutes(250))),
        (minutes(120), Some(minutes(240))),
        (minutes(130), Some(minutes(150))),
        (minutes(0), None),
    ] {
        let mut want: Vec<(i64, i64)> = fingerprints
            .iter()
            .map(|f| {
                let n = times
                    .iter()
                    .filter(|(g, at)| g == f && *at >= since && until.is_none_or(|u| *at < u))
                    .count() as i64;
                (n, ids[*f])
            })
            .filter(|(n, _)| *n > 0)
            .collect();
        want.sort_by(|a, b| b.cmp(a));
        // Page by two through the whole list: counted set-wise (the plain list) and per issue
        // (a title word narrows the list to the same issues).
        for words in [None, Some("failed")] {
            let mut got = Vec::new();
            let mut cursor = None;
            loop {
                let page = store
                    .query_issues(&IssueQuery {
                        project_id: p,
                        since: Some(since),
                        until,
                        sort: IssueSort::Count,
                        query: words.map(Into::into),
                        cursor,
                        limit: 2,
                        ..IssueQuery::default()
                    })
                    .await
                    .unwrap();
                got.extend(page.items.iter().map(|i| (i.period_count.unwrap(), i.id)));
                match page.next_cursor {
                    Some(c) => cursor = Some(Cursor::decode(&c).unwrap()),
                    None => break,
                }
            }
            assert_eq!(got, want, "{since} – {until:?}, words {words:?}");
        }
    }
}

async fn search_returns_the_newest_matches_page_after_page(store: Arc<dyn Store>) {
    let (_, p) = project(&store, "p").await;
    let (_, other) = project(&store, "other").await;
    // Words of every density the walk treats differently: dense (one in ten), medium (one in
    // sixty), rare (one in seven hundred), and two words always together.
    let text = |i: usize| match i {
        _ if i.is_multiple_of(700) => "rare medium dense pair words",
        _ if i.is_multiple_of(60) => "medium dense",
        _ if i.is_multiple_of(10) => "dense pair words",
        _ => "plain",
    };
    let start = datetime!(2026-11-20 00:00:00 UTC);
    let n = 3_000;
    let mut matches: HashMap<&str, Vec<usize>> = HashMap::new();
    for batch in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut events = Vec::new();
        for &i in batch {
            let at = start + time::Duration::seconds(i as i64);
            events.push(Ev {
                text: text(i),
                ..Ev::new(p, "a", at)
            });
            // Another project's events between them: the project's ids are not contiguous.
            if i.is_multiple_of(3) {
                events.push(Ev {
                    text: text(i),
                    ..Ev::new(other, "a", at)
                });
            }
            for word in ["dense", "medium", "rare", "pair words"] {
                if text(i).contains(word) {
                    matches.entry(word).or_default().push(i);
                }
            }
        }
        write(&store, events).await;
    }
    // The event times follow the writes: newest first by id is latest first by time.
    let time_of = |i: usize| -> OffsetDateTime { start + time::Duration::seconds(i as i64) };
    for (word, since) in [
        ("dense", None),
        ("medium", None),
        ("rare", None),
        ("pair words", None),
        ("dense", Some(time_of(2_500))),
        ("medium", Some(time_of(1_000))),
    ] {
        let want: Vec<OffsetDateTime> = matches[word]
            .iter()
            .rev()
            .map(|&i| time_of(i))
            .filter(|at| since.is_none_or(|s| *at >= s))
            .collect();
        for limit in [25, 100] {
            let mut got = Vec::new();
            let mut cursor = None;
            loop {
                let page = store
                    .query_events(&EventQuery {
                        project_id: p,
                        query: Some(word.into()),
                        since,
                        cursor,
                        limit,
                        ..EventQuery::default()
                    })
                    .await
                    .unwrap();
                assert!(page.items.len() <= limit as usize);
                got.extend(page.items.iter().map(|e| e.timestamp));
                match page.next_cursor {
                    Some(c) => cursor = Some(Cursor::decode(&c).unwrap()),
                    None => break,
                }
            }
            assert_eq!(got, want, "{word}, since {since:?}, pages of {limit}");
        }
    }
}

mod backfill {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_backfill_builds_what_the_writer_builds() {
        super::backfill_builds_what_the_writer_builds(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_backfill_builds_what_the_writer_builds() {
        super::backfill_builds_what_the_writer_builds(Backend::Postgres).await;
    }
}

/// Migration V11: on a database whose events were written before it, the project column of
/// `issue_hourly` and the per-project tag values are what the writer now keeps.
async fn backfill_builds_what_the_writer_builds(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store();
    let (_, p) = project(&store, "p").await;
    let (_, other) = project(&store, "other").await;
    for (project, batches) in [(p, 4), (other, 2)] {
        for b in 0..batches {
            write(
                &store,
                (0..30i64)
                    .map(|i| Ev {
                        tags: vec![("browser", BROWSERS[(i % 4) as usize])],
                        environment: Some(["prod", "staging"][(i % 2) as usize]),
                        ..Ev::new(
                            project,
                            ["x", "y", "z"][(i % 3) as usize],
                            minutes(b * 100 + i * 7 - 120),
                        )
                    })
                    .collect(),
            )
            .await;
        }
    }
    let y = store
        .list_issues(p)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.fingerprint == "y")
        .unwrap();
    store.delete_issue(y.id).await.unwrap();

    let (tags, hours) = match backend {
        Backend::Sqlite => (
            "SELECT project_id || '|' || key || '|' || hour || '|' || value || '|' || count \
             FROM project_tag_hourly ORDER BY 1",
            "SELECT issue_id || '|' || hour || '|' || count || '|' || project_id \
             FROM issue_hourly ORDER BY 1",
        ),
        Backend::Postgres => (
            "SELECT concat_ws('|', project_id, key, extract(epoch FROM hour)::bigint, value, count) \
             FROM project_tag_hourly ORDER BY 1",
            "SELECT concat_ws('|', issue_id, extract(epoch FROM hour)::bigint, count, project_id) \
             FROM issue_hourly ORDER BY 1",
        ),
    };
    let written = (raw::rows(&db, tags).await, raw::rows(&db, hours).await);
    assert!(written.0.len() > 20 && written.1.len() > 10, "{written:?}");

    // The schema and rollups as they were before V11 (and the later migrations, which are
    // unrelated: V15's columns, V16's partitions), then V11 onwards again.
    raw::batch(
        &db,
        match backend {
            Backend::Sqlite => {
                "DROP TABLE project_tag_hourly;
                 CREATE TABLE issue_hourly_v10 (
                     issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
                     hour     INTEGER NOT NULL,
                     count    INTEGER NOT NULL,
                     PRIMARY KEY (issue_id, hour)
                 ) WITHOUT ROWID;
                 INSERT INTO issue_hourly_v10 SELECT issue_id, hour, count FROM issue_hourly;
                 DROP TABLE issue_hourly;
                 ALTER TABLE issue_hourly_v10 RENAME TO issue_hourly;
                 CREATE INDEX issue_hourly_hour ON issue_hourly (hour);
                 DROP TABLE nodes; DROP TABLE leases; DROP TABLE job_runs; DROP TABLE overflow;
                 DROP TABLE alert_attempts; DROP TABLE alert_deliveries; DROP TABLE alert_history;
                 DROP TABLE alerts; DROP TABLE alert_triggers; DROP TABLE alert_rules;
                 DROP TABLE issue_minutely;
                 DROP TABLE project_outcomes;
                 ALTER TABLE projects DROP COLUMN max_events_per_issue_per_hour;
                 ALTER TABLE events DROP COLUMN bytes;
                 ALTER TABLE projects DROP COLUMN storage_bytes;
                 ALTER TABLE projects DROP COLUMN events_expired_before;
                 ALTER TABLE users DROP COLUMN time_zone;
                 DROP TABLE artifact_files; DROP TABLE artifact_chunks;
                 DROP TABLE deploys; DROP TABLE release_commits;
                 ALTER TABLE releases DROP COLUMN date_released;
                 DELETE FROM refinery_schema_history WHERE version >= 11;"
            }
            Backend::Postgres => {
                "DROP TABLE project_tag_hourly;
                 ALTER TABLE issue_hourly DROP COLUMN project_id;
                 CREATE INDEX issue_hourly_hour ON issue_hourly (hour);
                 DROP TABLE nodes; DROP TABLE leases; DROP TABLE job_runs; DROP TABLE overflow;
                 DROP TABLE alert_attempts; DROP TABLE alert_deliveries; DROP TABLE alert_history;
                 DROP TABLE alerts; DROP TABLE alert_triggers; DROP TABLE alert_rules;
                 DROP TABLE issue_minutely;
                 DROP TABLE project_outcomes;
                 ALTER TABLE projects DROP COLUMN max_events_per_issue_per_hour;
                 CREATE TABLE events_v10 (
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
                     payload_size INTEGER NOT NULL
                 );
                 INSERT INTO events_v10 SELECT id, project_id, issue_id, event_id, timestamp,
                     received_at, level, title, environment, release, tags, search, payload,
                     payload_size FROM events;
                 SELECT setval(pg_get_serial_sequence('events_v10', 'id'), (SELECT max(id) FROM events));
                 DROP TABLE events;
                 ALTER TABLE events_v10 RENAME TO events;
                 ALTER TABLE events ALTER COLUMN payload SET STORAGE EXTERNAL;
                 CREATE UNIQUE INDEX events_project_event_id ON events (project_id, event_id);
                 CREATE INDEX events_project_id ON events (project_id, id);
                 CREATE INDEX events_issue_timestamp ON events (issue_id, timestamp, id);
                 CREATE INDEX events_project_timestamp ON events (project_id, timestamp, id);
                 CREATE INDEX events_search ON events USING GIN (search);
                 ALTER TABLE projects DROP COLUMN storage_bytes, DROP COLUMN events_expired_before;
                 ALTER TABLE users DROP COLUMN time_zone;
                 DROP TABLE artifact_files; DROP TABLE artifact_chunks;
                 DROP TABLE deploys; DROP TABLE release_commits;
                 ALTER TABLE releases DROP COLUMN date_released;
                 DELETE FROM refinery_schema_history WHERE version >= 11;"
            }
        },
    )
    .await;
    store.migrate().await.unwrap();
    let backfilled = (raw::rows(&db, tags).await, raw::rows(&db, hours).await);
    assert_eq!(backfilled, written);
}

/// SQL the store offers no call for: the schema before V11 and the rollups' rows.
mod raw {
    use mesher_store::testing::TestDb;

    fn sqlite_path(db: &TestDb) -> Option<String> {
        db.url().strip_prefix("sqlite://").map(str::to_string)
    }

    async fn postgres(db: &TestDb) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    }

    /// The first column of every row, as text.
    pub async fn rows(db: &TestDb, query: &str) -> Vec<String> {
        match sqlite_path(db) {
            Some(path) => {
                let query = query.to_string();
                tokio::task::spawn_blocking(move || {
                    let c = rusqlite::Connection::open(path).unwrap();
                    let mut stmt = c.prepare(&query).unwrap();
                    stmt.query_map([], |r| r.get(0))
                        .unwrap()
                        .collect::<Result<Vec<String>, _>>()
                        .unwrap()
                })
                .await
                .unwrap()
            }
            None => postgres(db)
                .await
                .query(query, &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect(),
        }
    }

    /// Runs several statements in one transaction.
    pub async fn batch(db: &TestDb, statements: &str) {
        let statements = format!("BEGIN; {statements} COMMIT;");
        match sqlite_path(db) {
            Some(path) => tokio::task::spawn_blocking(move || {
                rusqlite::Connection::open(path)
                    .unwrap()
                    .execute_batch(&statements)
                    .unwrap()
            })
            .await
            .unwrap(),
            None => postgres(db).await.batch_execute(&statements).await.unwrap(),
        }
    }
}
