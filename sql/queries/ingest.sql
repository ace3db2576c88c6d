-- The one write path (ingestor/writer.py). A batch runs, in one transaction:
-- create_staging (once per connection), ensure_partitions, the reads into
-- event_ids, plate_events and alpr_inserted (usually three COPYs from the
-- writer; after a conflict, COPY into alpr_staging, insert_events and
-- conflicting_repeats), the upserts from alpr_inserted, announce. Only rows
-- this batch actually inserted feed the rollups, so a replayed event never
-- raises a count. Every upsert takes its rows in key order, so concurrent
-- writers lock rows in the same order and do not deadlock each other.

-- name: create_staging
-- Per-connection scratch tables, emptied by every commit (and by rollback,
-- since their rows are written inside the transaction).
CREATE TEMP TABLE IF NOT EXISTS alpr_staging
    (LIKE plate_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS alpr_inserted (
    event_id UUID NOT NULL,
    captured_at TIMESTAMPTZ NOT NULL,
    camera_id VARCHAR(50) NOT NULL,
    site_id VARCHAR(50),
    plate_normalized_text VARCHAR(20) NOT NULL,
    plate_region VARCHAR(10) NOT NULL,
    plate_confidence FLOAT NOT NULL,
    latency_ms INTEGER
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS alpr_plate_hours (
    plate_normalized_text VARCHAR(20) NOT NULL,
    bucket TIMESTAMPTZ NOT NULL,
    plates INTEGER NOT NULL
) ON COMMIT DELETE ROWS;

-- name: ensure_partitions
SELECT alpr_ensure_partitions(:days::date[]);

-- name: insert_events
-- Each staged read (one per event_id: the writer drops repeats) claims its
-- id in event_ids; only the reads that claimed one go into plate_events. An
-- id claimed before, or meanwhile by another writer (ON CONFLICT waits for
-- it to commit), is left for conflicting_repeats.
WITH claimed AS (
    INSERT INTO event_ids (event_id, captured_at)
    SELECT event_id, captured_at FROM alpr_staging
    ORDER BY event_id
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id, captured_at
), ins AS (
    INSERT INTO plate_events (
        event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
        plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model,
        vehicle_color, plate_image_url, vehicle_image_url, frame_image_url, latency_ms,
        quality_score, frame_number, site_id, host_id, roi, direction)
    SELECT
        s.event_id, s.captured_at, camera_id, track_id, plate_text, plate_normalized_text,
        plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model,
        vehicle_color, plate_image_url, vehicle_image_url, frame_image_url, latency_ms,
        quality_score, frame_number, site_id, host_id, roi, direction
    FROM alpr_staging AS s
    JOIN claimed AS c ON c.event_id = s.event_id AND c.captured_at = s.captured_at
    ORDER BY s.event_id, s.captured_at
    ON CONFLICT (event_id, captured_at) DO NOTHING
    RETURNING event_id, captured_at, camera_id, site_id, plate_normalized_text,
        plate_region, plate_confidence, latency_ms
)
INSERT INTO alpr_inserted SELECT * FROM ins;

-- name: conflicting_repeats
-- The stored reads of the staged ones not inserted whose content differs:
-- the writer refuses those and counts the rest as duplicates. Compared is
-- what the producer sent; plate_normalized_text is derived from plate_text
-- and created_at is the server's. A statement of its own after
-- insert_events, so it sees what a concurrent writer committed. The stored
-- reads by their keys (the times event_ids holds), day by day
-- (alpr_reads_by_keys).
WITH repeat AS (
    SELECT DISTINCT i.event_id, i.captured_at
    FROM alpr_staging AS s
    JOIN event_ids AS i ON i.event_id = s.event_id
    WHERE NOT EXISTS (SELECT 1 FROM alpr_inserted AS n WHERE n.event_id = s.event_id)
)
SELECT e.event_id, e.captured_at, e.camera_id, e.track_id, e.plate_text,
    e.plate_confidence, e.plate_region, e.vehicle_type, e.vehicle_make, e.vehicle_model,
    e.vehicle_color, e.plate_image_url, e.vehicle_image_url, e.frame_image_url,
    e.latency_ms, e.quality_score, e.frame_number, e.site_id, e.host_id, e.roi, e.direction
FROM alpr_reads_by_keys(
    (SELECT array_agg(event_id) FROM repeat), (SELECT array_agg(captured_at) FROM repeat)) AS e
JOIN alpr_staging AS s ON s.event_id = e.event_id
WHERE (s.captured_at, s.camera_id, s.track_id, s.plate_text, s.plate_confidence,
       s.plate_region, s.vehicle_type, s.vehicle_make, s.vehicle_model, s.vehicle_color,
       s.plate_image_url, s.vehicle_image_url, s.frame_image_url, s.latency_ms,
       s.quality_score, s.frame_number, s.site_id, s.host_id, s.roi, s.direction)
      IS DISTINCT FROM
      (e.captured_at, e.camera_id, e.track_id, e.plate_text, e.plate_confidence,
       e.plate_region, e.vehicle_type, e.vehicle_make, e.vehicle_model, e.vehicle_color,
       e.plate_image_url, e.vehicle_image_url, e.frame_image_url, e.latency_ms,
       e.quality_score, e.frame_number, e.site_id, e.host_id, e.roi, e.direction);

-- name: copy_late_reads
-- The batch's reads for a range of the plate-ordered copy (TimescaleDB's
-- compressed days, 0072_plate_copy.timescaledb.sql) go into the copy too.
SELECT alpr_copy_late_reads();

-- name: insert_plates
-- The batch's plates new to `plates`, with what the batch knows of them.
-- Each gets its number in plate_numbers (for plate_day_bits) and counts once
-- in the hour of its first read: alpr_plate_hours holds the batch's changes
-- to plates_hourly by plate, added up by count_new_plates. ON CONFLICT DO
-- NOTHING waits for a writer inserting the same plate, so afterwards every
-- plate of the batch is in `plates` and update_plates finds it.
WITH batch AS (
    SELECT
        plate_normalized_text,
        min(captured_at) AS first_seen,
        max(captured_at) AS last_seen,
        count(*) AS reads,
        (array_agg(plate_region ORDER BY captured_at DESC))[1] AS last_region,
        (array_agg(camera_id ORDER BY captured_at DESC))[1] AS last_camera_id
    FROM alpr_inserted AS i
    WHERE NOT EXISTS (SELECT 1 FROM plates AS p
                      WHERE p.plate_normalized_text = i.plate_normalized_text)
    GROUP BY plate_normalized_text
),
inserted AS (
    INSERT INTO plates (
        plate_normalized_text, first_seen, last_seen, read_count, last_region, last_camera_id)
    SELECT plate_normalized_text, first_seen, last_seen, reads, last_region, last_camera_id
    FROM batch
    ORDER BY plate_normalized_text
    ON CONFLICT (plate_normalized_text) DO NOTHING
    RETURNING plate_normalized_text, first_seen
),
numbered AS (
    INSERT INTO plate_numbers (plate_normalized_text)
    SELECT plate_normalized_text FROM inserted ORDER BY 1
    ON CONFLICT DO NOTHING
)
INSERT INTO alpr_plate_hours (plate_normalized_text, bucket, plates)
SELECT plate_normalized_text, date_trunc('hour', first_seen, 'UTC'), 1 FROM inserted;

-- name: update_plates
-- The batch's plates that were in `plates` before it (those insert_plates
-- did not note in alpr_plate_hours). last_region / last_camera_id follow the newest read,
-- whichever side has it. The rows are locked first, in key order, so
-- `old.first_seen` is the value this update replaces, even when another
-- writer changed it since the statement began; a plate whose first read
-- moves to an earlier hour moves its count in plates_hourly with it.
WITH batch AS (
    SELECT
        plate_normalized_text,
        min(captured_at) AS first_seen,
        max(captured_at) AS last_seen,
        count(*) AS reads,
        (array_agg(plate_region ORDER BY captured_at DESC))[1] AS last_region,
        (array_agg(camera_id ORDER BY captured_at DESC))[1] AS last_camera_id
    FROM alpr_inserted AS i
    WHERE NOT EXISTS (SELECT 1 FROM alpr_plate_hours AS h
                      WHERE h.plate_normalized_text = i.plate_normalized_text)
    GROUP BY plate_normalized_text
),
updated AS (
    UPDATE plates AS p SET
        first_seen = LEAST(p.first_seen, b.first_seen),
        last_seen = GREATEST(p.last_seen, b.last_seen),
        read_count = p.read_count + b.reads,
        last_region = CASE WHEN b.last_seen >= p.last_seen
            THEN b.last_region ELSE p.last_region END,
        last_camera_id = CASE WHEN b.last_seen >= p.last_seen
            THEN b.last_camera_id ELSE p.last_camera_id END
    FROM batch AS b,
        (SELECT plate_normalized_text, first_seen
         FROM plates
         WHERE plate_normalized_text IN (SELECT plate_normalized_text FROM batch)
         ORDER BY plate_normalized_text
         FOR UPDATE) AS old
    WHERE p.plate_normalized_text = b.plate_normalized_text
      AND old.plate_normalized_text = b.plate_normalized_text
    RETURNING p.plate_normalized_text,
        date_trunc('hour', old.first_seen, 'UTC') AS was,
        date_trunc('hour', p.first_seen, 'UTC') AS now
)
INSERT INTO alpr_plate_hours (plate_normalized_text, bucket, plates)
SELECT plate_normalized_text, was, -1 FROM updated WHERE now <> was
UNION ALL
SELECT plate_normalized_text, now, 1 FROM updated WHERE now <> was;

