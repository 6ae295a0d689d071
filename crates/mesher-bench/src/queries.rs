//! `mesher-bench query`: the latency of what the dashboard and the API ask of the store, on a
//! seeded project ([`crate::seed`]).
//!
//! Each case is one `QueryStore` call (the same call the API handler makes), run `iterations`
//! times after one warm-up call; p50, p95 and max are reported. Cases that take a word or an
//! issue rotate through a few so that a cached answer is not measured over and over.
//! With `--http` the list and search cases are also measured through the HTTP API
//! (`GET /api/v1/projects/{id}/issues` and `/events` with a bearer token).

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use mesher_store::{Bucket, Cursor, EventQuery, IssueQuery, IssueSort, IssueStatus, Store};
use serde::Serialize;
use time::OffsetDateTime;

use crate::seed::{WORD_FREQUENT, WORD_RARE, WORDS_PAIR};
use crate::stats::percentile;

/// One measured case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// What was asked.
    pub name: String,
    /// Calls measured.
    pub runs: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Items the first call returned (rows, buckets), to show the case did something.
    pub items: usize,
}

async fn measure<F, Fut>(name: &str, runs: usize, mut f: F) -> anyhow::Result<CaseResult>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    let items = f(0).await.with_context(|| format!("case {name}"))?;
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let t = Instant::now();
        f(i + 1).await.with_context(|| format!("case {name}"))?;
        times.push(t.elapsed().as_micros() as u64);
    }
    times.sort_unstable();
    let ms = |p: f64| percentile(&times, p).unwrap_or(0) as f64 / 1000.0;
    Ok(CaseResult {
        name: name.to_string(),
        runs,
        p50_ms: ms(50.0),
        p95_ms: ms(95.0),
        max_ms: ms(100.0),
        items,
    })
}

fn issues(project_id: i64) -> IssueQuery {
    IssueQuery {
        project_id,
        limit: 25,
        ..IssueQuery::default()
    }
}

fn events(project_id: i64) -> EventQuery {
    EventQuery {
        project_id,
        limit: 25,
        ..EventQuery::default()
    }
}

