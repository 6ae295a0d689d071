//! Lists, search and dashboard reads on SQLite.

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::types::Value as Sql;
use rusqlite::{OptionalExtension, params, params_from_iter};
use time::OffsetDateTime;

use super::issues::{ISSUE_COLS, issue, issue_row};
use super::{SqliteStore, map_err};
use mesher_protocol::EventId;

use crate::event_model::{Issue, event_id_from_blob};
use crate::issue_period::{Bind, Dialect};
use crate::query::{
    AssigneeFilter, Bucket, Cursor, EventQuery, EventSummary, Health, IssueCount, IssueQuery,
    IssueSort, MAX_PAGE, Page, fill_buckets, group_tags, query_words, tag_token, top_counts,
};
use crate::rollup::project_token;
use crate::tag_breakdown::{self, Edge, EdgeRead, Plan, Span, merge, rollup_hours};
use crate::time_util::{from_millis, to_millis};
use crate::traits::QueryStore;
use crate::{StoreError, StoreResult};

/// A shared fragment's value as SQLite stores it (times in milliseconds).
fn bind(b: &Bind) -> Sql {
    match b {
        Bind::Time(t) => Sql::Integer(to_millis(*t)),
        Bind::Text(s) => Sql::Text(s.clone()),
        Bind::Int(i) => Sql::Integer(*i),
    }
}

fn limit(l: u32) -> u32 {
    l.clamp(1, MAX_PAGE)
}

/// The FTS5 expression for full-text words (prefix matches) and exact tag tokens, confined to a
/// project. Words are letters and digits only ([`query_words`]), so quoting them is enough.
fn match_expr(project_id: i64, query: Option<&str>, tags: &[(String, String)]) -> Option<String> {
    let words = query.map(query_words).unwrap_or_default();
    if words.is_empty() && tags.is_empty() {
        return None;
    }
    let mut parts = vec![project_token(project_id)];
    parts.extend(words.iter().map(|w| format!("\"{w}\"*")));
    parts.extend(tags.iter().map(|(k, v)| tag_token(k, v)));
    Some(parts.join(" AND "))
}

/// The issues `q` asks for (every page: no cursor, order or limit), each with its
/// `period_count`; the list and its count share it.
fn matching_issues(q: &IssueQuery) -> (String, Vec<Sql>) {
    let period_count = q.period_count(Dialect::Sqlite);
    let mut args: Vec<Sql> = Vec::new();
    let mut sql = format!("SELECT * FROM (SELECT {ISSUE_COLS}, ");
    let period_counts = q.period_counts();
    match (&period_counts, &period_count) {
        (Some(_), _) => sql.push_str("coalesce(pc.n, 0)"),
        (None, Some(f)) => {
            sql.push_str(&f.sql);
            args.extend(f.binds.iter().map(bind));
        }
        (None, None) => sql.push_str("NULL"),
    }
    sql.push_str(" AS period_count FROM issues");
    if let Some(f) = &period_counts {
        sql.push_str(" LEFT JOIN ");
        sql.push_str(&f.sql);
        sql.push_str(" pc ON pc.issue_id = issues.id");
        args.extend(f.binds.iter().map(bind));
    }
    sql.push_str(" WHERE project_id = ?");
    args.push(Sql::Integer(q.project_id));
    match q.status {
        Some(s) => {
            sql.push_str(" AND status = ?");
            args.push(Sql::Text(s.as_str().into()));
        }
        // A discarded issue is a tombstone, listed only when asked for (issue 12, row 10).
        None => sql.push_str(" AND status <> 'discarded'"),
    }
    match q.assignee {
        Some(AssigneeFilter::Nobody) => sql.push_str(" AND assignee_id IS NULL"),
        Some(AssigneeFilter::User(u)) => {
            sql.push_str(" AND assignee_id = ?");
            args.push(Sql::Integer(u));
        }
        None => {}
    }
    let matching = q.match_conditions(Dialect::Sqlite);
    sql.push_str(&matching.sql);
    args.extend(matching.binds.iter().map(bind));
    for word in q.query.as_deref().map(query_words).unwrap_or_default() {
        sql.push_str(" AND instr(lower(title || ' ' || coalesce(culprit, '')), ?) > 0");
        args.push(Sql::Text(word));
    }
    sql.push_str(") issues");
    (sql, args)
}

