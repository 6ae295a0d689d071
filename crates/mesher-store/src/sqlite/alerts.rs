//! Alert rules, firing and the deliveries' outbox on SQLite. Every write goes through the one
//! writer connection, so a firing's checks and inserts cannot race another node's: SQLite has
//! no other nodes, and `BEGIN IMMEDIATE` holds off the CLI.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde_json::Value;
use time::OffsetDateTime;

use super::{SqliteStore, is_fk_violation, map_err};
use crate::alert_model::{
    Alert, AlertHistoryEntry, AlertRule, AlertRuleUpdate, AlertState, AlertTrigger, AttemptResult,
    Delivery, DeliveryAttempt, DeliveryState, Firing, NewAlert, NewAlertRule,
};
use crate::time_util::{from_millis, now, to_millis};
use crate::traits::AlertStore;
use crate::{StoreError, StoreResult};

const RULE_COLS: &str = "id, project_id, name, trigger_spec, filters, actions, secret, \
    cooldown_minutes, enabled, created_by, created_at, updated_at";
const ALERT_COLS: &str = "id, rule_id, project_id, issue_id, dedupe_key, kind, state, summary, \
    auto_resolve, fired_at, updated_at";
const DELIVERY_COLS: &str = "id, alert_id, target, idempotency_key, state, attempts, \
    next_attempt_at, created_at, delivered_at, last_error";

