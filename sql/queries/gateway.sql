-- Read queries of the gateway (gateway/queries.py). Every statement is an
-- index range scan with a LIMIT, or reads one of the small writer-kept tables;
-- none scans plate_events.

-- fragment: events_filter
-- The events filters (schema/filters.py EventQuery) on plate_events, for
-- `alpr export` (export.sql), written here beside the pages that apply the
-- same filters through alpr_reads. A NULL parameter means "any".
-- {keys}: the plate, camera and site conditions, filled by gateway/queries.py
-- (`events_filter`).
-- direction and vehicle_type come in lower case (enums); make and colour are
-- free text, compared without case.
{keys}
  AND captured_at >= COALESCE(:since::timestamptz, '-infinity')
  AND captured_at < COALESCE(:until::timestamptz, 'infinity')
  AND (:direction::text IS NULL OR lower(direction) = :direction)
  AND (:vehicle_make::text IS NULL OR lower(vehicle_make) = lower(:vehicle_make))
  AND (:vehicle_color::text IS NULL OR lower(vehicle_color) = lower(:vehicle_color))
  AND (:vehicle_type::text IS NULL OR lower(vehicle_type) = :vehicle_type)
  AND plate_confidence >= COALESCE(:min_confidence::float8, 0)

-- name: events_page
-- One page of reads matching the events filters, walking the keyset order
-- (captured_at, event_id) from a cursor (:cursor_at, :cursor_id): :limit
-- reads strictly past it, newest first, or with :backward oldest first
-- (towards newer reads: the gateway reverses the rows). alpr_events_page
-- reads it as the engine reads it fastest, chosen once by the engine's
-- migration: the day walk (alpr_reads: the days that can hold the page, a
-- plate's own days, a camera's days, else every day with reads, each from
-- its one partition or chunk, stopping once it has the page), or on plain
-- PostgreSQL for a camera's day one keyset statement. :offset skips that
-- many first (the offset paging of /events/plate/{plate_text}; 0 for cursor
-- pages).
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
    plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model, vehicle_color,
    plate_image_url, vehicle_image_url, frame_image_url, latency_ms, quality_score,
    frame_number, site_id, host_id, roi, direction, created_at
FROM alpr_events_page(
    :plate, :camera_id, :site_id, :since, :until, :cursor_at, :cursor_id, :backward,
    :limit, :offset, :direction, :vehicle_make, :vehicle_color, :vehicle_type,
    :min_confidence) AS e
ORDER BY CASE WHEN :backward THEN captured_at END, CASE WHEN :backward THEN event_id END,
    captured_at DESC, event_id DESC;

-- name: event_by_id
-- alpr_event_read finds the read's time in event_ids, then probes the
-- primary key in the one partition (chunk) that time falls in.
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
    plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model, vehicle_color,
    plate_image_url, vehicle_image_url, frame_image_url, latency_ms, quality_score,
    frame_number, site_id, host_id, roi, direction, created_at
FROM alpr_event_read(:event_id);

-- name: events_by_keys
-- The reads of one announced batch, by primary key, in capture order: read
-- day by day, one partition (chunk) a day (alpr_reads_by_keys).
SELECT e.event_id, e.captured_at, e.camera_id, e.track_id, e.plate_text,
    e.plate_normalized_text, e.plate_confidence, e.plate_region, e.vehicle_type,
    e.vehicle_make, e.vehicle_model, e.vehicle_color, e.plate_image_url,
    e.vehicle_image_url, e.frame_image_url, e.latency_ms, e.quality_score, e.frame_number,
    e.site_id, e.host_id, e.roi, e.direction, e.created_at
FROM alpr_reads_by_keys(:event_ids::uuid[], :captured_ats::timestamptz[]) AS e
ORDER BY e.captured_at, e.event_id;

-- name: cameras_by_ids
SELECT camera_id, site_id, first_seen, last_seen, read_count
FROM cameras
WHERE camera_id = ANY(:camera_ids::text[]);

