-- Issue 17: PostgreSQL partitions events by week (RETAIN-01, RETAIN-02). SQLite has no
-- partitions: retention deletes in batches and gives the pages back by incremental vacuum.
-- Nothing to change; the schemas stay numbered alike.
SELECT 1;
