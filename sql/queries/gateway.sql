-- Read queries of the gateway. Every block is an index range scan with a
-- LIMIT, or reads one of the small writer-kept tables; none scans plate_events.
--
-- The events_* blocks share one parameter list, so the gateway picks the block
-- whose leading column has an index (plate, camera, site, or time) and passes
-- the same arguments:
--   $1 plate (normalized)  $2 camera_id  $3 site_id  $4 since  $5 until
--   $6, $7 the cursor (captured_at, event_id): rows strictly past it
--   $8 direction  $9 vehicle_make  $10 vehicle_color  $11 vehicle_type
--   $12 minimum confidence  $13 limit
-- `_desc` blocks page newest first (after a cursor); `_asc` blocks page
-- towards newer reads (before a cursor) and the gateway reverses them.
-- A NULL cursor is replaced by +/- infinity and the largest/smallest UUID,
-- which keeps the row comparison an index condition. The plain bound on
-- captured_at beside it says the same more weakly, but partitions (chunks)
-- can be pruned by it, which a row comparison does not allow.

-- name: events_plate_desc
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
    plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model, vehicle_color,
    plate_image_url, vehicle_image_url, frame_image_url, latency_ms, quality_score,
    frame_number, site_id, host_id, roi, direction, created_at
FROM plate_events
WHERE plate_normalized_text = $1
  AND ($2::text IS NULL OR camera_id = $2)
  AND ($3::text IS NULL OR site_id = $3)
  AND captured_at >= COALESCE($4::timestamptz, '-infinity')
  AND captured_at < COALESCE($5::timestamptz, 'infinity')
  AND ($8::text IS NULL OR lower(direction) = $8)
  AND ($9::text IS NULL OR lower(vehicle_make) = lower($9))
  AND ($10::text IS NULL OR lower(vehicle_color) = lower($10))
  AND ($11::text IS NULL OR lower(vehicle_type) = $11)
  AND plate_confidence >= COALESCE($12::float8, 0)
  AND captured_at <= COALESCE($6::timestamptz, 'infinity')
  AND (captured_at, event_id) < (
      COALESCE($6::timestamptz, 'infinity'),
      COALESCE($7::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
ORDER BY captured_at DESC, event_id DESC
LIMIT $13;

-- name: events_plate_asc
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
    plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model, vehicle_color,
    plate_image_url, vehicle_image_url, frame_image_url, latency_ms, quality_score,
    frame_number, site_id, host_id, roi, direction, created_at
FROM plate_events
WHERE plate_normalized_text = $1
  AND ($2::text IS NULL OR camera_id = $2)
  AND ($3::text IS NULL OR site_id = $3)
  AND captured_at >= COALESCE($4::timestamptz, '-infinity')
  AND captured_at < COALESCE($5::timestamptz, 'infinity')
  AND ($8::text IS NULL OR lower(direction) = $8)
  AND ($9::text IS NULL OR lower(vehicle_make) = lower($9))
  AND ($10::text IS NULL OR lower(vehicle_color) = lower($10))
  AND ($11::text IS NULL OR lower(vehicle_type) = $11)
  AND plate_confidence >= COALESCE($12::float8, 0)
  AND captured_at >= COALESCE($6::timestamptz, '-infinity')
  AND (captured_at, event_id) > (
      COALESCE($6::timestamptz, '-infinity'),
      COALESCE($7::uuid, '00000000-0000-0000-0000-000000000000'))
ORDER BY captured_at ASC, event_id ASC
LIMIT $13;

-- name: events_camera_desc
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
    plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model, vehicle_color,
    plate_image_url, vehicle_image_url, frame_image_url, latency_ms, quality_score,
    frame_number, site_id, host_id, roi, direction, created_at
FROM plate_events
WHERE camera_id = $2
  AND ($1::text IS NULL OR plate_normalized_text = $1)
  AND ($3::text IS NULL OR site_id = $3)
  AND captured_at >= COALESCE($4::timestamptz, '-infinity')
  AND captured_at < COALESCE($5::timestamptz, 'infinity')
  AND ($8::text IS NULL OR lower(direction) = $8)
  AND ($9::text IS NULL OR lower(vehicle_make) = lower($9))
  AND ($10::text IS NULL OR lower(vehicle_color) = lower($10))
  AND ($11::text IS NULL OR lower(vehicle_type) = $11)
  AND plate_confidence >= COALESCE($12::float8, 0)
  AND captured_at <= COALESCE($6::timestamptz, 'infinity')
  AND (captured_at, event_id) < (
      COALESCE($6::timestamptz, 'infinity'),
      COALESCE($7::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
ORDER BY captured_at DESC, event_id DESC
LIMIT $13;

-- name: events_camera_asc
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
    plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model, vehicle_color,
    plate_image_url, vehicle_image_url, frame_image_url, latency_ms, quality_score,
    frame_number, site_id, host_id, roi, direction, created_at
FROM plate_events
WHERE camera_id = $2
  AND ($1::text IS NULL OR plate_normalized_text = $1)
  AND ($3::text IS NULL OR site_id = $3)
  AND captured_at >= COALESCE($4::timestamptz, '-infinity')
  AND captured_at < COALESCE($5::timestamptz, 'infinity')
  AND ($8::text IS NULL OR lower(direction) = $8)
  AND ($9::text IS NULL OR lower(vehicle_make) = lower($9))
  AND ($10::text IS NULL OR lower(vehicle_color) = lower($10))
  AND ($11::text IS NULL OR lower(vehicle_type) = $11)
  AND plate_confidence >= COALESCE($12::float8, 0)
  AND captured_at >= COALESCE($6::timestamptz, '-infinity')
  AND (captured_at, event_id) > (
      COALESCE($6::timestamptz, '-infinity'),
      COALESCE($7::uuid, '00000000-0000-0000-0000-000000000000'))
ORDER BY captured_at ASC, event_id ASC
LIMIT $13;

-- name: events_site_desc
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
    plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model, vehicle_color,
    plate_image_url, vehicle_image_url, frame_image_url, latency_ms, quality_score,
    frame_number, site_id, host_id, roi, direction, created_at
FROM plate_events
WHERE site_id = $3
  AND ($1::text IS NULL OR plate_normalized_text = $1)
  AND ($2::text IS NULL OR camera_id = $2)
  AND captured_at >= COALESCE($4::timestamptz, '-infinity')
  AND captured_at < COALESCE($5::timestamptz, 'infinity')
  AND ($8::text IS NULL OR lower(direction) = $8)
  AND ($9::text IS NULL OR lower(vehicle_make) = lower($9))
  AND ($10::text IS NULL OR lower(vehicle_color) = lower($10))
  AND ($11::text IS NULL OR lower(vehicle_type) = $11)
  AND plate_confidence >= COALESCE($12::float8, 0)
  AND captured_at <= COALESCE($6::timestamptz, 'infinity')
  AND (captured_at, event_id) < (
      COALESCE($6::timestamptz, 'infinity'),
      COALESCE($7::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
ORDER BY captured_at DESC, event_id DESC
LIMIT $13;

-- name: events_site_asc
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
    plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model, vehicle_color,
    plate_image_url, vehicle_image_url, frame_image_url, latency_ms, quality_score,
    frame_number, site_id, host_id, roi, direction, created_at
FROM plate_events
WHERE site_id = $3
  AND ($1::text IS NULL OR plate_normalized_text = $1)
  AND ($2::text IS NULL OR camera_id = $2)
  AND captured_at >= COALESCE($4::timestamptz, '-infinity')
  AND captured_at < COALESCE($5::timestamptz, 'infinity')
  AND ($8::text IS NULL OR lower(direction) = $8)
  AND ($9::text IS NULL OR lower(vehicle_make) = lower($9))
  AND ($10::text IS NULL OR lower(vehicle_color) = lower($10))
  AND ($11::text IS NULL OR lower(vehicle_type) = $11)
  AND plate_confidence >= COALESCE($12::float8, 0)
  AND captured_at >= COALESCE($6::timestamptz, '-infinity')
  AND (captured_at, event_id) > (
      COALESCE($6::timestamptz, '-infinity'),
      COALESCE($7::uuid, '00000000-0000-0000-0000-000000000000'))
ORDER BY captured_at ASC, event_id ASC
LIMIT $13;

-- name: events_all_desc
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
    plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model, vehicle_color,
    plate_image_url, vehicle_image_url, frame_image_url, latency_ms, quality_score,
    frame_number, site_id, host_id, roi, direction, created_at
FROM plate_events
WHERE ($1::text IS NULL OR plate_normalized_text = $1)
  AND ($2::text IS NULL OR camera_id = $2)
  AND ($3::text IS NULL OR site_id = $3)
  AND captured_at >= COALESCE($4::timestamptz, '-infinity')
  AND captured_at < COALESCE($5::timestamptz, 'infinity')
  AND ($8::text IS NULL OR lower(direction) = $8)
  AND ($9::text IS NULL OR lower(vehicle_make) = lower($9))
  AND ($10::text IS NULL OR lower(vehicle_color) = lower($10))
  AND ($11::text IS NULL OR lower(vehicle_type) = $11)
  AND plate_confidence >= COALESCE($12::float8, 0)
  AND captured_at <= COALESCE($6::timestamptz, 'infinity')
  AND (captured_at, event_id) < (
      COALESCE($6::timestamptz, 'infinity'),
      COALESCE($7::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
ORDER BY captured_at DESC, event_id DESC
LIMIT $13;

-- name: events_all_asc
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
    plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model, vehicle_color,
    plate_image_url, vehicle_image_url, frame_image_url, latency_ms, quality_score,
    frame_number, site_id, host_id, roi, direction, created_at
FROM plate_events
WHERE ($1::text IS NULL OR plate_normalized_text = $1)
  AND ($2::text IS NULL OR camera_id = $2)
  AND ($3::text IS NULL OR site_id = $3)
  AND captured_at >= COALESCE($4::timestamptz, '-infinity')
  AND captured_at < COALESCE($5::timestamptz, 'infinity')
  AND ($8::text IS NULL OR lower(direction) = $8)
  AND ($9::text IS NULL OR lower(vehicle_make) = lower($9))
  AND ($10::text IS NULL OR lower(vehicle_color) = lower($10))
  AND ($11::text IS NULL OR lower(vehicle_type) = $11)
  AND plate_confidence >= COALESCE($12::float8, 0)
  AND captured_at >= COALESCE($6::timestamptz, '-infinity')
  AND (captured_at, event_id) > (
      COALESCE($6::timestamptz, '-infinity'),
      COALESCE($7::uuid, '00000000-0000-0000-0000-000000000000'))
ORDER BY captured_at ASC, event_id ASC
LIMIT $13;

-- name: event_by_id
-- The primary key leads with event_id, so this is one index probe per
-- partition (chunk); there is no captured_at to prune with.
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
    plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model, vehicle_color,
    plate_image_url, vehicle_image_url, frame_image_url, latency_ms, quality_score,
    frame_number, site_id, host_id, roi, direction, created_at
FROM plate_events
WHERE event_id = $1
LIMIT 1;

-- name: events_by_offset
-- The storage-layer document's offset paging for /events/plate/{plate}:
-- kept for compatibility, bounded by the gateway's maximum offset.
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
    plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model, vehicle_color,
    plate_image_url, vehicle_image_url, frame_image_url, latency_ms, quality_score,
    frame_number, site_id, host_id, roi, direction, created_at
FROM plate_events
WHERE plate_normalized_text = $1
ORDER BY captured_at DESC, event_id DESC
LIMIT $2 OFFSET $3;

-- name: events_by_keys
-- The reads of one announced batch, by primary key, in capture order.
SELECT e.event_id, e.captured_at, e.camera_id, e.track_id, e.plate_text,
    e.plate_normalized_text, e.plate_confidence, e.plate_region, e.vehicle_type,
    e.vehicle_make, e.vehicle_model, e.vehicle_color, e.plate_image_url,
    e.vehicle_image_url, e.frame_image_url, e.latency_ms, e.quality_score, e.frame_number,
    e.site_id, e.host_id, e.roi, e.direction, e.created_at
FROM unnest($1::uuid[], $2::timestamptz[]) AS k(event_id, captured_at)
JOIN plate_events AS e ON e.event_id = k.event_id AND e.captured_at = k.captured_at
ORDER BY e.captured_at, e.event_id;

-- name: cameras_by_ids
SELECT camera_id, site_id, first_seen, last_seen, read_count
FROM cameras
WHERE camera_id = ANY($1::text[]);

-- name: cameras_list
SELECT camera_id, site_id, first_seen, last_seen, read_count
FROM cameras
WHERE ($1::text IS NULL OR site_id = $1)
ORDER BY camera_id
LIMIT $2;

-- name: plates_by_texts
SELECT plate_normalized_text, first_seen, last_seen, read_count, last_region, last_camera_id
FROM plates
WHERE plate_normalized_text = ANY($1::text[]);

-- name: plate_cameras
SELECT plate_normalized_text, camera_id, site_id, first_seen, last_seen, read_count
FROM plate_cameras
WHERE plate_normalized_text = $1
ORDER BY last_seen DESC
LIMIT $2;

-- name: sites_list
-- cameras is one row per camera: grouping it is cheap at any read count.
SELECT site_id, count(*) AS camera_count, sum(read_count)::bigint AS read_count,
    min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM cameras
WHERE site_id IS NOT NULL AND ($1::text IS NULL OR site_id = $1)
GROUP BY site_id
ORDER BY site_id;

-- name: stats
-- Everything `stats` returns, in one statement: one round trip on one
-- connection (four statements side by side cost more in scheduling on a busy
-- machine than they saved).
-- Totals over a window of whole hours: its whole UTC days [$5, $6) from
-- camera_daily, its partial days from camera_hourly ([$1, $7) at the head,
-- [$8, $2) at the tail). The gateway splits the window; a NULL bound means
-- unbounded for days and "no edge" for hours. $3/$4: camera, site.
-- $14: the whole history, from the all-time sums in `cameras` (0043), a row
-- per camera however long the history; the other parts are then skipped
-- (their WHERE is false before any row is read). Not with a site: a camera
-- that moved counts at the site of each day in the rollups.
-- Distinct counts compare bytes (COLLATE "C"): the same count as the
-- column's collation, which is deterministic, without a locale comparison
-- per pair in the sort (4.3 -> 3.3 ms here).
-- The series: reads per hour in [$9, $10) (the newest hours of the window),
-- oldest first, as three arrays; from reads_hourly without a camera or site.
-- Unique plates from the table that keeps them at this grain, named by $11
-- ('all', 'camera': camera_plate_counts, 0046, 'site': site_plate_counts,
-- 0045, or 'days' [$12, $13):
-- the OR of the days' plate bitmaps, 0044; NULL: none does); new
-- plates (first seen in the window) only without a camera or site. Scalar
-- subqueries under CASE run only when their branch is taken.
WITH parts AS (
    SELECT camera_id, read_count AS reads, confidence_sum, latency_sum, latency_count
    FROM cameras
    WHERE $14::boolean AND ($3::text IS NULL OR camera_id = $3)
    UNION ALL
    -- A window for a camera or site: its rows of the per-camera rollups.
    SELECT camera_id, reads, confidence_sum, latency_sum, latency_count
    FROM camera_daily
    WHERE NOT $14::boolean AND ($3::text IS NOT NULL OR $4::text IS NOT NULL)
      AND day >= COALESCE($5::date, '-infinity') AND day < COALESCE($6::date, 'infinity')
      AND ($3::text IS NULL OR camera_id = $3)
      AND ($4::text IS NULL OR site_id = $4)
    UNION ALL
    SELECT camera_id, reads, confidence_sum, latency_sum, latency_count
    FROM camera_hourly
    WHERE NOT $14::boolean AND ($3::text IS NOT NULL OR $4::text IS NOT NULL)
      AND ((bucket >= $1::timestamptz AND bucket < $7::timestamptz)
        OR (bucket >= $8::timestamptz AND bucket < $2::timestamptz))
      AND ($3::text IS NULL OR camera_id = $3)
      AND ($4::text IS NULL OR site_id = $4)
    UNION ALL
    -- A window over all cameras: the sums from reads_hourly (0047), a row an
    -- hour; the active cameras are the cameras with a rollup row in the
    -- window, one index probe or two each (not a distinct count over every
    -- camera-day).
    SELECT NULL, reads, confidence_sum, latency_sum, latency_count
    FROM reads_hourly
    WHERE NOT $14::boolean AND $3::text IS NULL AND $4::text IS NULL
      AND bucket >= COALESCE($1::timestamptz, '-infinity')
      AND bucket < COALESCE($2::timestamptz, 'infinity')
    UNION ALL
    SELECT c.camera_id, 0, 0, 0, 0
    FROM cameras AS c
    WHERE NOT $14::boolean AND $3::text IS NULL AND $4::text IS NULL
      AND (EXISTS (SELECT 1 FROM camera_daily AS d
                   WHERE d.camera_id = c.camera_id
                     AND d.day >= COALESCE($5::date, '-infinity')
                     AND d.day < COALESCE($6::date, 'infinity'))
        -- Head and tail apart: each a range of the (camera_id, bucket) index.
        OR EXISTS (SELECT 1 FROM camera_hourly AS h
                   WHERE h.camera_id = c.camera_id
                     AND h.bucket >= $1::timestamptz AND h.bucket < $7::timestamptz)
        OR EXISTS (SELECT 1 FROM camera_hourly AS h
                   WHERE h.camera_id = c.camera_id
                     AND h.bucket >= $8::timestamptz AND h.bucket < $2::timestamptz))
), series_parts AS (
    SELECT bucket, reads, confidence_sum
    FROM reads_hourly
    WHERE $3::text IS NULL AND $4::text IS NULL
      AND bucket >= $9::timestamptz AND bucket < $10::timestamptz
    UNION ALL
    SELECT bucket, reads, confidence_sum
    FROM camera_hourly
    WHERE ($3::text IS NOT NULL OR $4::text IS NOT NULL)
      AND bucket >= $9::timestamptz AND bucket < $10::timestamptz
      AND ($3::text IS NULL OR camera_id = $3)
      AND ($4::text IS NULL OR site_id = $4)
), series AS (
    SELECT bucket, sum(reads)::bigint AS reads,
        sum(confidence_sum) / NULLIF(sum(reads), 0) AS avg_confidence
    FROM series_parts
    GROUP BY bucket
)
SELECT totals.*, hours.*,
    CASE $11::text
        WHEN 'all' THEN (SELECT COALESCE(sum(new_plates), 0)::bigint FROM plates_hourly)
        WHEN 'camera' THEN COALESCE(
            (SELECT plates FROM camera_plate_counts WHERE camera_id = $3), 0)
        WHEN 'site' THEN COALESCE(
            (SELECT plates FROM site_plate_counts WHERE site_id = $4), 0)
        WHEN 'days' THEN (
            -- Chunk by chunk, each an index range over the window's days.
            SELECT COALESCE(sum(bit_count((
                SELECT bit_or(b.bits) FROM plate_day_bits AS b
                WHERE b.chunk = c.chunk AND b.day >= $12::date AND b.day < $13::date
            ))), 0)::bigint
            FROM generate_series(0, (SELECT max(chunk) FROM plate_day_bits)) AS c (chunk))
    END AS unique_plates,
    CASE WHEN $3::text IS NULL AND $4::text IS NULL THEN (
        SELECT COALESCE(sum(new_plates), 0)::bigint FROM plates_hourly
        WHERE bucket >= COALESCE($1::timestamptz, '-infinity')
          AND bucket < COALESCE($2::timestamptz, 'infinity'))
    END AS new_plates
FROM (
    SELECT COALESCE(sum(reads), 0)::bigint AS total_reads,
        count(DISTINCT camera_id COLLATE "C") AS active_cameras,
        sum(confidence_sum) / NULLIF(sum(reads), 0) AS avg_confidence,
        sum(latency_sum)::double precision / NULLIF(sum(latency_count), 0) AS avg_latency_ms
    FROM parts
) AS totals, (
    SELECT array_agg(bucket ORDER BY bucket) AS series_hours,
        array_agg(reads ORDER BY bucket) AS series_reads,
        array_agg(avg_confidence ORDER BY bucket) AS series_confidence
    FROM series
) AS hours;

-- name: storage_stats
-- The storage-layer document's /stats: the figures of its plate_events_stats
-- view, from the all-time sums in `cameras` (0043, a row per camera) rather
-- than the view's camera_hourly, so the cost does not grow with history.
SELECT
    COALESCE(sum(read_count), 0)::bigint AS total_events,
    (SELECT COALESCE(sum(new_plates), 0) FROM plates_hourly)::bigint AS unique_plates,
    count(*)::bigint AS active_cameras,
    sum(confidence_sum) / NULLIF(sum(read_count), 0) AS avg_confidence,
    sum(latency_sum)::double precision / NULLIF(sum(latency_count), 0) AS avg_latency_ms
FROM cameras;

-- name: latest_batch
SELECT COALESCE(max(batch_id), 0) FROM stored_batches;

-- name: batches_after
SELECT batch_id, event_ids, captured_ats FROM stored_batches
WHERE batch_id > $1
ORDER BY batch_id
LIMIT $2;

-- name: insert_audit
INSERT INTO audit_log (key_id, client, operation, variables, result_count, purpose)
VALUES ($1, $2, $3, $4::jsonb, $5, $6);

-- name: audit_page
SELECT audit_id, at, key_id, client, operation, variables::text AS variables,
    result_count, purpose
FROM audit_log
WHERE audit_id < COALESCE($1::bigint, 9223372036854775807)
  AND ($2::text IS NULL OR key_id = $2)
ORDER BY audit_id DESC
LIMIT $3;

-- name: ping
SELECT 1;