-- name: cameras_list
SELECT camera_id, site_id, first_seen, last_seen, read_count
FROM cameras
WHERE (:site_id::text IS NULL OR site_id = :site_id)
ORDER BY camera_id
LIMIT :limit;

-- name: plates_by_texts
SELECT plate_normalized_text, first_seen, last_seen, read_count, last_region, last_camera_id
FROM plates
WHERE plate_normalized_text = ANY(:plates::text[]);

-- name: plate_cameras
SELECT plate_normalized_text, camera_id, site_id, first_seen, last_seen, read_count
FROM plate_cameras
WHERE plate_normalized_text = :plate
ORDER BY last_seen DESC
LIMIT :limit;

-- name: sites_list
-- cameras is one row per camera: grouping it is cheap at any read count.
SELECT site_id, count(*) AS camera_count, sum(read_count)::bigint AS read_count,
    min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM cameras
WHERE site_id IS NOT NULL AND (:site_id::text IS NULL OR site_id = :site_id)
GROUP BY site_id
ORDER BY site_id;

-- name: stats
-- Everything `stats` returns, in one statement: one round trip on one
-- connection (separate statements side by side cost more in scheduling on a
-- busy machine than they save). A template: {unique_plates} is one of the
-- unique_plates_* blocks below, chosen by gateway/queries.py for the grain
-- of the request.
-- The totals are over a window of whole hours [:start, :end), which the
-- gateway splits into its whole UTC days [:day_from, :day_to), read from
-- camera_daily, and its partial days, read from camera_hourly: the head
-- [:start, :head_end) and the tail [:tail_start, :end). A NULL bound means
-- unbounded for days and "no edge" for hours. :camera_id and :site_id
-- narrow them; a window over all cameras reads reads_hourly instead.
-- :history (no window, no site) takes the whole history from the all-time
-- sums in `cameras`, a row per camera however long the history, and skips
-- the other parts (their WHERE is false before any row is read). Not with a
-- site: a camera that moved counts at the site of each day in the rollups.
-- Distinct counts compare bytes (COLLATE "C"): the same count as the
-- column's collation, which is deterministic, without a locale comparison
-- per pair in the sort.
-- The series: reads per hour in [:series_start, :series_end) (the newest
-- hours of the window), oldest first, as three arrays; from reads_hourly
-- without a camera or site, else from camera_hourly.
-- New plates (first seen in the window) are counted only without a camera
-- or site: plates_hourly keeps them for all cameras only.
WITH parts AS (
    -- The whole history: the all-time sums, a row per camera.
    SELECT camera_id, read_count AS reads, confidence_sum, latency_sum, latency_count
    FROM cameras
    WHERE :history::boolean AND (:camera_id::text IS NULL OR camera_id = :camera_id)
    UNION ALL
    -- A window for a camera or site: its rows of the per-camera rollups.
    SELECT camera_id, reads, confidence_sum, latency_sum, latency_count
    FROM camera_daily
    WHERE NOT :history::boolean AND (:camera_id::text IS NOT NULL OR :site_id::text IS NOT NULL)
      AND day >= COALESCE(:day_from::date, '-infinity')
      AND day < COALESCE(:day_to::date, 'infinity')
      AND (:camera_id::text IS NULL OR camera_id = :camera_id)
      AND (:site_id::text IS NULL OR site_id = :site_id)
    UNION ALL
    SELECT camera_id, reads, confidence_sum, latency_sum, latency_count
    FROM camera_hourly
    WHERE NOT :history::boolean AND (:camera_id::text IS NOT NULL OR :site_id::text IS NOT NULL)
      AND ((bucket >= :start::timestamptz AND bucket < :head_end::timestamptz)
        OR (bucket >= :tail_start::timestamptz AND bucket < :end::timestamptz))
      AND (:camera_id::text IS NULL OR camera_id = :camera_id)
      AND (:site_id::text IS NULL OR site_id = :site_id)
    UNION ALL
    -- A window over all cameras: the sums from reads_hourly, a row an hour;
    -- the active cameras are the cameras with a rollup row in the window, one
    -- index probe or two each (not a distinct count over every camera-day).
    SELECT NULL, reads, confidence_sum, latency_sum, latency_count
    FROM reads_hourly
    WHERE NOT :history::boolean AND :camera_id::text IS NULL AND :site_id::text IS NULL
      AND bucket >= COALESCE(:start::timestamptz, '-infinity')
      AND bucket < COALESCE(:end::timestamptz, 'infinity')
    UNION ALL
    SELECT c.camera_id, 0, 0, 0, 0
    FROM cameras AS c
    WHERE NOT :history::boolean AND :camera_id::text IS NULL AND :site_id::text IS NULL
      AND (EXISTS (SELECT 1 FROM camera_daily AS d
                   WHERE d.camera_id = c.camera_id
                     AND d.day >= COALESCE(:day_from::date, '-infinity')
                     AND d.day < COALESCE(:day_to::date, 'infinity'))
        -- Head and tail apart: each a range of the (camera_id, bucket) index.
        OR EXISTS (SELECT 1 FROM camera_hourly AS h
                   WHERE h.camera_id = c.camera_id
                     AND h.bucket >= :start::timestamptz AND h.bucket < :head_end::timestamptz)
        OR EXISTS (SELECT 1 FROM camera_hourly AS h
                   WHERE h.camera_id = c.camera_id
                     AND h.bucket >= :tail_start::timestamptz AND h.bucket < :end::timestamptz))
), series_parts AS (
    SELECT bucket, reads, confidence_sum
    FROM reads_hourly
    WHERE :camera_id::text IS NULL AND :site_id::text IS NULL
      AND bucket >= :series_start::timestamptz AND bucket < :series_end::timestamptz
    UNION ALL
    SELECT bucket, reads, confidence_sum
    FROM camera_hourly
    WHERE (:camera_id::text IS NOT NULL OR :site_id::text IS NOT NULL)
      AND bucket >= :series_start::timestamptz AND bucket < :series_end::timestamptz
      AND (:camera_id::text IS NULL OR camera_id = :camera_id)
      AND (:site_id::text IS NULL OR site_id = :site_id)
), series AS (
    SELECT bucket, sum(reads)::bigint AS reads,
        sum(confidence_sum) / NULLIF(sum(reads), 0) AS avg_confidence
    FROM series_parts
    GROUP BY bucket
)
SELECT totals.*, hours.*,
    {unique_plates} AS unique_plates,
    CASE WHEN :camera_id::text IS NULL AND :site_id::text IS NULL THEN (
        SELECT COALESCE(sum(new_plates), 0)::bigint FROM plates_hourly
        WHERE bucket >= COALESCE(:start::timestamptz, '-infinity')
          AND bucket < COALESCE(:end::timestamptz, 'infinity'))
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

