//! Lists, search and dashboard reads on PostgreSQL.

use std::collections::HashMap;

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::types::ToSql;

use super::issues::{ISSUE_COLS, issue_row};
use super::{PostgresStore, map_err};
use mesher_protocol::EventId;

use crate::event_model::{Issue, event_id_from_text};
use crate::issue_period::{Bind, Dialect};
use crate::query::{
    AssigneeFilter, Bucket, Cursor, EventQuery, EventSummary, Health, IssueCount, IssueQuery,
    IssueSort, MAX_PAGE, Page, fill_buckets, query_words, tag_token,
};
use crate::query::{group_tags, top_counts};
use crate::rollup::project_token;
use crate::tag_breakdown::{self, Edge, EdgeRead, Plan, Span, rollup_hours};
use crate::time_util::{from_millis, to_millis};
use crate::traits::QueryStore;
use crate::{StoreError, StoreResult};

type Param = Box<dyn ToSql + Sync + Send>;

/// A statement under construction: SQL text and its numbered parameters.
#[derive(Default)]
pub(super) struct Sql {
    pub(super) text: String,
    params: Vec<Param>,
}

impl Sql {
    pub(super) fn new(text: &str) -> Self {
        Sql {
            text: text.to_string(),
            params: Vec::new(),
        }
    }

    /// Appends `fragment`, whose `?` become the next `$n`, binding `values` in order.
    pub(super) fn push(&mut self, fragment: &str, values: Vec<Param>) {
        let mut values = values.into_iter();
        for c in fragment.chars() {
            if c == '?' {
                if let Some(v) = values.next() {
                    self.params.push(v);
                    self.text.push_str(&format!("${}", self.params.len()));
                }
            } else {
                self.text.push(c);
            }
        }
    }

