-- Alerts (issue 16): rules per project, the issue changes waiting for them, the alerts fired
-- (one row per rule, subject and window: firing is an insert that can happen once), their
-- history, and a durable outbox of deliveries with every attempt logged.

CREATE TABLE alert_rules (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id       INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    -- JSON documents, validated by the server: {"type": …}, {…}, [{"type": …}, …].
    trigger_spec     TEXT NOT NULL,
    filters          TEXT NOT NULL,
    actions          TEXT NOT NULL,
    -- Signs webhook payloads; shown once at creation.
    secret           TEXT NOT NULL,
    cooldown_minutes INTEGER NOT NULL,
    enabled          INTEGER NOT NULL DEFAULT 1,
    created_by       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX alert_rules_project ON alert_rules (project_id, id);

-- Issue changes (new issue, regression, escalation) written by the event writer in the same
-- transaction as the change: a crash after the commit loses none. The alert engine claims
-- them for a while (claimed_until), fires, and deletes them in the firing transaction.
CREATE TABLE alert_triggers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    issue_id      INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    -- The event that made the change: level, environment, release, tags (for rule filters).
    event         TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX alert_triggers_claimed ON alert_triggers (claimed_until, id);

CREATE TABLE alerts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id      INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    project_id   INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    issue_id     INTEGER REFERENCES issues (id) ON DELETE SET NULL,
    -- What makes this firing unique for its rule: the trigger, or the threshold's window.
    dedupe_key   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('active', 'acknowledged', 'resolved')),
    summary      TEXT NOT NULL,
    auto_resolve INTEGER NOT NULL,
    fired_at     INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (rule_id, dedupe_key)
);
CREATE INDEX alerts_project ON alerts (project_id, id);
CREATE INDEX alerts_rule_issue ON alerts (rule_id, issue_id, fired_at);
CREATE INDEX alerts_issue ON alerts (issue_id);

CREATE TABLE alert_history (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    state    TEXT NOT NULL,
    actor_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    note     TEXT,
    at       INTEGER NOT NULL
);
CREATE INDEX alert_history_alert ON alert_history (alert_id, id);

CREATE TABLE alert_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id        INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    -- The action as the rule had it when the alert fired (JSON).
    target          TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER NOT NULL DEFAULT 0,
    -- The node holding the claim: a node that restarts releases its own at once.
    claimed_by      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_error      TEXT
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (state, next_attempt_at);
CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id);

CREATE TABLE alert_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES alert_deliveries (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    status      INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX alert_attempts_delivery ON alert_attempts (delivery_id, id);

-- Events per issue, minute (of receipt) and environment, for threshold rules ("more than N
-- events in M minutes"): the writer adds to it as to the hourly rollups; the threshold job
-- prunes what no window can reach. No key to issues: an issue's deletion leaves its minutes
-- to the pruning.
CREATE TABLE issue_minutely (
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    minute      INTEGER NOT NULL,
    issue_id    INTEGER NOT NULL,
    environment TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (project_id, minute, issue_id, environment)
) WITHOUT ROWID;
CREATE INDEX issue_minutely_minute ON issue_minutely (minute);
