-- Queries used only by bench/gateway.py: samples of keys to ask for, and
-- the naive designs the gateway is measured against.

-- name: sample_events
SELECT event_id, captured_at FROM plate_events ORDER BY random() LIMIT :limit;

-- name: sample_plates
SELECT plate_normalized_text FROM plates ORDER BY random() LIMIT :limit;

-- name: cameras_and_sites
SELECT camera_id, site_id FROM cameras ORDER BY camera_id;

-- name: naive_stats
-- The storage-layer document's stats view: a scan of every read.
SELECT
    COUNT(*) AS total_events,
    COUNT(DISTINCT plate_normalized_text) AS unique_plates,
    COUNT(DISTINCT camera_id) AS active_cameras,
    AVG(plate_confidence) AS avg_confidence,
    AVG(latency_ms) AS avg_latency_ms
FROM plate_events;

-- name: naive_offset_page
-- OFFSET pagination: the server walks past every skipped row.
SELECT event_id, captured_at, camera_id, plate_normalized_text
FROM plate_events
ORDER BY captured_at DESC, event_id DESC
OFFSET :offset LIMIT :limit;

-- name: keyset_position
-- The (captured_at, event_id) of the row at a depth, to start a keyset page there.
SELECT captured_at, event_id FROM plate_events
ORDER BY captured_at DESC, event_id DESC
OFFSET :depth LIMIT 1;

-- name: ensure_days
-- Made up front: two writers creating the same day's partition at once can
-- collide (DuplicateTableError), which the bench is not here to measure.
SELECT alpr_ensure_partitions(:days::date[]);