fn json(r: &Row<'_>, idx: usize) -> rusqlite::Result<Value> {
    let text: String = r.get(idx)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn parsed<T: std::str::FromStr<Err = StoreError>>(r: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = r.get(idx)?;
    text.parse().map_err(|e: StoreError| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn rule(r: &Row<'_>) -> rusqlite::Result<AlertRule> {
    Ok(AlertRule {
        id: r.get(0)?,
        project_id: r.get(1)?,
        name: r.get(2)?,
        trigger: json(r, 3)?,
        filters: json(r, 4)?,
        actions: json(r, 5)?,
        secret: r.get(6)?,
        cooldown_minutes: r.get(7)?,
        enabled: r.get(8)?,
        created_by: r.get(9)?,
        created_at: from_millis(r.get(10)?),
        updated_at: from_millis(r.get(11)?),
    })
}

fn alert(r: &Row<'_>) -> rusqlite::Result<Alert> {
    Ok(Alert {
        id: r.get(0)?,
        rule_id: r.get(1)?,
        project_id: r.get(2)?,
        issue_id: r.get(3)?,
        dedupe_key: r.get(4)?,
        kind: r.get(5)?,
        state: parsed(r, 6)?,
        summary: r.get(7)?,
        auto_resolve: r.get(8)?,
        fired_at: from_millis(r.get(9)?),
        updated_at: from_millis(r.get(10)?),
    })
}

fn delivery(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        alert_id: r.get(1)?,
        target: json(r, 2)?,
        idempotency_key: r.get(3)?,
        state: parsed(r, 4)?,
        attempts: r.get(5)?,
        next_attempt_at: from_millis(r.get(6)?),
        created_at: from_millis(r.get(7)?),
        delivered_at: r.get::<_, Option<i64>>(8)?.map(from_millis),
        last_error: r.get(9)?,
    })
}

fn query<T>(
    c: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    c.prepare_cached(sql)
        .map_err(map_err)?
        .query_map(params, f)
        .and_then(Iterator::collect)
        .map_err(map_err)
}

fn history(
    tx: &Transaction<'_>,
    alert_id: i64,
    state: AlertState,
    actor: Option<i64>,
    note: Option<&str>,
    at: i64,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO alert_history (alert_id, state, actor_id, note, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![alert_id, state.as_str(), actor, note, at],
    )
    .map_err(map_err)?;
    Ok(())
}

/// Inserts one alert of a firing unless a rule of the store says no; see
/// [`AlertStore::fire_alerts`].
fn fire_one(tx: &Transaction<'_>, new: &NewAlert, at: i64) -> StoreResult<Option<Alert>> {
    let cooldown: Option<i64> = tx
        .query_row(
            "SELECT cooldown_minutes FROM alert_rules WHERE id = ?1 AND enabled",
            [new.rule_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(map_err)?;
    let Some(cooldown) = cooldown else {
        return Ok(None);
    };
    // An issue deleted since its change was recorded gets no alert.
    if let Some(issue) = new.issue_id {
        let exists = tx
            .query_row("SELECT 1 FROM issues WHERE id = ?1", [issue], |_| Ok(()))
            .optional()
            .map_err(map_err)?;
        if exists.is_none() {
            return Ok(None);
        }
    }
    let since = at - cooldown.max(0) * 60_000;
    let blocked: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM alerts WHERE rule_id = ?1 AND issue_id IS ?2 \
             AND kind <> 'test' AND (fired_at > ?3 OR (?4 AND state <> 'resolved')))",
            params![new.rule_id, new.issue_id, since, new.skip_if_open],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    // A test (a person asked for one) is never held back, nor holds back a real alert.
    if blocked && new.kind != "test" {
        return Ok(None);
    }
    let inserted = tx
        .query_row(
            &format!(
                "INSERT INTO alerts (rule_id, project_id, issue_id, dedupe_key, kind, state, \
                 summary, auto_resolve, fired_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?7, ?8, ?8) \
                 ON CONFLICT (rule_id, dedupe_key) DO NOTHING RETURNING {ALERT_COLS}"
            ),
            params![
                new.rule_id,
                new.project_id,
                new.issue_id,
                new.dedupe_key,
                new.kind,
                new.summary,
                new.auto_resolve,
                at
            ],
            alert,
        )
        .optional()
        .map_err(map_err)?;
    let Some(fired) = inserted else {
        return Ok(None);
    };
    history(tx, fired.id, AlertState::Active, None, None, at)?;
    for (i, target) in new.deliveries.iter().enumerate() {
        tx.execute(
            "INSERT INTO alert_deliveries (alert_id, target, idempotency_key, state, \
             next_attempt_at, created_at) VALUES (?1, ?2, ?3, 'pending', ?4, ?4)",
            params![
                fired.id,
                target.to_string(),
                format!("mesher-alert-{}-{}", fired.id, i),
                at
            ],
        )
        .map_err(map_err)?;
    }
    Ok(Some(fired))
}

#[async_trait]
impl AlertStore for SqliteStore {
    async fn create_alert_rule(&self, new: &NewAlertRule<'_>) -> StoreResult<AlertRule> {
        let (project_id, name, trigger, filters, actions, secret) = (
            new.project_id,
            new.name.to_string(),
            new.trigger.to_string(),
            new.filters.to_string(),
            new.actions.to_string(),
            new.secret.to_string(),
        );
        let (cooldown, enabled, by) = (new.cooldown_minutes, new.enabled, new.created_by);
        self.transact(move |tx| {
            let at = to_millis(now());
            tx.query_row(
                &format!(
                    "INSERT INTO alert_rules (project_id, name, trigger_spec, filters, actions, \
                     secret, cooldown_minutes, enabled, created_by, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) RETURNING {RULE_COLS}"
                ),
                params![
                    project_id, name, trigger, filters, actions, secret, cooldown, enabled, by, at
                ],
                rule,
            )
            .map_err(|e| {
                if is_fk_violation(&e) {
                    StoreError::NotFound("project")
                } else {
                    map_err(e)
                }
            })
        })
        .await
    }

    async fn alert_rule(&self, id: i64) -> StoreResult<Option<AlertRule>> {
        self.read(move |c| {
            Ok(query(
                c,
                &format!("SELECT {RULE_COLS} FROM alert_rules WHERE id = ?1"),
                [id],
                rule,
            )?
            .pop())
        })
        .await
    }

    async fn list_alert_rules(&self, project_id: i64) -> StoreResult<Vec<AlertRule>> {
        self.read(move |c| {
            query(
                c,
                &format!("SELECT {RULE_COLS} FROM alert_rules WHERE project_id = ?1 ORDER BY id"),
                [project_id],
                rule,
            )
        })
        .await
    }

    async fn enabled_alert_rules(&self, trigger_type: &str) -> StoreResult<Vec<AlertRule>> {
        let kind = trigger_type.to_string();
        self.read(move |c| {
            query(
                c,
                &format!(
                    "SELECT {RULE_COLS} FROM alert_rules \
                     WHERE enabled AND json_extract(trigger_spec, '$.type') = ?1 ORDER BY id"
                ),
                [kind],
                rule,
            )
        })
        .await
    }

    async fn update_alert_rule(
        &self,
        id: i64,
        update: &AlertRuleUpdate<'_>,
    ) -> StoreResult<AlertRule> {
        let (name, trigger, filters, actions) = (
            update.name.to_string(),
            update.trigger.to_string(),
            update.filters.to_string(),
            update.actions.to_string(),
        );
        let (cooldown, enabled) = (update.cooldown_minutes, update.enabled);
        self.transact(move |tx| {
            tx.query_row(
                &format!(
                    "UPDATE alert_rules SET name = ?2, trigger_spec = ?3, filters = ?4, \
                     actions = ?5, cooldown_minutes = ?6, enabled = ?7, updated_at = ?8 \
                     WHERE id = ?1 RETURNING {RULE_COLS}"
                ),
                params![
                    id,
                    name,
                    trigger,
                    filters,
                    actions,
                    cooldown,
                    enabled,
                    to_millis(now())
                ],
                rule,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound("alert rule"))
        })
        .await
    }

    async fn delete_alert_rule(&self, id: i64) -> StoreResult<()> {
        self.transact(move |tx| {
            match tx
                .execute("DELETE FROM alert_rules WHERE id = ?1", [id])
                .map_err(map_err)?
            {
                0 => Err(StoreError::NotFound("alert rule")),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn claim_alert_triggers(
        &self,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<AlertTrigger>> {
        let (now, until, limit) = (to_millis(now), to_millis(until), limit as i64);
        self.transact(move |tx| {
            query(
                tx,
                "UPDATE alert_triggers SET claimed_until = ?2 WHERE id IN \
                 (SELECT id FROM alert_triggers WHERE claimed_until <= ?1 ORDER BY id LIMIT ?3) \
                 RETURNING id, project_id, issue_id, kind, event, created_at",
                params![now, until, limit],
                |r| {
                    Ok(AlertTrigger {
                        id: r.get(0)?,
                        project_id: r.get(1)?,
                        issue_id: r.get(2)?,
                        kind: r.get(3)?,
                        event: json(r, 4)?,
                        created_at: from_millis(r.get(5)?),
                    })
                },
            )
            .map(|mut v| {
                v.sort_by_key(|t| t.id);
                v
            })
        })
        .await
    }

    async fn fire_alerts(&self, firing: &Firing) -> StoreResult<Vec<Alert>> {
        let firing = firing.clone();
        self.transact(move |tx| {
            if let Some(id) = firing.trigger_id {
                let gone = tx
                    .execute("DELETE FROM alert_triggers WHERE id = ?1", [id])
                    .map_err(map_err)?
                    == 0;
                if gone {
                    return Ok(Vec::new());
                }
            }
            let at = to_millis(firing.at);
            let mut fired = Vec::new();
            for new in &firing.alerts {
                fired.extend(fire_one(tx, new, at)?);
            }
            Ok(fired)
        })
        .await
    }

    async fn drop_alert_triggers(&self, ids: &[i64]) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        self.transact(move |tx| {
            tx.execute(
                "DELETE FROM alert_triggers WHERE id IN (SELECT value FROM json_each(?1))",
                [ids],
            )
            .map(|n| n as u64)
            .map_err(map_err)
        })
        .await
    }

    async fn alert(&self, id: i64) -> StoreResult<Option<Alert>> {
        self.read(move |c| {
            Ok(query(
                c,
                &format!("SELECT {ALERT_COLS} FROM alerts WHERE id = ?1"),
                [id],
                alert,
            )?
            .pop())
        })
        .await
    }

    async fn list_alerts(
        &self,
        project_id: i64,
        state: Option<AlertState>,
        limit: usize,
    ) -> StoreResult<Vec<Alert>> {
        let state = state.map(AlertState::as_str);
        self.read(move |c| {
            query(
                c,
                &format!(
                    "SELECT {ALERT_COLS} FROM alerts WHERE project_id = ?1 \
                     AND (?2 IS NULL OR state = ?2) ORDER BY id DESC LIMIT ?3"
                ),
                params![project_id, state, limit as i64],
                alert,
            )
        })
        .await
    }

    async fn open_alerts(&self, rule_id: i64) -> StoreResult<Vec<Alert>> {
        self.read(move |c| {
            query(
                c,
                &format!(
                    "SELECT {ALERT_COLS} FROM alerts WHERE rule_id = ?1 AND state <> 'resolved' \
                     ORDER BY id"
                ),
                [rule_id],
                alert,
            )
        })
        .await
    }

    async fn set_alert_state(
        &self,
        id: i64,
        state: AlertState,
        actor_id: Option<i64>,
        note: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<Alert> {
        let note = note.map(str::to_string);
        self.transact(move |tx| {
            let current = tx
                .query_row(
                    &format!("SELECT {ALERT_COLS} FROM alerts WHERE id = ?1"),
                    [id],
                    alert,
                )
                .optional()
                .map_err(map_err)?
                .ok_or(StoreError::NotFound("alert"))?;
            if !current.state.may_become(state) {
                return Err(StoreError::Conflict(format!(
                    "the alert is {}: it cannot become {}",
                    current.state.as_str(),
                    state.as_str()
                )));
            }
            let at = to_millis(at);
            let updated = tx
                .query_row(
                    &format!(
                        "UPDATE alerts SET state = ?2, updated_at = ?3 WHERE id = ?1 \
                         RETURNING {ALERT_COLS}"
                    ),
                    params![id, state.as_str(), at],
                    alert,
                )
                .map_err(map_err)?;
            history(tx, id, state, actor_id, note.as_deref(), at)?;
            Ok(updated)
        })
        .await
    }

    async fn alert_history(&self, alert_id: i64) -> StoreResult<Vec<AlertHistoryEntry>> {
        self.read(move |c| {
            query(
                c,
                "SELECT state, actor_id, note, at FROM alert_history WHERE alert_id = ?1 ORDER BY id",
                [alert_id],
                |r| {
                    Ok(AlertHistoryEntry {
                        state: parsed(r, 0)?,
                        actor_id: r.get(1)?,
                        note: r.get(2)?,
                        at: from_millis(r.get(3)?),
                    })
                },
            )
        })
        .await
    }

    async fn alert_deliveries(
        &self,
        alert_id: i64,
    ) -> StoreResult<Vec<(Delivery, Vec<DeliveryAttempt>)>> {
        self.read(move |c| {
            let deliveries = query(
                c,
                &format!(
                    "SELECT {DELIVERY_COLS} FROM alert_deliveries WHERE alert_id = ?1 ORDER BY id"
                ),
                [alert_id],
                delivery,
            )?;
            deliveries
                .into_iter()
                .map(|d| {
                    let attempts = query(
                        c,
                        "SELECT at, status, error, duration_ms FROM alert_attempts \
                         WHERE delivery_id = ?1 ORDER BY id",
                        [d.id],
                        |r| {
                            Ok(DeliveryAttempt {
                                at: from_millis(r.get(0)?),
                                status: r.get(1)?,
                                error: r.get(2)?,
                                duration_ms: r.get(3)?,
                            })
                        },
                    )?;
                    Ok((d, attempts))
                })
                .collect()
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        node: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let (now, until, limit) = (to_millis(now), to_millis(until), limit as i64);
        let node = node.to_string();
        self.transact(move |tx| {
            let mut claimed = query(
                tx,
                &format!(
                    "UPDATE alert_deliveries SET claimed_until = ?2, claimed_by = ?4 WHERE id IN \
                     (SELECT id FROM alert_deliveries WHERE state = 'pending' \
                      AND next_attempt_at <= ?1 AND claimed_until <= ?1 ORDER BY id LIMIT ?3) \
                     RETURNING {DELIVERY_COLS}"
                ),
                params![now, until, limit, node],
                delivery,
            )?;
            claimed.sort_by_key(|d| d.id);
            Ok(claimed)
        })
        .await
    }

    async fn release_deliveries(&self, node: &str) -> StoreResult<u64> {
        let node = node.to_string();
        self.transact(move |tx| {
            tx.execute(
                "UPDATE alert_deliveries SET claimed_until = 0, claimed_by = NULL \
                 WHERE claimed_by = ?1 AND state = 'pending'",
                [node],
            )
            .map(|n| n as u64)
            .map_err(map_err)
        })
        .await
    }

    async fn record_attempt(
        &self,
        delivery_id: i64,
        attempt: &DeliveryAttempt,
        result: AttemptResult,
    ) -> StoreResult<()> {
        let attempt = attempt.clone();
        self.transact(move |tx| {
            let at = to_millis(attempt.at);
            tx.execute(
                "INSERT INTO alert_attempts (delivery_id, at, status, error, duration_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    delivery_id,
                    at,
                    attempt.status,
                    attempt.error,
                    attempt.duration_ms
                ],
            )
            .map_err(|e| {
                if is_fk_violation(&e) {
                    StoreError::NotFound("delivery")
                } else {
                    map_err(e)
                }
            })?;
            let (state, next, delivered) = match result {
                AttemptResult::Delivered => (DeliveryState::Delivered, at, Some(at)),
                AttemptResult::RetryAt(t) => (DeliveryState::Pending, to_millis(t), None),
                AttemptResult::GiveUp => (DeliveryState::Failed, at, None),
            };
            tx.execute(
                "UPDATE alert_deliveries SET state = ?2, attempts = attempts + 1, \
                 next_attempt_at = ?3, delivered_at = ?4, last_error = coalesce(?5, last_error), claimed_until = 0, claimed_by = NULL \
                 WHERE id = ?1",
                params![delivery_id, state.as_str(), next, delivered, attempt.error],
            )
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn recent_issue_counts(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        environment: Option<&str>,
    ) -> StoreResult<Vec<(i64, i64)>> {
        let (since, env) = (to_millis(since), environment.map(str::to_string));
        self.read(move |c| {
            query(
                c,
                "SELECT issue_id, SUM(count) FROM issue_minutely \
                 WHERE project_id = ?1 AND minute >= ?2 AND (?3 IS NULL OR environment = ?3) \
                 GROUP BY issue_id ORDER BY issue_id",
                params![project_id, since, env],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await
    }

    async fn prune_minute_counts(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let before = to_millis(before);
        self.transact(move |tx| {
            tx.execute("DELETE FROM issue_minutely WHERE minute < ?1", [before])
                .map(|n| n as u64)
                .map_err(map_err)
        })
        .await
    }

    async fn issues_over_users(
        &self,
        project_id: i64,
        users: i64,
        since: OffsetDateTime,
    ) -> StoreResult<Vec<(i64, i64)>> {
        let since = to_millis(since);
        self.read(move |c| {
            query(
                c,
                "SELECT id, user_count FROM issues WHERE project_id = ?1 AND last_seen >= ?3 \
                 AND user_count > ?2 AND status <> 'resolved' ORDER BY id",
                params![project_id, users, since],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await
    }
}