/// Runs every store case against `project_id`.
pub async fn store_cases(
    store: &dyn Store,
    project_id: i64,
    runs: usize,
) -> anyhow::Result<Vec<CaseResult>> {
    let now = OffsetDateTime::now_utc();
    let day = now - time::Duration::days(1);
    let month = now - time::Duration::days(30);
    let mut out = Vec::new();
    // Issues to rotate through for per-issue cases: the top of the count-sorted list.
    let top = store
        .query_issues(&IssueQuery {
            sort: IssueSort::Count,
            limit: 20,
            ..issues(project_id)
        })
        .await?
        .items;
    let issue_ids: Vec<i64> = top.iter().map(|i| i.id).collect();
    anyhow::ensure!(
        !issue_ids.is_empty(),
        "project {project_id} has no issues: seed it first"
    );
    let pick = |i: usize| issue_ids[i % issue_ids.len()];

    out.push(
        measure("issues: default list (last seen)", runs, |_| async {
            Ok(store.query_issues(&issues(project_id)).await?.items.len())
        })
        .await?,
    );
    let second_page = store.query_issues(&issues(project_id)).await?.next_cursor;
    if let Some(cursor) = second_page {
        let cursor = Cursor::decode(&cursor)?;
        out.push(
            measure("issues: second page (cursor)", runs, |_| async move {
                let q = IssueQuery {
                    cursor: Some(cursor),
                    ..issues(project_id)
                };
                Ok(store.query_issues(&q).await?.items.len())
            })
            .await?,
        );
    }
    for (name, status) in [
        ("issues: status unresolved", IssueStatus::Unresolved),
        ("issues: status resolved", IssueStatus::Resolved),
    ] {
        out.push(
            measure(name, runs, |_| async move {
                let q = IssueQuery {
                    status: Some(status),
                    ..issues(project_id)
                };
                Ok(store.query_issues(&q).await?.items.len())
            })
            .await?,
        );
    }
    out.push(
        measure("issues: sorted by count", runs, |_| async {
            let q = IssueQuery {
                sort: IssueSort::Count,
                ..issues(project_id)
            };
            Ok(store.query_issues(&q).await?.items.len())
        })
        .await?,
    );
    out.push(
        measure("issues: sorted by count, last 24 h", runs, |_| async {
            let q = IssueQuery {
                sort: IssueSort::Count,
                since: Some(day),
                ..issues(project_id)
            };
            Ok(store.query_issues(&q).await?.items.len())
        })
        .await?,
    );
    out.push(
        measure("issues: sorted by first seen", runs, |_| async {
            let q = IssueQuery {
                sort: IssueSort::FirstSeen,
                ..issues(project_id)
            };
            Ok(store.query_issues(&q).await?.items.len())
        })
        .await?,
    );
    out.push(
        measure("issues: environment=staging", runs, |_| async {
            let q = IssueQuery {
                environment: Some("staging".into()),
                ..issues(project_id)
            };
            Ok(store.query_issues(&q).await?.items.len())
        })
        .await?,
    );
    out.push(
        measure("issues: title words (frequent)", runs, |_| async {
            let q = IssueQuery {
                query: Some(WORD_FREQUENT.into()),
                ..issues(project_id)
            };
            Ok(store.query_issues(&q).await?.items.len())
        })
        .await?,
    );

    out.push(
        measure("events: newest", runs, |_| async {
            Ok(store.query_events(&events(project_id)).await?.items.len())
        })
        .await?,
    );
    for (name, words) in [
        ("events: full text, 1 frequent word", WORD_FREQUENT),
        ("events: full text, 1 rare word", WORD_RARE),
        ("events: full text, 2 words", WORDS_PAIR),
    ] {
        out.push(
            measure(name, runs, |_| async move {
                let q = EventQuery {
                    query: Some(words.into()),
                    ..events(project_id)
                };
                Ok(store.query_events(&q).await?.items.len())
            })
            .await?,
        );
    }
    out.push(
        measure("events: full text, word + prefix", runs, |_| async {
            let q = EventQuery {
                query: Some("refun".into()),
                ..events(project_id)
            };
            Ok(store.query_events(&q).await?.items.len())
        })
        .await?,
    );
    out.push(
        measure("events: tag browser=Firefox 121", runs, |_| async {
            let q = EventQuery {
                tags: vec![("browser".into(), "Firefox 121".into())],
                ..events(project_id)
            };
            Ok(store.query_events(&q).await?.items.len())
        })
        .await?,
    );
    out.push(
        measure("events: tag + word", runs, |_| async {
            let q = EventQuery {
                query: Some(WORD_FREQUENT.into()),
                tags: vec![("region".into(), "us-east-1".into())],
                ..events(project_id)
            };
            Ok(store.query_events(&q).await?.items.len())
        })
        .await?,
    );
    out.push(
        measure("events: level=fatal, last 24 h", runs, |_| async {
            let q = EventQuery {
                level: Some("fatal".into()),
                since: Some(day),
                ..events(project_id)
            };
            Ok(store.query_events(&q).await?.items.len())
        })
        .await?,
    );
    out.push(
        measure("events: of one issue", runs, |i| async move {
            let q = EventQuery {
                issue_id: Some(pick(i)),
                ..events(project_id)
            };
            Ok(store.query_events(&q).await?.items.len())
        })
        .await?,
    );

    for (name, since, bucket) in [
        ("volume 24 h (hours)", day, Bucket::Hour),
        ("volume 30 d (days)", month, Bucket::Day),
    ] {
        out.push(
            measure(name, runs, |_| async move {
                Ok(store.volume(project_id, since, now, bucket).await?.len())
            })
            .await?,
        );
    }
    for (name, since) in [("levels 24 h", day), ("levels 30 d", month)] {
        out.push(
            measure(name, runs, |_| async move {
                Ok(store.level_counts(project_id, since, now).await?.len())
            })
            .await?,
        );
    }
    for (name, since) in [("top issues 24 h", day), ("top issues 30 d", month)] {
        out.push(
            measure(name, runs, |_| async move {
                Ok(store.top_issues(project_id, since, now, 10).await?.len())
            })
            .await?,
        );
    }
    for (name, since) in [
        ("tag values browser 24 h", day),
        ("tag values browser 30 d", month),
    ] {
        out.push(
            measure(name, runs, |_| async move {
                Ok(store
                    .tag_values(project_id, "browser", since, now, 10)
                    .await?
                    .len())
            })
            .await?,
        );
    }
    out.push(
        measure("health", runs, |_| async {
            store.health(project_id, now).await?;
            Ok(1)
        })
        .await?,
    );
    out.push(
        measure("issue: timeline 30 d", runs, |i| async move {
            Ok(store
                .issue_timeline(pick(i), month, now, Bucket::Day)
                .await?
                .len())
        })
        .await?,
    );
    out.push(
        measure("issue: tag breakdown", runs, |i| async move {
            Ok(store.issue_tag_values(pick(i), 10).await?.len())
        })
        .await?,
    );
    Ok(out)
}

