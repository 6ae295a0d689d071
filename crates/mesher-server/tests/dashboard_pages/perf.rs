//! Server time of every page on a large project: the dashboard's budget is 100 ms per page on a
//! project with a million events. Needs a database seeded by `mesher-bench seed`, so it is
//! ignored by default; run it in release mode:
//!
//! ```text
//! mesher-bench seed --database-url sqlite:///tmp/perf/mesher.db --events 1000000
//! MESHER_PERF_DATABASE_URL=sqlite:///tmp/perf/mesher.db MESHER_PERF_PROJECT=1 \
//!   cargo test --release -p mesher-server --test dashboard_pages render_times -- --ignored --nocapture
//! ```
//!
//! It adds a user (a random `perf-…@example.com` owner of the project's organization) to sign
//! in with; use a throwaway database.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use mesher_store::{EventQuery, IssueQuery, IssueSort, Role};

use crate::dashboard::{Page, TestApp};

/// Timed calls per page, after one warm-up call.
const RUNS: usize = 15;
/// The budget of a page (median server time).
const BUDGET: Duration = Duration::from_millis(100);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a seeded database: see the module docs"]
async fn render_times_on_a_seeded_project() {
    let url = std::env::var("MESHER_PERF_DATABASE_URL").expect("set MESHER_PERF_DATABASE_URL");
    let p: i64 = std::env::var("MESHER_PERF_PROJECT")
        .expect("set MESHER_PERF_PROJECT")
        .parse()
        .unwrap();
    let app = TestApp::open(&url).await;
    let store = app.store.as_ref();
    let project = store.project(p).await.unwrap().expect("the project exists");
    let org = store.org(project.org_id).await.unwrap().unwrap();
    let (events, issues) = store.project_counts(p).await.unwrap();
    let email = format!("perf-{:08x}@example.com", fastrand::u32(..));
    let user = app.user(&email, Some((org.id, Role::Owner))).await;
    let session = app.session(&user).await;

    let biggest = store
        .query_issues(&IssueQuery {
            project_id: p,
            sort: IssueSort::Count,
            limit: 1,
            ..IssueQuery::default()
        })
        .await
        .unwrap()
        .items[0]
        .id;
    let second_page = store
        .query_issues(&IssueQuery {
            project_id: p,
            limit: 25,
            ..IssueQuery::default()
        })
        .await
        .unwrap()
        .next_cursor
        .unwrap_or_default();
    let an_event = store
        .query_events(&EventQuery {
            project_id: p,
            limit: 1,
            ..EventQuery::default()
        })
        .await
        .unwrap()
        .items[0]
        .event_id
        .clone();
    let pages = [
        format!("/projects/{p}"),
        format!("/projects/{p}?range=7d"),
        format!("/projects/{p}?range=30d"),
        format!("/projects/{p}/issues"),
        format!("/projects/{p}/issues?cursor={second_page}&prev=-"),
        format!("/projects/{p}/issues?status=all&sort=count"),
        format!("/projects/{p}/issues?q=timeout&status=all"),
        format!("/projects/{p}/issues?level=error&period=7d&environment=production"),
        format!("/projects/{p}/issues/{biggest}"),
        format!("/projects/{p}/issues/{biggest}?range=30d"),
        format!("/projects/{p}/issues/{biggest}?event={an_event}"),
        format!("/projects/{p}/events"),
        format!("/projects/{p}/events?q=timeout"),
        format!("/projects/{p}/events?q=connection+refused"),
        format!("/projects/{p}/events?q=level%3Aerror+browser%3A%22Chrome+120%22"),
        format!("/projects/{p}/settings"),
        format!("/orgs/{}/members", org.slug),
        "/me/tokens".to_string(),
    ];
    println!("\n{events} events, {issues} issues in project {p} ({url})\n");
    println!("{:<72} {:>9} {:>9} {:>9}", "page", "median", "p90", "max");
    let mut over = Vec::new();
    for path in &pages {
        Page::from_response(session.get(&app, path).await, StatusCode::OK).await;
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let started = Instant::now();
            let response = session.get(&app, path).await;
            // The whole body: rendering is lazy until it is read.
            let body = crate::dashboard::body(response).await;
            times.push(started.elapsed());
            assert!(!body.is_empty());
        }
        times.sort();
        let (median, p90, max) = (times[RUNS / 2], times[RUNS * 9 / 10], times[RUNS - 1]);
        println!(
            "{path:<72} {:>7.1}ms {:>7.1}ms {:>7.1}ms",
            ms(median),
            ms(p90),
            ms(max)
        );
        if median > BUDGET {
            over.push(format!("{path}: {:.1} ms", ms(median)));
        }
    }
    assert!(
        over.is_empty(),
        "over the {BUDGET:?} budget:\n{}",
        over.join("\n")
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
