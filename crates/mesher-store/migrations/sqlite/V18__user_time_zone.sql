-- Each user's time zone for the dashboard (issue 19): an IANA name such as `Europe/Berlin`, or
-- NULL for the browser's own (UTC where the browser does not say).
ALTER TABLE users ADD COLUMN time_zone TEXT;