/// The list and search cases through the HTTP API, with an API token.
pub async fn http_cases(
    base: &str,
    token: &str,
    project_id: i64,
    runs: usize,
) -> anyhow::Result<Vec<CaseResult>> {
    let client = HttpClient::new(base, "authorization", &format!("Bearer {token}")).await?;
    let paths = [
        (
            "HTTP issues: default list",
            format!("/api/v1/projects/{project_id}/issues"),
        ),
        (
            "HTTP issues: status unresolved",
            format!("/api/v1/projects/{project_id}/issues?status=unresolved"),
        ),
        (
            "HTTP issues: sorted by count",
            format!("/api/v1/projects/{project_id}/issues?sort=count"),
        ),
        (
            "HTTP events: newest",
            format!("/api/v1/projects/{project_id}/events"),
        ),
        (
            "HTTP events: full text, 1 word",
            format!("/api/v1/projects/{project_id}/events?query={WORD_FREQUENT}"),
        ),
        (
            "HTTP events: full text, 2 words",
            format!(
                "/api/v1/projects/{project_id}/events?query={}",
                WORDS_PAIR.replace(' ', "+")
            ),
        ),
        (
            "HTTP stats: tag values browser 24 h",
            format!("/api/v1/projects/{project_id}/stats/tags?key=browser"),
        ),
    ];
    let mut out = Vec::new();
    for (name, path) in paths {
        let client = &client;
        let path = &path;
        out.push(measure(name, runs, |_| async move { client.get(path).await }).await?);
    }
    Ok(out)
}

/// What the dashboard cases link to: found through the store before they run.
#[derive(Debug, Clone)]
pub struct PageTargets {
    /// The seeded project.
    pub project_id: i64,
    /// Its organization.
    pub org_id: i64,
    /// The organization's slug.
    pub org_slug: String,
    /// The issue with the most events.
    pub biggest_issue: i64,
    /// The cursor of the issue list's second page.
    pub second_page: String,
    /// The newest event of that issue.
    pub an_event: String,
}

impl PageTargets {
    /// Finds them in `project_id`.
    pub async fn find(store: &dyn Store, project_id: i64) -> anyhow::Result<PageTargets> {
        let project = store
            .project(project_id)
            .await?
            .with_context(|| format!("no project {project_id}"))?;
        let org = store
            .org(project.org_id)
            .await?
            .context("the project's organization is gone")?;
        let biggest_issue = store
            .query_issues(&IssueQuery {
                sort: IssueSort::Count,
                limit: 1,
                ..issues(project_id)
            })
            .await?
            .items
            .first()
            .with_context(|| format!("project {project_id} has no issues: seed it first"))?
            .id;
        let second_page = store
            .query_issues(&issues(project_id))
            .await?
            .next_cursor
            .unwrap_or_default();
        let an_event = store
            .query_events(&EventQuery {
                issue_id: Some(biggest_issue),
                limit: 1,
                ..events(project_id)
            })
            .await?
            .items
            .first()
            .context("the issue has no events")?
            .event_id
            .to_string();
        Ok(PageTargets {
            project_id,
            org_id: org.id,
            org_slug: org.slug,
            biggest_issue,
            second_page,
            an_event,
        })
    }
}

/// Every dashboard page, through HTTP with a session cookie: the time until the whole page is
/// read (the dashboard's budget is 100 ms per page on a project with a million events).
pub async fn page_cases(
    base: &str,
    cookie: &str,
    t: &PageTargets,
    runs: usize,
) -> anyhow::Result<Vec<CaseResult>> {
    let client = HttpClient::new(base, "cookie", cookie).await?;
    let p = t.project_id;
    let (biggest, event, cursor) = (t.biggest_issue, &t.an_event, &t.second_page);
    let pages = [
        ("page: overview 24 h", format!("/projects/{p}")),
        ("page: overview 7 d", format!("/projects/{p}?range=7d")),
        ("page: overview 30 d", format!("/projects/{p}?range=30d")),
        ("page: issues", format!("/projects/{p}/issues")),
        (
            "page: issues, second page",
            format!("/projects/{p}/issues?cursor={cursor}"),
        ),
        (
            "page: issues, all by count",
            format!("/projects/{p}/issues?status=all&sort=count"),
        ),
        (
            "page: issues, full text",
            format!("/projects/{p}/issues?q={WORD_FREQUENT}&status=all"),
        ),
        (
            "page: issues, filtered 7 d",
            format!("/projects/{p}/issues?level=error&period=7d&environment=production"),
        ),
        (
            "page: issue detail",
            format!("/projects/{p}/issues/{biggest}"),
        ),
        (
            "page: issue detail 30 d",
            format!("/projects/{p}/issues/{biggest}?range=30d"),
        ),
        (
            "page: issue, chosen event",
            format!("/projects/{p}/issues/{biggest}?event={event}"),
        ),
        ("page: events", format!("/projects/{p}/events")),
        (
            "page: events, full text",
            format!("/projects/{p}/events?q={WORD_RARE}"),
        ),
        (
            "page: events, 2 words",
            format!("/projects/{p}/events?q={}", WORDS_PAIR.replace(' ', "+")),
        ),
        (
            "page: events, tag filter",
            format!("/projects/{p}/events?q=level%3Aerror"),
        ),
        ("page: settings", format!("/projects/{p}/settings")),
        ("page: members", format!("/orgs/{}/members", t.org_slug)),
        ("page: tokens", "/me/tokens".to_string()),
    ];
    let mut out = Vec::new();
    for (name, path) in pages {
        let client = &client;
        let path = &path;
        out.push(measure(name, runs, |_| async move { client.get_page(path).await }).await?);
    }
    Ok(out)
}