-- name: count_new_plates
-- Summed, plates_hourly is the number of plates: each counts in the hour of
-- its first read. Hours in key order, like every other upsert here.
INSERT INTO plates_hourly AS h (bucket, new_plates)
SELECT bucket, sum(plates)
FROM alpr_plate_hours
GROUP BY bucket
HAVING sum(plates) <> 0
ORDER BY bucket
ON CONFLICT (bucket) DO UPDATE SET new_plates = h.new_plates + EXCLUDED.new_plates;

-- name: upsert_plate_cameras
-- A pair this upsert inserted (xmax = 0) counts once for its camera in
-- camera_plate_counts: the gateway's unique plates of a camera.
WITH upserted AS (
    INSERT INTO plate_cameras AS pc (
        plate_normalized_text, camera_id, site_id, first_seen, last_seen, read_count)
    SELECT
        plate_normalized_text,
        camera_id,
        (array_agg(site_id ORDER BY captured_at DESC))[1],
        min(captured_at),
        max(captured_at),
        count(*)
    FROM alpr_inserted
    GROUP BY plate_normalized_text, camera_id
    ORDER BY plate_normalized_text, camera_id
    ON CONFLICT (plate_normalized_text, camera_id) DO UPDATE SET
        site_id = CASE WHEN EXCLUDED.last_seen >= pc.last_seen
            THEN EXCLUDED.site_id ELSE pc.site_id END,
        first_seen = LEAST(pc.first_seen, EXCLUDED.first_seen),
        last_seen = GREATEST(pc.last_seen, EXCLUDED.last_seen),
        read_count = pc.read_count + EXCLUDED.read_count
    RETURNING pc.camera_id, (pc.xmax = 0) AS is_new
)
INSERT INTO camera_plate_counts AS c (camera_id, plates)
SELECT camera_id, count(*) FROM upserted WHERE is_new GROUP BY camera_id ORDER BY camera_id
ON CONFLICT (camera_id) DO UPDATE SET plates = c.plates + EXCLUDED.plates;