#[async_trait]
impl QueryStore for SqliteStore {
    async fn query_issues(&self, q: &IssueQuery) -> StoreResult<Page<Issue>> {
        let q = q.clone();
        self.read(move |c| {
            let period_count = q.period_count(Dialect::Sqlite);
            let column = match q.sort {
                IssueSort::LastSeen => "last_seen",
                IssueSort::FirstSeen => "first_seen",
                IssueSort::Count if period_count.is_some() => "period_count",
                IssueSort::Count => "event_count",
            };
            let (mut sql, mut args) = matching_issues(&q);
            if let Some(cur) = q.cursor {
                sql.push_str(&format!(" WHERE ({column}, id) < (?, ?)"));
                args.extend([Sql::Integer(cur.value), Sql::Integer(cur.id)]);
            }
            let n = limit(q.limit);
            sql.push_str(&format!(" ORDER BY {column} DESC, id DESC LIMIT {}", n + 1));
            // `period_count` follows the issue's columns.
            let period_column = ISSUE_COLS.split(',').count();
            let mut stmt = c.prepare_cached(&sql).map_err(map_err)?;
            let raw: Vec<_> = stmt
                .query_map(params_from_iter(args), |r| {
                    let mut raw = issue_row(r)?;
                    raw.0.period_count = r.get(period_column)?;
                    Ok(raw)
                })
                .and_then(Iterator::collect)
                .map_err(map_err)?;
            let mut items = raw
                .into_iter()
                .map(issue)
                .collect::<StoreResult<Vec<_>>>()?;
            let next_cursor = if items.len() > n as usize {
                items.truncate(n as usize);
                items.last().map(|i| {
                    let value = match q.sort {
                        IssueSort::LastSeen => to_millis(i.last_seen),
                        IssueSort::FirstSeen => to_millis(i.first_seen),
                        IssueSort::Count => i.period_count.unwrap_or(i.event_count),
                    };
                    Cursor { value, id: i.id }.encode()
                })
            } else {
                None
            };
            Ok(Page { items, next_cursor })
        })
        .await
    }

