-- What a build pipeline tells about its releases besides their source maps (issue 18's
-- follow-up): `sentry-cli deploys new` records a deploy of a release to an environment;
-- `sentry-cli releases set-commits` sends the commits a release is made of. Both belong to the
-- organization, as releases do in Sentry's API, and stay as long as it does. `releases finalize`
-- records when a project's release was released.
ALTER TABLE releases ADD COLUMN date_released INTEGER;

CREATE TABLE deploys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id        INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    version       TEXT NOT NULL,
    environment   TEXT NOT NULL,
    name          TEXT,
    url           TEXT,
    date_started  INTEGER,
    date_finished INTEGER NOT NULL
);
CREATE INDEX deploys_by_release ON deploys (org_id, version, id);

-- The last set of commits given for a release, newest first (`position` 0 is the head). The
-- release before one, for `previous-with-commits`, is the newest older one (by `releases`'
-- `first_seen`) that has commits.
CREATE TABLE release_commits (
    org_id       INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    version      TEXT NOT NULL,
    position     INTEGER NOT NULL,
    commit_id    TEXT NOT NULL,
    repository   TEXT,
    message      TEXT,
    author_name  TEXT,
    author_email TEXT,
    committed_at INTEGER,
    PRIMARY KEY (org_id, version, position)
) WITHOUT ROWID;

