-- Server-side data scrubbing per project (issue 11), with Sentry's defaults: scrubbing on,
-- IP addresses kept. The field lists are JSON arrays of strings.
ALTER TABLE projects ADD COLUMN scrub_data INTEGER NOT NULL DEFAULT 1 CHECK (scrub_data IN (0, 1));
ALTER TABLE projects ADD COLUMN scrub_ip_addresses INTEGER NOT NULL DEFAULT 0 CHECK (scrub_ip_addresses IN (0, 1));
ALTER TABLE projects ADD COLUMN sensitive_fields TEXT NOT NULL DEFAULT '[]';
ALTER TABLE projects ADD COLUMN safe_fields TEXT NOT NULL DEFAULT '[]';
