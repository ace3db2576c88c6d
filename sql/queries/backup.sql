-- Backup and restore (alpr/backup.py).

-- name: server_version
SELECT current_setting('server_version_num')::int;

-- name: table_count
-- Tables whose data pg_dump copies, for its progress.
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%';

-- name: user_table_count
-- A restore target must have no tables of its own yet.
SELECT count(*) FROM pg_tables WHERE schemaname = 'public';

-- name: create_timescaledb
CREATE EXTENSION IF NOT EXISTS timescaledb;

-- name: timescaledb_pre_restore
SELECT timescaledb_pre_restore();

-- name: timescaledb_post_restore
SELECT timescaledb_post_restore();