-- fragment: unique_plates_all
-- Distinct plates of the whole history: each plate is new once.
(SELECT COALESCE(sum(new_plates), 0)::bigint FROM plates_hourly)

-- fragment: unique_plates_camera
-- Distinct plates of a camera's whole history.
COALESCE((SELECT plates FROM camera_plate_counts WHERE camera_id = :camera_id), 0)

-- fragment: unique_plates_site
-- Distinct plates of a site's whole history.
COALESCE((SELECT plates FROM site_plate_counts WHERE site_id = :site_id), 0)

-- fragment: unique_plates_days
-- Distinct plates seen in the whole UTC days [:plate_day_from, :plate_day_to)
-- (over all cameras): the bits of the OR of the days' plate bitmaps, chunk
-- by chunk, each an index range over the days.
(SELECT COALESCE(sum(bit_count((
        SELECT bit_or(b.bits) FROM plate_day_bits AS b
        WHERE b.chunk = c.chunk
          AND b.day >= :plate_day_from::date AND b.day < :plate_day_to::date
    ))), 0)::bigint
    FROM generate_series(0, (SELECT max(chunk) FROM plate_day_bits)) AS c (chunk))

-- fragment: unique_plates_none
-- A window with a camera or site: no table keeps its distinct plates.
NULL::bigint

