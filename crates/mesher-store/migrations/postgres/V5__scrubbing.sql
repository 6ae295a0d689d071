-- Server-side data scrubbing per project (issue 11), with Sentry's defaults: scrubbing on,
-- IP addresses kept.
ALTER TABLE projects
    ADD COLUMN scrub_data         BOOLEAN NOT NULL DEFAULT TRUE,
    ADD COLUMN scrub_ip_addresses BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN sensitive_fields   TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN safe_fields        TEXT[] NOT NULL DEFAULT '{}';
