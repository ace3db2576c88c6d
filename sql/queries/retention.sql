-- Retention: delete reads past their age, keep what a legal hold covers,
-- record every deletion. Used by ingestor/retention.py.

-- name: try_lock
SELECT pg_try_advisory_lock($1);

-- name: unlock
SELECT pg_advisory_unlock($1);

-- name: start_run
INSERT INTO retention_runs (default_days, site_days)
VALUES ($1, $2::jsonb)
RETURNING run_id;

-- name: finish_run
UPDATE retention_runs
SET finished_at = now(), deleted_rows = $2, held_rows_kept = $3, error = $4
WHERE run_id = $1;

-- name: record_deletion
INSERT INTO retention_deletions
    (run_id, range_start, range_end, site_id, method, row_count, held_rows_kept)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: expired_partitions
SELECT name, range_start, range_end
FROM alpr_time_partitions()
WHERE range_end <= $1
ORDER BY range_start;

-- name: drop_partition
SELECT alpr_drop_time_partition($1, $2, $3);

-- name: lock_holds
-- No hold can be placed while a partition is judged and dropped.
LOCK TABLE legal_holds IN SHARE MODE;

-- name: count_range
SELECT count(*) FROM plate_events WHERE captured_at >= $1 AND captured_at < $2;

-- name: count_held
-- Reads in [$1, $2) under an active hold, for site $3 (NULL: any site) or,
-- when $4 is not NULL, for every site except those in $4. Driven by the
-- holds (few), through the primary key and the plate index.
WITH held AS (
    SELECT e.event_id, e.captured_at
    FROM legal_holds h
    JOIN plate_events e ON e.event_id = h.event_id
    WHERE h.released_at IS NULL AND e.captured_at >= $1 AND e.captured_at < $2
    UNION
    SELECT e.event_id, e.captured_at
    FROM legal_holds h
    JOIN plate_events e ON e.plate_normalized_text = h.plate_normalized_text
    WHERE h.released_at IS NULL
      AND e.captured_at >= GREATEST($1, COALESCE(h.held_from, '-infinity'))
      AND e.captured_at < LEAST($2, COALESCE(h.held_until, 'infinity'))
)
SELECT count(*)
FROM held
JOIN plate_events e USING (event_id, captured_at)
WHERE ($3::text IS NULL OR e.site_id = $3)
  AND ($4::text[] IS NULL OR e.site_id IS NULL OR e.site_id <> ALL ($4));

-- name: delete_range
-- Deletes the reads in [$1, $2) of site $3 (NULL: any site) or, when $4 is
-- not NULL, of every site except those in $4, unless a hold covers them.
WITH gone AS (
    DELETE FROM plate_events e
    WHERE e.captured_at >= $1 AND e.captured_at < $2
      AND ($3::text IS NULL OR e.site_id = $3)
      AND ($4::text[] IS NULL OR e.site_id IS NULL OR e.site_id <> ALL ($4))
      AND NOT EXISTS (
          SELECT 1 FROM legal_holds h
          WHERE h.released_at IS NULL
            AND (h.event_id = e.event_id
                 OR (h.plate_normalized_text = e.plate_normalized_text
                     AND e.captured_at >= COALESCE(h.held_from, '-infinity')
                     AND e.captured_at < COALESCE(h.held_until, 'infinity'))))
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: next_read
-- The first read at or after $1 (NULL: the oldest read); an index lookup.
SELECT min(captured_at) FROM plate_events WHERE $1::timestamptz IS NULL OR captured_at >= $1;

-- name: purge_plate_cameras
-- Where-seen rows of plates not seen since the cutoff, unless a read of the
-- plate is still stored (held) or the plate itself is held; counted down
-- for their cameras (0046).
WITH gone AS (
    DELETE FROM plate_cameras pc
    WHERE pc.last_seen < $1
      AND NOT EXISTS (SELECT 1 FROM legal_holds h
                      WHERE h.released_at IS NULL
                        AND h.plate_normalized_text = pc.plate_normalized_text)
      AND NOT EXISTS (SELECT 1 FROM plate_events e
                      WHERE e.plate_normalized_text = pc.plate_normalized_text
                        AND e.camera_id = pc.camera_id)
    RETURNING pc.camera_id
), counted AS (
    UPDATE camera_plate_counts c
    SET plates = c.plates - n.plates
    FROM (SELECT camera_id, count(*) AS plates FROM gone GROUP BY camera_id) AS n
    WHERE c.camera_id = n.camera_id
)
SELECT count(*) FROM gone;

-- name: purge_plates
-- With a plate go its number (0044), its sites (0045, counted down) and its
-- plate-days (those left are of the cutoff's own day: its reads, all before
-- the cutoff, are gone), which the plate_day_bits rebuilt after
-- purge_plate_days then no longer hold.
WITH gone AS (
    DELETE FROM plates p
    WHERE p.last_seen < $1
      AND NOT EXISTS (SELECT 1 FROM legal_holds h
                      WHERE h.released_at IS NULL
                        AND h.plate_normalized_text = p.plate_normalized_text)
      AND NOT EXISTS (SELECT 1 FROM plate_events e
                      WHERE e.plate_normalized_text = p.plate_normalized_text)
    RETURNING p.plate_normalized_text
), numbers AS (
    DELETE FROM plate_numbers n
    USING gone g
    WHERE n.plate_normalized_text = g.plate_normalized_text
), sites AS (
    DELETE FROM plate_sites s
    USING gone g
    WHERE s.plate_normalized_text = g.plate_normalized_text
    RETURNING s.site_id
), counted AS (
    UPDATE site_plate_counts c
    SET plates = c.plates - n.plates
    FROM (SELECT site_id, count(*) AS plates FROM sites GROUP BY site_id) AS n
    WHERE c.site_id = n.site_id
), days AS (
    DELETE FROM plate_days d
    USING gone g
    WHERE d.plate_normalized_text = g.plate_normalized_text
)
SELECT count(*) FROM gone;

-- name: purge_plate_days
-- Plates seen per day (the gateway's windowed unique counts) hold plate text
-- too: days wholly before the cutoff go, unless a read of that plate on that
-- day is still stored (held).
WITH gone AS (
    DELETE FROM plate_days d
    WHERE d.day < ($1::timestamptz AT TIME ZONE 'UTC')::date
      AND NOT EXISTS (SELECT 1 FROM plate_events e
                      WHERE e.plate_normalized_text = d.plate_normalized_text
                        AND e.captured_at >= (d.day::timestamp AT TIME ZONE 'UTC')
                        AND e.captured_at < ((d.day + 1)::timestamp AT TIME ZONE 'UTC'))
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: rebuild_plate_day_bits
-- The bitmaps of the days purge_plates and purge_plate_days changed (every
-- day up to the cutoff's), from the plate-days left (0044).
SELECT alpr_rebuild_plate_day_bits(($1::timestamptz AT TIME ZONE 'UTC')::date);

-- name: runs
SELECT run_id, started_at, finished_at, default_days, site_days, deleted_rows,
       held_rows_kept, error
FROM retention_runs ORDER BY run_id DESC LIMIT $1;

-- name: deletions_of_run
SELECT range_start, range_end, site_id, method, row_count, held_rows_kept, at
FROM retention_deletions WHERE run_id = $1 ORDER BY deletion_id;