-- name: storage_stats
-- The storage-layer document's /stats: the figures of its plate_events_stats
-- view, from the all-time sums in `cameras` (a row per camera) rather than
-- the view's camera_hourly, so the cost does not grow with history.
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
WHERE batch_id > :batch_id
ORDER BY batch_id
LIMIT :limit;

-- name: insert_audit
INSERT INTO audit_log (key_id, client, operation, variables, result_count, purpose)
VALUES (:key_id, :client, :operation, :variables::jsonb, :result_count, :purpose);

-- name: audit_page
SELECT audit_id, at, key_id, client, operation, variables::text AS variables,
    result_count, purpose
FROM audit_log
WHERE audit_id < COALESCE(:before_id::bigint, 9223372036854775807)
  AND (:key_id::text IS NULL OR key_id = :key_id)
ORDER BY audit_id DESC
LIMIT :limit;

-- name: ping
SELECT 1;

-- name: camera_gaps
-- Each camera's usual gap between reads (schema/cameras.py), from its own
-- hourly rollups: the :history_hours before its last read, so a camera dead
-- for weeks still has a rhythm to be measured against, and only complete
-- hours (the current one is still filling, and would make its camera look
-- slower than it is). An active hour says reads came about 3600/reads
-- seconds apart, and that nothing came for the hours between it and the
-- camera's previous active hour; the usual gap is the 95th percentile of the
-- larger of the two, so quiet nights and busy days both count as usual. A
-- camera without a complete active hour has no row. NULL :camera_ids: all
-- cameras (the metrics scrape).
WITH recent AS (
    SELECT h.camera_id, c.last_seen, h.reads,
        h.bucket - lag(h.bucket) OVER (PARTITION BY h.camera_id ORDER BY h.bucket)
            AS since_previous
    FROM cameras AS c
    JOIN camera_hourly AS h
      ON h.camera_id = c.camera_id
     AND h.bucket >= date_trunc('hour', c.last_seen) - make_interval(hours => :history_hours)
     AND h.bucket < date_trunc('hour', now())
    WHERE :camera_ids::text[] IS NULL OR c.camera_id = ANY(:camera_ids::text[])
)
SELECT camera_id, max(last_seen) AS last_seen, count(*)::int AS active_hours,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY greatest(
        3600.0 / reads,
        COALESCE(extract(epoch FROM since_previous) - 3600, 0)
    )) AS usual_gap_s
FROM recent
WHERE reads > 0
GROUP BY camera_id;

-- name: cameras_hourly
-- Reads per hour of some cameras from :since; hours without reads have no row.
SELECT camera_id, bucket, reads, confidence_sum / NULLIF(reads, 0) AS avg_confidence
FROM camera_hourly
WHERE camera_id = ANY(:camera_ids::text[]) AND bucket >= :since::timestamptz
ORDER BY camera_id, bucket;

-- name: ingest_health
-- The newest stored batch and what the writer stored in the last hour,
-- from the writer's announcements (stored_batches). `lag_s` is how far the
-- newest read of the newest batch trails its capture: seconds when ingest
-- keeps up, the backlog's age when a source is behind.
SELECT b.batch_id, b.stored_at, cardinality(b.event_ids) AS batch_reads,
    extract(epoch FROM b.stored_at - (SELECT max(c) FROM unnest(b.captured_ats) AS c)) AS lag_s,
    (SELECT COALESCE(sum(cardinality(event_ids)), 0) FROM stored_batches
     WHERE stored_at > now() - interval '1 hour')::bigint AS stored_last_hour,
    now() AS checked_at
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
    SELECT batch_id, stored_at, event_ids, captured_ats
    FROM stored_batches ORDER BY batch_id DESC LIMIT 1
) AS b ON TRUE;
