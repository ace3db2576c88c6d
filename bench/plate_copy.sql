-- Statements of bench/plate_copy.py.

-- name: create_copy
-- A plate-ordered columnstore of the compressed days: no segment, batches
-- ordered by plate then time, so a plate's reads of a chunk sit in one or
-- two batches that the batches' first/last plate index finds. The plate
-- column is TEXT: TimescaleDB 2.28.3 neither vectorizes nor pushes down to
-- that index a comparison of a VARCHAR column (it reaches the planner as
-- `(plate_normalized_text)::text = $1`), and then decompresses every batch.
CREATE TABLE bench_plate_copy (LIKE plate_events INCLUDING DEFAULTS);
ALTER TABLE bench_plate_copy ALTER COLUMN plate_normalized_text TYPE TEXT;
SELECT create_hypertable('bench_plate_copy', 'captured_at',
    chunk_time_interval => $1::interval, create_default_indexes => FALSE);
ALTER TABLE bench_plate_copy SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = '',
    timescaledb.compress_orderby = 'plate_normalized_text, captured_at DESC, event_id');

-- name: copied_until
-- The end of the compressed days: the copy holds the reads before it.
SELECT max(range_end) FROM timescaledb_information.chunks
WHERE hypertable_name = 'plate_events' AND is_compressed;

-- name: fill_copy
INSERT INTO bench_plate_copy SELECT * FROM plate_events WHERE captured_at < $1;

-- name: compress_copy
SELECT count(compress_chunk(c)) FROM show_chunks('bench_plate_copy') AS c;

-- name: copy_size
SELECT hypertable_size('bench_plate_copy')::float8, count(*) FROM bench_plate_copy;

-- name: drop_copy
DROP TABLE IF EXISTS bench_plate_copy;

-- name: regular_plates
-- Plates read on at least 20 of the compressed days.
SELECT plate_normalized_text FROM plate_days WHERE day < $2
GROUP BY plate_normalized_text HAVING count(*) >= 20
ORDER BY random() LIMIT $1;

-- name: random_plates
SELECT DISTINCT plate_normalized_text FROM plate_days
WHERE day < $2 AND plate_normalized_text IN (
    SELECT plate_normalized_text FROM plates ORDER BY random() LIMIT $1 * 2)
LIMIT $1;

-- name: walk_page
-- The gateway's walk (alpr_reads), bounded to the copied days.
SELECT event_id FROM alpr_reads(
    $1, NULL, NULL, NULL, $2, NULL, NULL, false, 20, NULL, NULL, NULL, NULL, NULL);

-- name: copy_page_function
-- A plate's page from the copy, walked chunk by chunk like alpr_reads walks
-- days: the copy's chunks that hold one of the plate's days (plate_days),
-- newest first, each read with a statement planned for its bounds, until the
-- page is full. {interval}: the copy's chunk interval (chunks start at
-- multiples of it from the epoch, as TimescaleDB aligns them).
CREATE FUNCTION pg_temp.copy_page(p_plate TEXT, p_until TIMESTAMPTZ)
RETURNS SETOF UUID
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    chunk_start TIMESTAMP;
    left_over BIGINT := 20;
    found_rows BIGINT;
BEGIN
    FOR chunk_start IN
        SELECT DISTINCT date_bin('{interval}', d.day::timestamp, 'epoch') AS s
        FROM plate_days AS d
        WHERE d.plate_normalized_text = p_plate AND d.day < (p_until AT TIME ZONE 'UTC')::date
        ORDER BY s DESC
    LOOP
        RETURN QUERY
        SELECT e.event_id FROM bench_plate_copy AS e
        WHERE e.plate_normalized_text = p_plate AND e.captured_at < p_until
          AND e.captured_at >= chunk_start AT TIME ZONE 'UTC'
          AND e.captured_at < (chunk_start + '{interval}'::interval) AT TIME ZONE 'UTC'
        ORDER BY e.captured_at DESC, e.event_id DESC
        LIMIT left_over;
        GET DIAGNOSTICS found_rows = ROW_COUNT;
        left_over := left_over - found_rows;
        EXIT WHEN left_over <= 0;
    END LOOP;
END;
$$;

-- name: copy_page
SELECT e FROM pg_temp.copy_page($1, $2) AS e;

-- name: late_read
-- A copy of one read of a compressed day under a new id, stored into
-- {table} (the caller rolls it back): what a late read costs a compressed
-- chunk of that table.
INSERT INTO {table}
SELECT gen_random_uuid(), captured_at, camera_id, track_id, plate_text, plate_normalized_text,
    plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model, vehicle_color,
    plate_image_url, vehicle_image_url, frame_image_url, latency_ms, quality_score,
    frame_number, site_id, host_id, roi, direction, created_at
FROM plate_events WHERE event_id = $1 AND captured_at = $2;

-- name: late_samples
SELECT event_id, captured_at FROM event_ids WHERE captured_at < $2
ORDER BY random() LIMIT $1;
