-- Exact distinct users per issue (issue 12, row 8): the stable 64-bit hash of every user
-- identity an issue has seen, until it has more than 10,000 users; then the set is drained into
-- the 2^14-register sketch in issues.users_hll. Issues that already hold a 256-register sketch
-- (written before this migration) keep counting in it: their users cannot be recovered from it.
-- Deleting an issue deletes its users.
CREATE TABLE issue_users (
    issue_id  BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    user_hash BIGINT NOT NULL,
    PRIMARY KEY (issue_id, user_hash)
);