    pub(super) fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// A shared fragment's value as PostgreSQL binds it.
fn bind(b: Bind) -> Param {
    match b {
        Bind::Time(t) => Box::new(t),
        Bind::Text(s) => Box::new(s),
        Bind::Int(i) => Box::new(i),
    }
}

fn limit(l: u32) -> u32 {
    l.clamp(1, MAX_PAGE)
}

fn floor(t: OffsetDateTime, bucket: Bucket) -> OffsetDateTime {
    let ms = to_millis(t);
    from_millis(ms.div_euclid(bucket.millis()) * bucket.millis())
}

/// The tsquery for full-text words (prefix matches) and exact tag tokens, confined to a project.
/// Words are letters and digits only ([`query_words`]), so they cannot be tsquery syntax.
fn tsquery(project_id: i64, query: Option<&str>, tags: &[(String, String)]) -> Option<String> {
    let words = query.map(query_words).unwrap_or_default();
    if words.is_empty() && tags.is_empty() {
        return None;
    }
    let mut parts = vec![project_token(project_id)];
    parts.extend(words.iter().map(|w| format!("{w}:*")));
    parts.extend(tags.iter().map(|(k, v)| tag_token(k, v)));
    Some(parts.join(" & "))
}

/// An event list's statement up to its conditions: the project, the search (`expr`, a
/// [`tsquery`]; `indexed`: whether the full-text index may serve it) and the filters; the
/// caller adds the position and the order.
fn event_select(q: &EventQuery, expr: Option<&str>, indexed: bool) -> Sql {
    let mut sql = Sql::new(
        "SELECT replace(e.event_id::text, '-', ''), e.issue_id, e.timestamp, e.level, e.title, \
         e.environment, e.release, e.id FROM events e WHERE ",
    );
    sql.push("e.project_id = ?", vec![Box::new(q.project_id)]);
    if let Some(expr) = expr {
        // `IS TRUE` is the same test in a form no index matches: the rows come from the
        // position's range of ids instead.
        let test = if indexed {
            " AND e.search @@ to_tsquery('simple', ?)"
        } else {
            " AND (e.search @@ to_tsquery('simple', ?)) IS TRUE"
        };
        sql.push(test, vec![Box::new(expr.to_string())]);
    }
    if let Some(i) = q.issue_id {
        sql.push(" AND e.issue_id = ?", vec![Box::new(i)]);
    }
    for (col, v) in [
        ("level", &q.level),
        ("environment", &q.environment),
        ("release", &q.release),
    ] {
        if let Some(v) = v {
            sql.push(&format!(" AND e.{col} = ?"), vec![Box::new(v.clone())]);
        }
    }
    if let Some(t) = q.since {
        sql.push(" AND e.timestamp >= ?", vec![Box::new(t)]);
    }
    if let Some(t) = q.until {
        sql.push(" AND e.timestamp < ?", vec![Box::new(t)]);
    }
    sql
}

/// The issues `q` asks for (every page: no cursor, order or limit), each with its
/// `period_count`, after `prefix`; the list and its count share it.
fn matching_issues(prefix: &str, q: &IssueQuery) -> Sql {
    let mut sql = Sql::new(&format!("{prefix}SELECT * FROM (SELECT {ISSUE_COLS}, "));
    let period_counts = q.period_counts();
    match (&period_counts, q.period_count(Dialect::Postgres)) {
        (Some(_), _) => sql.push("coalesce(pc.n, 0)", vec![]),
        (None, Some(f)) => sql.push(&f.sql, f.binds.into_iter().map(bind).collect()),
        (None, None) => sql.push("NULL::bigint", vec![]),
    }
    sql.push(" AS period_count FROM issues", vec![]);
    if let Some(f) = period_counts {
        sql.push(" LEFT JOIN ", vec![]);
        sql.push(&f.sql, f.binds.into_iter().map(bind).collect());
        sql.push(" pc ON pc.issue_id = issues.id", vec![]);
    }
    sql.push(" WHERE project_id = ?", vec![Box::new(q.project_id)]);
    match q.status {
        Some(s) => sql.push(" AND status = ?", vec![Box::new(s.as_str().to_string())]),
        // A discarded issue is a tombstone, listed only when asked for (issue 12, row 10).
        None => sql.push(" AND status <> 'discarded'", vec![]),
    }
    match q.assignee {
        Some(AssigneeFilter::Nobody) => sql.push(" AND assignee_id IS NULL", vec![]),
        Some(AssigneeFilter::User(u)) => sql.push(" AND assignee_id = ?", vec![Box::new(u)]),
        None => {}
    }
    let matching = q.match_conditions(Dialect::Postgres);
    sql.push(
        &matching.sql,
        matching.binds.into_iter().map(bind).collect(),
    );
    for word in q.query.as_deref().map(query_words).unwrap_or_default() {
        sql.push(
            " AND strpos(lower(title || ' ' || coalesce(culprit, '')), ?) > 0",
            vec![Box::new(word)],
        );
    }
    sql.push(") issues", vec![]);
    sql
}

#[async_trait]
impl QueryStore for PostgresStore {
    async fn query_issues(&self, q: &IssueQuery) -> StoreResult<Page<Issue>> {
        let period_count = q.period_count(Dialect::Postgres);
        let column = match q.sort {
            IssueSort::LastSeen => "last_seen",
            IssueSort::FirstSeen => "first_seen",
            IssueSort::Count if period_count.is_some() => "period_count",
            IssueSort::Count => "event_count",
        };
        let mut sql = matching_issues("", q);
        if let Some(cur) = q.cursor {
            match q.sort {
                IssueSort::Count => sql.push(
                    &format!(" WHERE ({column}, id) < (?, ?)"),
                    vec![Box::new(cur.value), Box::new(cur.id)],
                ),
                _ => sql.push(
                    &format!(" WHERE ({column}, id) < (?, ?)"),
                    vec![Box::new(from_millis(cur.value)), Box::new(cur.id)],
                ),
            }
        }
        let n = limit(q.limit);
        sql.push(
            &format!(" ORDER BY {column} DESC, id DESC LIMIT {}", n + 1),
            vec![],
        );
        let conn = self.conn().await?;
        let rows = conn.query(&sql.text, &sql.refs()).await.map_err(map_err)?;
        // `period_count` follows the issue's columns.
        let period_column = ISSUE_COLS.split(',').count();
        let mut items = rows
            .iter()
            .map(|r| {
                let mut issue = issue_row(r)?;
                issue.period_count = r.get(period_column);
                Ok(issue)
            })
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
    }