-- name: upsert_plate_sites
-- Which plates were read at which site, and how many per site: the
-- gateway's unique plates of a site. A pair counts once, when it is new.
WITH added AS (
    INSERT INTO plate_sites (site_id, plate_normalized_text)
    SELECT DISTINCT site_id, plate_normalized_text
    FROM alpr_inserted
    WHERE site_id IS NOT NULL
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING
    RETURNING site_id
)
INSERT INTO site_plate_counts AS c (site_id, plates)
SELECT site_id, count(*) FROM added GROUP BY site_id ORDER BY site_id
ON CONFLICT (site_id) DO UPDATE SET plates = c.plates + EXCLUDED.plates;

-- name: upsert_cameras
-- The sums make whole-history statistics a read of one row per camera.
INSERT INTO cameras AS c (
    camera_id, site_id, first_seen, last_seen, read_count,
    confidence_sum, latency_sum, latency_count)
SELECT
    camera_id,
    (array_agg(site_id ORDER BY captured_at DESC))[1],
    min(captured_at),
    max(captured_at),
    count(*),
    sum(plate_confidence),
    COALESCE(sum(latency_ms), 0),
    count(latency_ms)
FROM alpr_inserted
GROUP BY camera_id
ORDER BY camera_id
ON CONFLICT (camera_id) DO UPDATE SET
    site_id = CASE WHEN EXCLUDED.last_seen >= c.last_seen
        THEN EXCLUDED.site_id ELSE c.site_id END,
    first_seen = LEAST(c.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(c.last_seen, EXCLUDED.last_seen),
    read_count = c.read_count + EXCLUDED.read_count,
    confidence_sum = c.confidence_sum + EXCLUDED.confidence_sum,
    latency_sum = c.latency_sum + EXCLUDED.latency_sum,
    latency_count = c.latency_count + EXCLUDED.latency_count;

-- name: upsert_camera_hourly
-- Buckets are UTC hours whatever the session's time zone.
INSERT INTO camera_hourly AS ch (
    bucket, camera_id, site_id, reads, confidence_sum, latency_sum, latency_count)
SELECT
    date_trunc('hour', captured_at, 'UTC') AS bucket,
    camera_id,
    (array_agg(site_id ORDER BY captured_at DESC))[1],
    count(*),
    sum(plate_confidence),
    COALESCE(sum(latency_ms), 0),
    count(latency_ms)
FROM alpr_inserted
GROUP BY 1, camera_id
ORDER BY 1, camera_id
ON CONFLICT (bucket, camera_id) DO UPDATE SET
    site_id = COALESCE(EXCLUDED.site_id, ch.site_id),
    reads = ch.reads + EXCLUDED.reads,
    confidence_sum = ch.confidence_sum + EXCLUDED.confidence_sum,
    latency_sum = ch.latency_sum + EXCLUDED.latency_sum,
    latency_count = ch.latency_count + EXCLUDED.latency_count;

-- name: upsert_reads_hourly
-- camera_hourly summed over cameras, for stats without a camera or site.
INSERT INTO reads_hourly AS r (bucket, reads, confidence_sum, latency_sum, latency_count)
SELECT
    date_trunc('hour', captured_at, 'UTC') AS bucket,
    count(*),
    sum(plate_confidence),
    COALESCE(sum(latency_ms), 0),
    count(latency_ms)
FROM alpr_inserted
GROUP BY 1
ORDER BY 1
ON CONFLICT (bucket) DO UPDATE SET
    reads = r.reads + EXCLUDED.reads,
    confidence_sum = r.confidence_sum + EXCLUDED.confidence_sum,
    latency_sum = r.latency_sum + EXCLUDED.latency_sum,
    latency_count = r.latency_count + EXCLUDED.latency_count;

-- name: upsert_camera_daily
-- The day-sized twin of camera_hourly, for statistics over long windows.
-- Days are UTC days.
INSERT INTO camera_daily AS cd (
    day, camera_id, site_id, reads, confidence_sum, latency_sum, latency_count)
SELECT
    (captured_at AT TIME ZONE 'UTC')::date AS day,
    camera_id,
    (array_agg(site_id ORDER BY captured_at DESC))[1],
    count(*),
    sum(plate_confidence),
    COALESCE(sum(latency_ms), 0),
    count(latency_ms)
FROM alpr_inserted
GROUP BY 1, camera_id
ORDER BY 1, camera_id
ON CONFLICT (day, camera_id) DO UPDATE SET
    site_id = COALESCE(EXCLUDED.site_id, cd.site_id),
    reads = cd.reads + EXCLUDED.reads,
    confidence_sum = cd.confidence_sum + EXCLUDED.confidence_sum,
    latency_sum = cd.latency_sum + EXCLUDED.latency_sum,
    latency_count = cd.latency_count + EXCLUDED.latency_count;

-- name: upsert_plate_days
-- Which plates were read on which UTC day, and the same as bits of plate
-- numbers (plate_day_bits), which the gateway ORs to count the distinct
-- plates of a time window. Only pairs new to plate_days set bits; chunks are
-- taken in key order, like every other upsert here.
WITH added AS (
    INSERT INTO plate_days (day, plate_normalized_text)
    SELECT DISTINCT (captured_at AT TIME ZONE 'UTC')::date, plate_normalized_text
    FROM alpr_inserted
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING
    RETURNING day, plate_normalized_text
), numbered AS (
    -- A probe per pair: a join was planned as a scan of every number.
    SELECT a.day, (SELECT n.plate_id FROM plate_numbers AS n
                   WHERE n.plate_normalized_text = a.plate_normalized_text) AS plate_id
    FROM added AS a
)
INSERT INTO plate_day_bits AS b (chunk, day, bits)
SELECT plate_id >> 14, day, alpr_plate_bits(array_agg(plate_id & 16383))
FROM numbered
GROUP BY 1, 2
ORDER BY 1, 2
ON CONFLICT (chunk, day) DO UPDATE SET bits = b.bits | EXCLUDED.bits;

-- name: announce
-- One row and one NOTIFY per batch: PostgreSQL delivers the NOTIFY at
-- commit, so listeners only hear of reads that are there to be read.
WITH batch AS (
    INSERT INTO stored_batches (event_ids, captured_ats)
    SELECT array_agg(event_id ORDER BY captured_at, event_id),
           array_agg(captured_at ORDER BY captured_at, event_id)
    FROM alpr_inserted
    RETURNING batch_id
)
SELECT batch_id, pg_notify('alpr_stored', batch_id::text) FROM batch;

-- name: prune_announcements
-- Listeners catch up by batch_id after a reconnect; an hour is plenty. A
-- follower (the alert matcher) may be further behind: batches at or above
-- the lowest follower watermark wait for it, however old.
DELETE FROM stored_batches
WHERE stored_at < now() - make_interval(secs => :keep_s)
  AND xid < COALESCE((SELECT min(watermark) FROM follower_positions),
                     pg_snapshot_xmin(pg_current_snapshot()));

-- name: merge_search_pending
-- Move new plates from the GIN fast-update lists into the indexes proper, in
-- one bulk step, so searches do not scan a long list.
SELECT gin_clean_pending_list('plates_trgm'::regclass)
     + gin_clean_pending_list('plates_skeleton_keys'::regclass);
