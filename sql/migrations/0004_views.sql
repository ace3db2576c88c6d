-- The storage-layer document's two views, same names and columns. The stats
-- view reads the writer-kept tables, not plate_events: its cost stays flat
-- however many reads are stored.
CREATE VIEW plate_events_stats AS
SELECT
    COALESCE((SELECT sum(reads) FROM camera_hourly), 0)::bigint AS total_events,
    COALESCE((SELECT sum(new_plates) FROM plates_hourly), 0)::bigint AS unique_plates,
    (SELECT count(*) FROM cameras)::bigint AS active_cameras,
    (SELECT sum(confidence_sum) / NULLIF(sum(reads), 0) FROM camera_hourly) AS avg_confidence,
    (SELECT sum(latency_sum)::double precision / NULLIF(sum(latency_count), 0) FROM camera_hourly)
        AS avg_latency_ms,
    (SELECT min(first_seen) FROM cameras) AS first_event,
    (SELECT max(last_seen) FROM cameras) AS last_event;

CREATE VIEW plate_events_recent AS
SELECT *
FROM plate_events
WHERE captured_at > now() - INTERVAL '24 hours'
ORDER BY captured_at DESC;