/// Signs in through `POST /api/v1/auth/login` and returns the session cookie (`name=value`).
pub async fn sign_in(base: &str, email: &str, password: &str) -> anyhow::Result<String> {
    let client = HttpClient::new(base, "accept", "application/json").await?;
    let body = serde_json::to_vec(&serde_json::json!({"email": email, "password": password}))?;
    let res = client.send("POST", "/api/v1/auth/login", body).await?;
    anyhow::ensure!(
        res.status().is_success(),
        "sign-in answered {}",
        res.status()
    );
    let cookie = res
        .headers()
        .get(hyper::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("sign-in set no cookie")?;
    Ok(cookie.to_string())
}

/// A minimal keep-alive HTTP/1.1 client that sends one credential header with every request.
struct HttpClient {
    sender:
        tokio::sync::Mutex<hyper::client::conn::http1::SendRequest<http_body_util::Full<Bytes>>>,
    host: String,
    credential: (&'static str, String),
}

impl HttpClient {
    async fn new(base: &str, header: &'static str, value: &str) -> anyhow::Result<HttpClient> {
        let host = base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let stream = tokio::net::TcpStream::connect(&host)
            .await
            .with_context(|| format!("cannot connect to {host}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(HttpClient {
            sender: tokio::sync::Mutex::new(sender),
            host,
            credential: (header, value.to_string()),
        })
    }

    /// Sends a request and reads its whole answer.
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<hyper::Response<Bytes>> {
        use http_body_util::BodyExt;
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.host)
            .header(self.credential.0, &self.credential.1);
        if !body.is_empty() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(http_body_util::Full::new(Bytes::from(body)))?;
        let mut sender = self.sender.lock().await;
        sender.ready().await?;
        let res = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
            .await
            .context("no answer within 30 s")??;
        let (parts, body) = res.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(hyper::Response::from_parts(parts, body))
    }

    /// GETs `path`; the number of items in the answer's `items` (or top-level array).
    async fn get(&self, path: &str) -> anyhow::Result<usize> {
        let res = self.send("GET", path, Vec::new()).await?;
        let body = checked(path, &res)?;
        let v: serde_json::Value =
            serde_json::from_slice(body).context("the answer is not JSON")?;
        Ok(match &v {
            serde_json::Value::Array(a) => a.len(),
            other => other
                .get("items")
                .or_else(|| other.get("data"))
                .and_then(|i| i.as_array())
                .map_or(1, Vec::len),
        })
    }

    /// GETs an HTML page; its size in KiB (the whole body is read: rendering streams).
    async fn get_page(&self, path: &str) -> anyhow::Result<usize> {
        let res = self.send("GET", path, Vec::new()).await?;
        let body = checked(path, &res)?;
        anyhow::ensure!(
            body.starts_with(b"<!DOCTYPE html>") || body.starts_with(b"<!doctype html>"),
            "GET {path}: not an HTML page"
        );
        Ok(body.len() / 1024)
    }
}

/// The body of a 2xx answer, else an error that quotes it.
fn checked<'a>(path: &str, res: &'a hyper::Response<Bytes>) -> anyhow::Result<&'a [u8]> {
    let body = res.body();
    anyhow::ensure!(
        res.status().is_success(),
        "GET {path}: {}: {}",
        res.status(),
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    Ok(body)
}

/// The results as a text table.
pub fn table(results: &[CaseResult]) -> String {
    let width = results
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:<width$}  {:>8}  {:>8}  {:>8}  {:>5}\n",
        "case", "p50 ms", "p95 ms", "max ms", "items"
    );
    for r in results {
        out.push_str(&format!(
            "{:<width$}  {:>8.2}  {:>8.2}  {:>8.2}  {:>5}\n",
            r.name, r.p50_ms, r.p95_ms, r.max_ms, r.items
        ));
    }
    out
}
