//! Alert rules, firing and the deliveries' outbox on PostgreSQL. Nodes race here: a firing
//! locks its rule's row (`FOR UPDATE`) so that the cooldown and open-alert checks and the
//! insert are one step per rule, the unique `(rule_id, dedupe_key)` makes a repeat no firing,
//! and claims skip rows another node holds (`SKIP LOCKED`).

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{PostgresStore, is_fk_violation, map_err};
use crate::alert_model::{
    Alert, AlertHistoryEntry, AlertRule, AlertRuleUpdate, AlertState, AlertTrigger, AttemptResult,
    Delivery, DeliveryAttempt, DeliveryState, Firing, NewAlert, NewAlertRule,
};
use crate::time_util::now;
use crate::traits::AlertStore;
use crate::{StoreError, StoreResult};

const RULE_COLS: &str = "id, project_id, name, trigger_spec, filters, actions, secret, \
    cooldown_minutes, enabled, created_by, created_at, updated_at";
const ALERT_COLS: &str = "id, rule_id, project_id, issue_id, dedupe_key, kind, state, summary, \
    auto_resolve, fired_at, updated_at";
const DELIVERY_COLS: &str = "id, alert_id, target, idempotency_key, state, attempts, \
    next_attempt_at, created_at, delivered_at, last_error";

fn rule(r: &Row) -> AlertRule {
    AlertRule {
        id: r.get(0),
        project_id: r.get(1),
        name: r.get(2),
        trigger: r.get(3),
        filters: r.get(4),
        actions: r.get(5),
        secret: r.get(6),
        cooldown_minutes: r.get(7),
        enabled: r.get(8),
        created_by: r.get(9),
        created_at: r.get(10),
        updated_at: r.get(11),
    }
}

fn alert(r: &Row) -> StoreResult<Alert> {
    Ok(Alert {
        id: r.get(0),
        rule_id: r.get(1),
        project_id: r.get(2),
        issue_id: r.get(3),
        dedupe_key: r.get(4),
        kind: r.get(5),
        state: r.get::<_, String>(6).parse()?,
        summary: r.get(7),
        auto_resolve: r.get(8),
        fired_at: r.get(9),
        updated_at: r.get(10),
    })
}

fn delivery(r: &Row) -> StoreResult<Delivery> {
    Ok(Delivery {
        id: r.get(0),
        alert_id: r.get(1),
        target: r.get(2),
        idempotency_key: r.get(3),
        state: r.get::<_, String>(4).parse()?,
        attempts: r.get(5),
        next_attempt_at: r.get(6),
        created_at: r.get(7),
        delivered_at: r.get(8),
        last_error: r.get(9),
    })
}

async fn history(
    tx: &Transaction<'_>,
    alert_id: i64,
    state: AlertState,
    actor: Option<i64>,
    note: Option<&str>,
    at: OffsetDateTime,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO alert_history (alert_id, state, actor_id, note, at) VALUES ($1, $2, $3, $4, $5)",
        &[&alert_id, &state.as_str(), &actor, &note, &at],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Inserts one alert of a firing unless a rule of the store says no; see
/// [`AlertStore::fire_alerts`].
async fn fire_one(
    tx: &Transaction<'_>,
    new: &NewAlert,
    at: OffsetDateTime,
) -> StoreResult<Option<Alert>> {
    // The lock makes the checks below and the insert one step per rule across nodes.
    let Some(locked) = tx
        .query_opt(
            "SELECT cooldown_minutes FROM alert_rules WHERE id = $1 AND enabled FOR UPDATE",
            &[&new.rule_id],
        )
        .await
        .map_err(map_err)?
    else {
        return Ok(None);
    };
    let cooldown: i64 = locked.get(0);
    // An issue deleted since its change was recorded gets no alert; the share lock keeps it
    // from being deleted before the insert.
    if let Some(issue) = new.issue_id {
        let exists = tx
            .query_opt(
                "SELECT 1 FROM issues WHERE id = $1 FOR KEY SHARE",
                &[&issue],
            )
            .await
            .map_err(map_err)?;
        if exists.is_none() {
            return Ok(None);
        }
    }
    let since = at - time::Duration::minutes(cooldown.max(0));
    let blocked: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM alerts WHERE rule_id = $1 \
             AND issue_id IS NOT DISTINCT FROM $2 \
             AND kind <> 'test' AND (fired_at > $3 OR ($4 AND state <> 'resolved')))",
            &[&new.rule_id, &new.issue_id, &since, &new.skip_if_open],
        )
        .await
        .map_err(map_err)?
        .get(0);
    // A test (a person asked for one) is never held back, nor holds back a real alert.
    if blocked && new.kind != "test" {
        return Ok(None);
    }
    let Some(row) = tx
        .query_opt(
            &format!(
                "INSERT INTO alerts (rule_id, project_id, issue_id, dedupe_key, kind, state, \
                 summary, auto_resolve, fired_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $8) \
                 ON CONFLICT (rule_id, dedupe_key) DO NOTHING RETURNING {ALERT_COLS}"
            ),
            &[
                &new.rule_id,
                &new.project_id,
                &new.issue_id,
                &new.dedupe_key,
                &new.kind,
                &new.summary,
                &new.auto_resolve,
                &at,
            ],
        )
        .await
        .map_err(map_err)?
    else {
        return Ok(None);
    };
    let fired = alert(&row)?;
    history(tx, fired.id, AlertState::Active, None, None, at).await?;
    for (i, target) in new.deliveries.iter().enumerate() {
        tx.execute(
            "INSERT INTO alert_deliveries (alert_id, target, idempotency_key, state, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, 'pending', $4, $4)",
            &[
                &fired.id,
                target,
                &format!("mesher-alert-{}-{}", fired.id, i),
                &at,
            ],
        )
        .await
        .map_err(map_err)?;
    }
    Ok(Some(fired))
}

