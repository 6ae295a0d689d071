-- Invitations to organizations: a membership starts only when the invited user accepts.
-- Addressed to an email (whether or not it has an account, which the inviter is not told).

CREATE TABLE invitations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id     INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    invited_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (org_id, email)
);
CREATE INDEX invitations_email ON invitations (email);
