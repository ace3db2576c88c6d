-- alpr status (alpr/status.py): the essentials, each from a small table or
-- a catalog function, never a scan of plate_events.

-- name: database
SELECT (SELECT engine FROM alpr_engine) AS engine,
       pg_database_size(current_database()) AS size_bytes,
       (SELECT max(version) FROM schema_migrations) AS schema_version,
       current_setting('server_version') AS server_version;

-- name: totals
SELECT total_events, unique_plates, active_cameras, last_event FROM plate_events_stats;

-- name: stored_since
-- Reads stored in the last few seconds, from the writer's announcements.
SELECT COALESCE(sum(cardinality(event_ids)), 0)::bigint
FROM stored_batches WHERE stored_at > now() - make_interval(secs => :seconds);

-- name: last_stored_at
SELECT max(stored_at) FROM stored_batches;

-- name: retention
SELECT (SELECT count(*) FROM legal_holds WHERE released_at IS NULL) AS active_holds,
       r.finished_at, r.deleted_rows, r.error
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
    SELECT finished_at, deleted_rows, error FROM retention_runs ORDER BY run_id DESC LIMIT 1
) r ON TRUE;