    async fn count_issues(&self, q: &IssueQuery) -> StoreResult<u64> {
        let (sql, args) = matching_issues(q);
        let n: i64 = self
            .read(move |c| {
                c.prepare_cached(&format!("SELECT count(*) FROM ({sql}) counted"))
                    .and_then(|mut stmt| stmt.query_row(params_from_iter(args), |r| r.get(0)))
                    .map_err(map_err)
            })
            .await?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn query_events(&self, q: &EventQuery) -> StoreResult<Page<EventSummary>> {
        let q = q.clone();
        self.read(move |c| {
            let mut args: Vec<Sql> = Vec::new();
            let mut sql = String::from(
                "SELECT e.event_id, e.issue_id, e.timestamp, e.level, e.title, e.environment, e.release, e.id ",
            );
            // Without a full-text search an event list is newest first by event time (issue
            // 12, row 6), ties by id; with one it stays in arrival order, which the full-text
            // index yields without sorting every match.
            let search = match_expr(q.project_id, q.query.as_deref(), &q.tags);
            let by_time = search.is_none();
            let order = match search {
                Some(expr) => {
                    // CROSS JOIN keeps the full-text index the outer loop: left to itself the
                    // planner may walk the events by time and run the MATCH once per row, which
                    // took over 30 s on a million events.
                    sql.push_str(
                        "FROM events_fts CROSS JOIN events e ON e.id = events_fts.rowid \
                         WHERE events_fts MATCH ? AND e.project_id = ?",
                    );
                    args.push(Sql::Text(expr));
                    "events_fts.rowid"
                }
                // An issue's events come through the issue's index: without statistics the
                // planner may take the project's and filter a million events by issue (`+`
                // keeps `project_id` from choosing an index).
                None if q.issue_id.is_some() => {
                    sql.push_str("FROM events e WHERE +e.project_id = ?");
                    "e.id"
                }
                None => {
                    sql.push_str("FROM events e WHERE e.project_id = ?");
                    "e.id"
                }
            };
            args.push(Sql::Integer(q.project_id));
            if let Some(i) = q.issue_id {
                sql.push_str(" AND e.issue_id = ?");
                args.push(Sql::Integer(i));
            }
            for (col, v) in [("level", &q.level), ("environment", &q.environment), ("release", &q.release)] {
                if let Some(v) = v {
                    sql.push_str(&format!(" AND e.{col} = ?"));
                    args.push(Sql::Text(v.clone()));
                }
            }
            if let Some(t) = q.since {
                sql.push_str(" AND e.timestamp >= ?");
                args.push(Sql::Integer(to_millis(t)));
            }
            if let Some(t) = q.until {
                sql.push_str(" AND e.timestamp < ?");
                args.push(Sql::Integer(to_millis(t)));
            }
            match q.cursor {
                Some(cur) if by_time => {
                    sql.push_str(" AND (e.timestamp, e.id) < (?, ?)");
                    args.extend([Sql::Integer(cur.value), Sql::Integer(cur.id)]);
                }
                Some(cur) => {
                    sql.push_str(&format!(" AND {order} < ?"));
                    args.push(Sql::Integer(cur.id));
                }
                None => {}
            }
            let n = limit(q.limit);
            if by_time {
                sql.push_str(&format!(" ORDER BY e.timestamp DESC, e.id DESC LIMIT {}", n + 1));
            } else {
                sql.push_str(&format!(" ORDER BY {order} DESC LIMIT {}", n + 1));
            }
            let mut stmt = c.prepare_cached(&sql).map_err(map_err)?;
            let mut rows: Vec<(EventSummary, i64)> = stmt
                .query_map(params_from_iter(args), |r| {
                    let id: Vec<u8> = r.get(0)?;
                    Ok((
                        EventSummary {
                            event_id: event_id_from_blob(&id),
                            issue_id: r.get(1)?,
                            timestamp: from_millis(r.get(2)?),
                            level: r.get(3)?,
                            title: r.get(4)?,
                            environment: r.get(5)?,
                            release: r.get(6)?,
                        },
                        r.get(7)?,
                    ))
                })
                .and_then(Iterator::collect)
                .map_err(map_err)?;
            let next_cursor = if rows.len() > n as usize {
                rows.truncate(n as usize);
                rows.last().map(|(e, id)| {
                    let value = if by_time { to_millis(e.timestamp) } else { *id };
                    Cursor { value, id: *id }.encode()
                })
            } else {
                None
            };
            Ok(Page {
                items: rows.into_iter().map(|(e, _)| e).collect(),
                next_cursor,
            })
        })
        .await
    }

    async fn adjacent_events(
        &self,
        issue_id: i64,
        event_id: EventId,
    ) -> StoreResult<(Option<EventId>, Option<EventId>)> {
        self.read(move |c| {
            let Some((row, at)): Option<(i64, i64)> = c
                // Through the project's unique event-id index: by issue it would walk every
                // event of the issue (85 ms for one with 42k events).
                .prepare_cached(
                    "SELECT id, timestamp FROM events WHERE project_id = (SELECT project_id FROM issues WHERE id = ?1) \
                     AND event_id = ?2 AND issue_id = ?1",
                )
                .map_err(map_err)?
                .query_row(params![issue_id, &event_id.as_bytes()[..]], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(map_err)?
            else {
                return Ok((None, None));
            };
            let neighbour = |sql: &str| -> StoreResult<Option<EventId>> {
                let id: Option<Vec<u8>> = c
                    .prepare_cached(sql)
                    .map_err(map_err)?
                    .query_row(params![issue_id, at, row], |r| r.get(0))
                    .optional()
                    .map_err(map_err)?;
                Ok(id.map(|b| event_id_from_blob(&b)))
            };
            // Older and newer by event time, as the issue's event list orders them (row 6).
            Ok((
                neighbour(
                    "SELECT event_id FROM events WHERE issue_id = ?1 AND (timestamp, id) < (?2, ?3) \
                     ORDER BY timestamp DESC, id DESC LIMIT 1",
                )?,
                neighbour(
                    "SELECT event_id FROM events WHERE issue_id = ?1 AND (timestamp, id) > (?2, ?3) \
                     ORDER BY timestamp ASC, id ASC LIMIT 1",
                )?,
            ))
        })
        .await
    }

    async fn volume(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
        bucket: Bucket,
    ) -> StoreResult<Vec<(OffsetDateTime, i64)>> {
        self.read(move |c| {
            let counts: Vec<(i64, i64)> = c
                .prepare_cached(
                    "SELECT hour, sum(count) FROM project_hourly WHERE project_id = ?1 AND hour >= ?2 \
                     AND hour < ?3 GROUP BY hour",
                )
                .map_err(map_err)?
                .query_map(params![project_id, floor(since, bucket), to_millis(until)], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(Iterator::collect)
                .map_err(map_err)?;
            Ok(fill_buckets(&counts, since, until, bucket))
        })
        .await
    }

    async fn level_counts(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Vec<(String, i64)>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT level, sum(count) AS n FROM project_hourly WHERE project_id = ?1 AND hour >= ?2 \
                 AND hour < ?3 GROUP BY level ORDER BY n DESC, level",
            )
            .map_err(map_err)?
            .query_map(params![project_id, floor(since, Bucket::Hour), to_millis(until)], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(map_err)
        })
        .await
    }

    async fn top_issues(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
        n: u32,
    ) -> StoreResult<Vec<IssueCount>> {
        self.read(move |c| {
            if crate::top_walk::worth_walking(since, until)
                && let Some(top) = super::top_issues::walk(
                    c,
                    project_id,
                    floor(since, Bucket::Hour),
                    to_millis(until),
                    limit(n) as usize,
                )?
            {
                return Ok(top);
            }
            let sql = format!(
                "SELECT {cols}, t.n FROM (SELECT h.issue_id, sum(h.count) AS n FROM issue_hourly h \
                 WHERE h.project_id = ?1 AND h.hour >= ?2 AND h.hour < ?3 \
                 GROUP BY h.issue_id ORDER BY n DESC, h.issue_id DESC LIMIT ?4) t JOIN issues ON issues.id = t.issue_id \
                 ORDER BY t.n DESC, issues.id DESC",
                cols = ISSUE_COLS
                    .split(", ")
                    .map(|col| format!("issues.{col}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut stmt = c.prepare_cached(&sql).map_err(map_err)?;
            let raw: Vec<_> = stmt
                .query_map(
                    params![project_id, floor(since, Bucket::Hour), to_millis(until), limit(n)],
                    |r| Ok((issue_row(r)?, r.get::<_, i64>(19)?)),
                )
                .and_then(Iterator::collect)
                .map_err(map_err)?;
            raw.into_iter()
                .map(|(raw, count)| Ok(IssueCount { issue: issue(raw)?, count }))
                .collect()
        })
        .await
    }

    async fn tag_values(
        &self,
        project_id: i64,
        key: &str,
        since: OffsetDateTime,
        until: OffsetDateTime,
        n: u32,
    ) -> StoreResult<Vec<(String, i64)>> {
        let key = key.to_string();
        self.read(move |c| {
            // One snapshot for the rollup and the events, which a batch updates together.
            let c = c.transaction().map_err(map_err)?;
            let events_in = |(from, to): Span| -> StoreResult<i64> {
                c.prepare_cached(
                    "SELECT count(*) FROM events WHERE project_id = ?1 AND timestamp >= ?2 AND timestamp < ?3",
                )
                .map_err(map_err)?
                .query_row(params![project_id, from, to], |r| r.get(0))
                .map_err(map_err)
            };
            let tags_in = |(from, to): Span| -> StoreResult<Vec<(String, i64)>> {
                c.prepare_cached(
                    "SELECT t.value, count(*) FROM events e, json_each(e.tags) t \
                     WHERE e.project_id = ?1 AND e.timestamp >= ?2 AND e.timestamp < ?3 \
                     AND t.key = ?4 AND t.type = 'text' GROUP BY t.value",
                )
                .map_err(map_err)?
                .query_map(params![project_id, from, to, key], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(Iterator::collect)
                .map_err(map_err)
            };
            let mut counts: HashMap<String, i64> = HashMap::new();
            match tag_breakdown::plan(since, until) {
                Plan::Events(span) => merge(&mut counts, tags_in(span)?, false),
                Plan::Hours { whole, head, tail } => {
                    let choose = |edge: Option<Edge>| -> StoreResult<Option<EdgeRead>> {
                        edge.map(|e| Ok(e.read(events_in(e.inside)?, events_in(e.outside)?)))
                            .transpose()
                    };
                    let (head, tail) = (choose(head)?, choose(tail)?);
                    let (from, to) = rollup_hours(whole, head, tail);
                    let hours: Vec<(String, i64)> = c
                        .prepare_cached(
                            "SELECT value, sum(count) FROM project_tag_hourly WHERE project_id = ?1 \
                             AND key = ?2 AND hour >= ?3 AND hour < ?4 GROUP BY value",
                        )
                        .map_err(map_err)?
                        .query_map(params![project_id, key, from, to], |r| Ok((r.get(0)?, r.get(1)?)))
                        .and_then(Iterator::collect)
                        .map_err(map_err)?;
                    merge(&mut counts, hours, false);
                    for edge in [head, tail].into_iter().flatten() {
                        match edge {
                            EdgeRead::Add(span) => merge(&mut counts, tags_in(span)?, false),
                            EdgeRead::Subtract(span) => merge(&mut counts, tags_in(span)?, true),
                        }
                    }
                }
            }
            counts.retain(|_, n| *n > 0);
            Ok(top_counts(counts, limit(n)))
        })
        .await
    }

    async fn issue_timeline(
        &self,
        issue_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
        bucket: Bucket,
    ) -> StoreResult<Vec<(OffsetDateTime, i64)>> {
        self.read(move |c| {
            let counts: Vec<(i64, i64)> = c
                .prepare_cached("SELECT hour, count FROM issue_hourly WHERE issue_id = ?1 AND hour >= ?2 AND hour < ?3")
                .map_err(map_err)?
                .query_map(params![issue_id, floor(since, bucket), to_millis(until)], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(Iterator::collect)
                .map_err(map_err)?;
            Ok(fill_buckets(&counts, since, until, bucket))
        })
        .await
    }

    async fn issue_tag_values(
        &self,
        issue_id: i64,
        per_key: u32,
    ) -> StoreResult<Vec<(String, Vec<(String, i64)>)>> {
        self.read(move |c| {
            let rows: Vec<(String, String, i64)> = c
                .prepare_cached("SELECT key, value, count FROM issue_tags WHERE issue_id = ?1")
                .map_err(map_err)?
                .query_map([issue_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(Iterator::collect)
                .map_err(map_err)?;
            Ok(group_tags(rows, per_key))
        })
        .await
    }

    async fn new_issues(&self, project_id: i64, since: OffsetDateTime) -> StoreResult<i64> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT count(*) FROM issues WHERE project_id = ?1 AND first_seen >= ?2",
            )
            .map_err(map_err)?
            .query_row(params![project_id, to_millis(since)], |r| r.get(0))
            .map_err(map_err)
        })
        .await
    }

    async fn health(&self, project_id: i64, now: OffsetDateTime) -> StoreResult<Health> {
        self.read(move |c| {
            let unresolved: i64 = c
                .prepare_cached("SELECT count(*) FROM issues WHERE project_id = ?1 AND status = 'unresolved'")
                .map_err(map_err)?
                .query_row([project_id], |r| r.get(0))
                .map_err(map_err)?;
            let events_24h: i64 = c
                .prepare_cached("SELECT coalesce(sum(count), 0) FROM project_hourly WHERE project_id = ?1 AND hour >= ?2")
                .map_err(map_err)?
                .query_row(params![project_id, floor(now - time::Duration::hours(24), Bucket::Hour)], |r| r.get(0))
                .map_err(map_err)?;
            let midnight = now.replace_time(time::Time::MIDNIGHT);
            let new_today: i64 = c
                .prepare_cached("SELECT count(*) FROM issues WHERE project_id = ?1 AND first_seen >= ?2")
                .map_err(map_err)?
                .query_row(params![project_id, to_millis(midnight)], |r| r.get(0))
                .map_err(map_err)?;
            Ok(Health {
                unresolved_issues: unresolved,
                events_24h,
                new_issues_today: new_today,
            })
        })
        .await
    }

    async fn project_counts(&self, project_id: i64) -> StoreResult<(i64, i64)> {
        self.read(move |c| {
            c.prepare_cached("SELECT event_count, issue_count FROM projects WHERE id = ?1")
                .map_err(map_err)?
                .query_row([project_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(map_err)?
                .ok_or(StoreError::NotFound("project"))
        })
        .await
    }
}

/// The start of the bucket holding `t`, in ms.
fn floor(t: OffsetDateTime, bucket: Bucket) -> i64 {
    let ms = to_millis(t);
    ms.div_euclid(bucket.millis()) * bucket.millis()
}