    async fn count_issues(&self, q: &IssueQuery) -> StoreResult<u64> {
        let mut sql = matching_issues("SELECT count(*) FROM (", q);
        sql.push(") counted", vec![]);
        let conn = self.conn().await?;
        let row = conn
            .query_one(&sql.text, &sql.refs())
            .await
            .map_err(map_err)?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or_default())
    }

    async fn query_events(&self, q: &EventQuery) -> StoreResult<Page<EventSummary>> {
        // Without a full-text search an event list is newest first by event time (issue 12,
        // row 6), ties by id; with one it stays in arrival order, as on SQLite.
        let search = tsquery(q.project_id, q.query.as_deref(), &q.tags);
        let by_time = search.is_none();
        let n = limit(q.limit);
        let conn = self.conn().await?;
        let rows = match search {
            Some(expr) => {
                super::search::newest_matches(
                    &**conn,
                    q.project_id,
                    q.cursor.map(|c| c.id),
                    n as usize + 1,
                    |indexed| event_select(q, Some(&expr), indexed),
                )
                .await?
            }
            None => {
                let mut sql = event_select(q, None, true);
                if let Some(cur) = q.cursor {
                    sql.push(
                        " AND (e.timestamp, e.id) < (?, ?)",
                        vec![Box::new(from_millis(cur.value)), Box::new(cur.id)],
                    );
                }
                sql.push(
                    &format!(" ORDER BY e.timestamp DESC, e.id DESC LIMIT {}", n + 1),
                    vec![],
                );
                conn.query(&sql.text, &sql.refs()).await.map_err(map_err)?
            }
        };
        let mut items: Vec<(EventSummary, i64)> = rows
            .iter()
            .map(|r| {
                Ok((
                    EventSummary {
                        event_id: event_id_from_text(r.get(0))?,
                        issue_id: r.get(1),
                        timestamp: r.get(2),
                        level: r.get(3),
                        title: r.get(4),
                        environment: r.get(5),
                        release: r.get(6),
                    },
                    r.get(7),
                ))
            })
            .collect::<StoreResult<_>>()?;
        let next_cursor = if items.len() > n as usize {
            items.truncate(n as usize);
            items.last().map(|(e, id)| {
                let value = if by_time { to_millis(e.timestamp) } else { *id };
                Cursor { value, id: *id }.encode()
            })
        } else {
            None
        };
        Ok(Page {
            items: items.into_iter().map(|(e, _)| e).collect(),
            next_cursor,
        })
    }

    async fn adjacent_events(
        &self,
        issue_id: i64,
        event_id: EventId,
    ) -> StoreResult<(Option<EventId>, Option<EventId>)> {
        let conn = self.conn().await?;
        let hex = event_id.to_string();
        let row = conn
            .query_one(
                // Older and newer by event time, as the issue's event list orders them (row 6).
                "WITH cur AS (SELECT timestamp, id FROM events WHERE project_id = (SELECT project_id FROM issues WHERE id = $1) \
                   AND event_id = $2::text::uuid AND issue_id = $1) \
                 SELECT (SELECT replace(event_id::text, '-', '') FROM events WHERE issue_id = $1 \
                           AND (timestamp, id) < (SELECT timestamp, id FROM cur) \
                           ORDER BY timestamp DESC, id DESC LIMIT 1), \
                        (SELECT replace(event_id::text, '-', '') FROM events WHERE issue_id = $1 \
                           AND (timestamp, id) > (SELECT timestamp, id FROM cur) \
                           ORDER BY timestamp ASC, id ASC LIMIT 1)",
                &[&issue_id, &hex],
            )
            .await
            .map_err(map_err)?;
        let id = |i: usize| {
            row.get::<_, Option<String>>(i)
                .map(|text| event_id_from_text(&text))
                .transpose()
        };
        Ok((id(0)?, id(1)?))
    }