#[async_trait]
impl AlertStore for PostgresStore {
    async fn create_alert_rule(&self, new: &NewAlertRule<'_>) -> StoreResult<AlertRule> {
        let conn = self.conn().await?;
        let row = conn
            .query_one(
                &format!(
                    "INSERT INTO alert_rules (project_id, name, trigger_spec, filters, actions, \
                     secret, cooldown_minutes, enabled, created_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING {RULE_COLS}"
                ),
                &[
                    &new.project_id,
                    &new.name,
                    new.trigger,
                    new.filters,
                    new.actions,
                    &new.secret,
                    &new.cooldown_minutes,
                    &new.enabled,
                    &new.created_by,
                    &now(),
                ],
            )
            .await
            .map_err(|e| {
                if is_fk_violation(&e) {
                    StoreError::NotFound("project")
                } else {
                    map_err(e)
                }
            })?;
        Ok(rule(&row))
    }

    async fn alert_rule(&self, id: i64) -> StoreResult<Option<AlertRule>> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                &format!("SELECT {RULE_COLS} FROM alert_rules WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(map_err)?;
        Ok(row.as_ref().map(rule))
    }

    async fn list_alert_rules(&self, project_id: i64) -> StoreResult<Vec<AlertRule>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                &format!("SELECT {RULE_COLS} FROM alert_rules WHERE project_id = $1 ORDER BY id"),
                &[&project_id],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(rule).collect())
    }

    async fn enabled_alert_rules(&self, trigger_type: &str) -> StoreResult<Vec<AlertRule>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                &format!(
                    "SELECT {RULE_COLS} FROM alert_rules \
                     WHERE enabled AND trigger_spec ->> 'type' = $1 ORDER BY id"
                ),
                &[&trigger_type],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(rule).collect())
    }

    async fn update_alert_rule(
        &self,
        id: i64,
        update: &AlertRuleUpdate<'_>,
    ) -> StoreResult<AlertRule> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                &format!(
                    "UPDATE alert_rules SET name = $2, trigger_spec = $3, filters = $4, \
                     actions = $5, cooldown_minutes = $6, enabled = $7, updated_at = $8 \
                     WHERE id = $1 RETURNING {RULE_COLS}"
                ),
                &[
                    &id,
                    &update.name,
                    update.trigger,
                    update.filters,
                    update.actions,
                    &update.cooldown_minutes,
                    &update.enabled,
                    &now(),
                ],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound("alert rule"))?;
        Ok(rule(&row))
    }

    async fn delete_alert_rule(&self, id: i64) -> StoreResult<()> {
        let conn = self.conn().await?;
        match conn
            .execute("DELETE FROM alert_rules WHERE id = $1", &[&id])
            .await
            .map_err(map_err)?
        {
            0 => Err(StoreError::NotFound("alert rule")),
            _ => Ok(()),
        }
    }

    async fn claim_alert_triggers(
        &self,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<AlertTrigger>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "UPDATE alert_triggers SET claimed_until = $2 WHERE id IN \
                 (SELECT id FROM alert_triggers WHERE claimed_until <= $1 ORDER BY id LIMIT $3 \
                  FOR UPDATE SKIP LOCKED) \
                 RETURNING id, project_id, issue_id, kind, event, created_at",
                &[&now, &until, &(limit as i64)],
            )
            .await
            .map_err(map_err)?;
        let mut claimed: Vec<AlertTrigger> = rows
            .iter()
            .map(|r| AlertTrigger {
                id: r.get(0),
                project_id: r.get(1),
                issue_id: r.get(2),
                kind: r.get(3),
                event: r.get(4),
                created_at: r.get(5),
            })
            .collect();
        claimed.sort_by_key(|t| t.id);
        Ok(claimed)
    }

    async fn fire_alerts(&self, firing: &Firing) -> StoreResult<Vec<Alert>> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        if let Some(id) = firing.trigger_id {
            let gone = tx
                .execute("DELETE FROM alert_triggers WHERE id = $1", &[&id])
                .await
                .map_err(map_err)?
                == 0;
            if gone {
                return Ok(Vec::new());
            }
        }
        let mut fired = Vec::new();
        for new in &firing.alerts {
            fired.extend(fire_one(&tx, new, firing.at).await?);
        }
        tx.commit().await.map_err(map_err)?;
        Ok(fired)
    }

    async fn drop_alert_triggers(&self, ids: &[i64]) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let conn = self.conn().await?;
        conn.execute("DELETE FROM alert_triggers WHERE id = ANY($1)", &[&ids])
            .await
            .map_err(map_err)
    }

    async fn alert(&self, id: i64) -> StoreResult<Option<Alert>> {
        let conn = self.conn().await?;
        conn.query_opt(
            &format!("SELECT {ALERT_COLS} FROM alerts WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(map_err)?
        .as_ref()
        .map(alert)
        .transpose()
    }

    async fn list_alerts(
        &self,
        project_id: i64,
        state: Option<AlertState>,
        limit: usize,
    ) -> StoreResult<Vec<Alert>> {
        let conn = self.conn().await?;
        let state = state.map(AlertState::as_str);
        conn.query(
            &format!(
                "SELECT {ALERT_COLS} FROM alerts WHERE project_id = $1 \
                 AND ($2::text IS NULL OR state = $2) ORDER BY id DESC LIMIT $3"
            ),
            &[&project_id, &state, &(limit as i64)],
        )
        .await
        .map_err(map_err)?
        .iter()
        .map(alert)
        .collect()
    }

    async fn open_alerts(&self, rule_id: i64) -> StoreResult<Vec<Alert>> {
        let conn = self.conn().await?;
        conn.query(
            &format!(
                "SELECT {ALERT_COLS} FROM alerts WHERE rule_id = $1 AND state <> 'resolved' \
                 ORDER BY id"
            ),
            &[&rule_id],
        )
        .await
        .map_err(map_err)?
        .iter()
        .map(alert)
        .collect()
    }

    async fn set_alert_state(
        &self,
        id: i64,
        state: AlertState,
        actor_id: Option<i64>,
        note: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<Alert> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let current = tx
            .query_opt(
                &format!("SELECT {ALERT_COLS} FROM alerts WHERE id = $1 FOR UPDATE"),
                &[&id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound("alert"))?;
        let current = alert(&current)?;
        if !current.state.may_become(state) {
            return Err(StoreError::Conflict(format!(
                "the alert is {}: it cannot become {}",
                current.state.as_str(),
                state.as_str()
            )));
        }
        let row = tx
            .query_one(
                &format!(
                    "UPDATE alerts SET state = $2, updated_at = $3 WHERE id = $1 \
                     RETURNING {ALERT_COLS}"
                ),
                &[&id, &state.as_str(), &at],
            )
            .await
            .map_err(map_err)?;
        let updated = alert(&row)?;
        history(&tx, id, state, actor_id, note, at).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(updated)
    }

    async fn alert_history(&self, alert_id: i64) -> StoreResult<Vec<AlertHistoryEntry>> {
        let conn = self.conn().await?;
        conn.query(
            "SELECT state, actor_id, note, at FROM alert_history WHERE alert_id = $1 ORDER BY id",
            &[&alert_id],
        )
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| {
            Ok(AlertHistoryEntry {
                state: r.get::<_, String>(0).parse()?,
                actor_id: r.get(1),
                note: r.get(2),
                at: r.get(3),
            })
        })
        .collect()
    }

    async fn alert_deliveries(
        &self,
        alert_id: i64,
    ) -> StoreResult<Vec<(Delivery, Vec<DeliveryAttempt>)>> {
        let conn = self.conn().await?;
        let deliveries: Vec<Delivery> = conn
            .query(
                &format!(
                    "SELECT {DELIVERY_COLS} FROM alert_deliveries WHERE alert_id = $1 ORDER BY id"
                ),
                &[&alert_id],
            )
            .await
            .map_err(map_err)?
            .iter()
            .map(delivery)
            .collect::<StoreResult<_>>()?;
        let mut out = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            let attempts = conn
                .query(
                    "SELECT at, status, error, duration_ms FROM alert_attempts \
                     WHERE delivery_id = $1 ORDER BY id",
                    &[&d.id],
                )
                .await
                .map_err(map_err)?
                .iter()
                .map(|r| DeliveryAttempt {
                    at: r.get(0),
                    status: r.get(1),
                    error: r.get(2),
                    duration_ms: r.get(3),
                })
                .collect();
            out.push((d, attempts));
        }
        Ok(out)
    }

    async fn claim_deliveries(
        &self,
        node: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let conn = self.conn().await?;
        let mut claimed = conn
            .query(
                &format!(
                    "UPDATE alert_deliveries SET claimed_until = $2, claimed_by = $4 WHERE id IN \
                     (SELECT id FROM alert_deliveries WHERE state = 'pending' \
                      AND next_attempt_at <= $1 AND claimed_until <= $1 ORDER BY id LIMIT $3 \
                      FOR UPDATE SKIP LOCKED) \
                     RETURNING {DELIVERY_COLS}"
                ),
                &[&now, &until, &(limit as i64), &node],
            )
            .await
            .map_err(map_err)?
            .iter()
            .map(delivery)
            .collect::<StoreResult<Vec<_>>>()?;
        claimed.sort_by_key(|d| d.id);
        Ok(claimed)
    }

    async fn release_deliveries(&self, node: &str) -> StoreResult<u64> {
        let conn = self.conn().await?;
        conn.execute(
            "UPDATE alert_deliveries SET claimed_until = 'epoch', claimed_by = NULL \
             WHERE claimed_by = $1 AND state = 'pending'",
            &[&node],
        )
        .await
        .map_err(map_err)
    }

    async fn record_attempt(
        &self,
        delivery_id: i64,
        attempt: &DeliveryAttempt,
        result: AttemptResult,
    ) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        tx.execute(
            "INSERT INTO alert_attempts (delivery_id, at, status, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &delivery_id,
                &attempt.at,
                &attempt.status,
                &attempt.error,
                &attempt.duration_ms,
            ],
        )
        .await
        .map_err(|e| {
            if is_fk_violation(&e) {
                StoreError::NotFound("delivery")
            } else {
                map_err(e)
            }
        })?;
        let (state, next, delivered) = match result {
            AttemptResult::Delivered => (DeliveryState::Delivered, attempt.at, Some(attempt.at)),
            AttemptResult::RetryAt(t) => (DeliveryState::Pending, t, None),
            AttemptResult::GiveUp => (DeliveryState::Failed, attempt.at, None),
        };
        tx.execute(
            "UPDATE alert_deliveries SET state = $2, attempts = attempts + 1, \
             next_attempt_at = $3, delivered_at = $4, last_error = coalesce($5, last_error), \
             claimed_until = 'epoch', claimed_by = NULL WHERE id = $1",
            &[
                &delivery_id,
                &state.as_str(),
                &next,
                &delivered,
                &attempt.error,
            ],
        )
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn recent_issue_counts(
        &self,
        project_id: i64,
        since: OffsetDateTime,
        environment: Option<&str>,
    ) -> StoreResult<Vec<(i64, i64)>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "SELECT issue_id, SUM(count)::bigint FROM issue_minutely \
                 WHERE project_id = $1 AND minute >= $2 \
                 AND ($3::text IS NULL OR environment = $3) \
                 GROUP BY issue_id ORDER BY issue_id",
                &[&project_id, &since, &environment],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn prune_minute_counts(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let conn = self.conn().await?;
        conn.execute("DELETE FROM issue_minutely WHERE minute < $1", &[&before])
            .await
            .map_err(map_err)
    }

    async fn issues_over_users(
        &self,
        project_id: i64,
        users: i64,
        since: OffsetDateTime,
    ) -> StoreResult<Vec<(i64, i64)>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "SELECT id, user_count FROM issues WHERE project_id = $1 AND last_seen >= $3 \
                 AND user_count > $2 AND status <> 'resolved' ORDER BY id",
                &[&project_id, &users, &since],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