    async fn volume(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
        bucket: Bucket,
    ) -> StoreResult<Vec<(OffsetDateTime, i64)>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "SELECT hour, sum(count)::bigint FROM project_hourly WHERE project_id = $1 AND hour >= $2 \
                 AND hour < $3 GROUP BY hour",
                &[&project_id, &floor(since, bucket), &until],
            )
            .await
            .map_err(map_err)?;
        let counts: Vec<(i64, i64)> = rows
            .iter()
            .map(|r| (to_millis(r.get::<_, OffsetDateTime>(0)), r.get(1)))
            .collect();
        Ok(fill_buckets(&counts, since, until, bucket))
    }

    async fn level_counts(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Vec<(String, i64)>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "SELECT level, sum(count)::bigint AS n FROM project_hourly WHERE project_id = $1 AND hour >= $2 \
                 AND hour < $3 GROUP BY level ORDER BY n DESC, level",
                &[&project_id, &floor(since, Bucket::Hour), &until],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn top_issues(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
        n: u32,
    ) -> StoreResult<Vec<IssueCount>> {
        let conn = self.conn().await?;
        if crate::top_walk::worth_walking(since, until)
            && let Some(top) = super::top_issues::walk(
                &**conn,
                project_id,
                floor(since, Bucket::Hour),
                until,
                limit(n) as usize,
            )
            .await?
        {
            return Ok(top);
        }
        let cols = ISSUE_COLS
            .split(", ")
            .map(|c| format!("i.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = conn
            .query(
                &format!(
                    "SELECT {cols}, t.n FROM (SELECT h.issue_id, sum(h.count)::bigint AS n FROM issue_hourly h \
                     WHERE h.project_id = $1 AND h.hour >= $2 AND h.hour < $3 \
                     GROUP BY h.issue_id ORDER BY n DESC, h.issue_id DESC LIMIT $4) t \
                     JOIN issues i ON i.id = t.issue_id ORDER BY t.n DESC, i.id DESC"
                ),
                &[&project_id, &floor(since, Bucket::Hour), &until, &i64::from(limit(n))],
            )
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(IssueCount {
                    issue: issue_row(r)?,
                    count: r.get(19),
                })
            })
            .collect()
    }

    async fn tag_values(
        &self,
        project_id: i64,
        key: &str,
        since: OffsetDateTime,
        until: OffsetDateTime,
        n: u32,
    ) -> StoreResult<Vec<(String, i64)>> {
        let conn = self.conn().await?;
        // The events of a span, their tag values counted with a sign.
        let tags_in = |sql: &mut Sql, (from, to): Span, sign: i64| {
            sql.push(
                " UNION ALL SELECT tags ->> ?, count(*) * ? FROM events WHERE project_id = ?",
                vec![
                    Box::new(key.to_string()),
                    Box::new(sign),
                    Box::new(project_id),
                ],
            );
            sql.push(
                " AND timestamp >= ? AND timestamp < ? AND jsonb_typeof(tags -> ?) = 'string' GROUP BY 1",
                vec![
                    Box::new(from_millis(from)),
                    Box::new(from_millis(to)),
                    Box::new(key.to_string()),
                ],
            );
        };
        let mut sql = Sql::new("SELECT value, sum(n)::bigint FROM (");
        match tag_breakdown::plan(since, until) {
            Plan::Events(span) => {
                // No rollup rows: the union's first member selects nothing.
                sql.push(
                    "SELECT NULL::text AS value, 0::bigint AS n WHERE false",
                    vec![],
                );
                tags_in(&mut sql, span, 1);
            }
            Plan::Hours { whole, head, tail } => {
                let edges: Vec<Edge> = [head, tail].into_iter().flatten().collect();
                let mut counts = Sql::new("SELECT 0::bigint");
                for span in edges.iter().flat_map(|e| [e.inside, e.outside]) {
                    counts.push(
                        ", (SELECT count(*) FROM events WHERE project_id = ? AND timestamp >= ? AND timestamp < ?)",
                        vec![
                            Box::new(project_id),
                            Box::new(from_millis(span.0)),
                            Box::new(from_millis(span.1)),
                        ],
                    );
                }
                let row = if edges.is_empty() {
                    None
                } else {
                    Some(
                        conn.query_one(&counts.text, &counts.refs())
                            .await
                            .map_err(map_err)?,
                    )
                };
                let mut column = 0;
                let mut read = || {
                    column += 2;
                    row.as_ref().map_or((0, 0), |r| {
                        (r.get::<_, i64>(column - 1), r.get::<_, i64>(column))
                    })
                };
                let mut choose = |edge: Option<Edge>| {
                    edge.map(|e| {
                        let (inside, outside) = read();
                        e.read(inside, outside)
                    })
                };
                let (head, tail) = (choose(head), choose(tail));
                let (from, to) = rollup_hours(whole, head, tail);
                sql.push(
                    "SELECT value, count AS n FROM project_tag_hourly WHERE project_id = ? AND key = ?",
                    vec![Box::new(project_id), Box::new(key.to_string())],
                );
                sql.push(
                    " AND hour >= ? AND hour < ?",
                    vec![Box::new(from_millis(from)), Box::new(from_millis(to))],
                );
                for edge in [head, tail].into_iter().flatten() {
                    match edge {
                        EdgeRead::Add(span) => tags_in(&mut sql, span, 1),
                        EdgeRead::Subtract(span) => tags_in(&mut sql, span, -1),
                    }
                }
            }
        }
        sql.push(
            ") s WHERE value IS NOT NULL GROUP BY value HAVING sum(n) > 0",
            vec![],
        );
        let rows = conn.query(&sql.text, &sql.refs()).await.map_err(map_err)?;
        let counts: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(top_counts(counts, limit(n)))
    }

    async fn issue_timeline(
        &self,
        issue_id: i64,
        since: OffsetDateTime,
        until: OffsetDateTime,
        bucket: Bucket,
    ) -> StoreResult<Vec<(OffsetDateTime, i64)>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "SELECT hour, count FROM issue_hourly WHERE issue_id = $1 AND hour >= $2 AND hour < $3",
                &[&issue_id, &floor(since, bucket), &until],
            )
            .await
            .map_err(map_err)?;
        let counts: Vec<(i64, i64)> = rows
            .iter()
            .map(|r| (to_millis(r.get::<_, OffsetDateTime>(0)), r.get(1)))
            .collect();
        Ok(fill_buckets(&counts, since, until, bucket))
    }

    async fn issue_tag_values(
        &self,
        issue_id: i64,
        per_key: u32,
    ) -> StoreResult<Vec<(String, Vec<(String, i64)>)>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "SELECT key, value, count FROM issue_tags WHERE issue_id = $1",
                &[&issue_id],
            )
            .await
            .map_err(map_err)?;
        Ok(group_tags(
            rows.iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect(),
            per_key,
        ))
    }

    async fn new_issues(&self, project_id: i64, since: OffsetDateTime) -> StoreResult<i64> {
        let conn = self.conn().await?;
        let row = conn
            .query_one(
                "SELECT count(*) FROM issues WHERE project_id = $1 AND first_seen >= $2",
                &[&project_id, &since],
            )
            .await
            .map_err(map_err)?;
        Ok(row.get(0))
    }

    async fn health(&self, project_id: i64, now: OffsetDateTime) -> StoreResult<Health> {
        let conn = self.conn().await?;
        let midnight = now.replace_time(time::Time::MIDNIGHT);
        let row = conn
            .query_one(
                "SELECT (SELECT count(*) FROM issues WHERE project_id = $1 AND status = 'unresolved'), \
                        (SELECT coalesce(sum(count), 0)::bigint FROM project_hourly WHERE project_id = $1 AND hour >= $2), \
                        (SELECT count(*) FROM issues WHERE project_id = $1 AND first_seen >= $3)",
                &[&project_id, &floor(now - time::Duration::hours(24), Bucket::Hour), &midnight],
            )
            .await
            .map_err(map_err)?;
        Ok(Health {
            unresolved_issues: row.get(0),
            events_24h: row.get(1),
            new_issues_today: row.get(2),
        })
    }

    async fn project_counts(&self, project_id: i64) -> StoreResult<(i64, i64)> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                "SELECT event_count, issue_count FROM projects WHERE id = $1",
                &[&project_id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound("project"))?;
        Ok((row.get(0), row.get(1)))
    }
}
