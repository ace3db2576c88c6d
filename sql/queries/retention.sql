-- Retention: delete reads past their age, keep what a hold covers (a legal
-- hold, an open or confirmed alert), delete closed alerts past theirs,
-- record every deletion. Used by ingestor/retention.py.

-- name: try_lock
SELECT pg_try_advisory_lock(:lock_key);

-- name: unlock
SELECT pg_advisory_unlock(:lock_key);

-- name: start_run
INSERT INTO retention_runs (default_days, site_days)
VALUES (:default_days, :site_days::jsonb)
RETURNING run_id;

-- name: finish_run
UPDATE retention_runs
SET finished_at = now(), deleted_rows = :deleted_rows, held_rows_kept = :held_rows_kept,
    error = :error
WHERE run_id = :run_id;

-- name: record_deletion
INSERT INTO retention_deletions
    (run_id, range_start, range_end, site_id, method, row_count, held_rows_kept)
VALUES (:run_id, :range_start, :range_end, :site_id, :method, :row_count, :held_rows_kept);

-- name: expired_partitions
SELECT name, range_start, range_end
FROM alpr_time_partitions()
WHERE range_end <= :cutoff
ORDER BY range_start;

-- name: drop_partition
SELECT alpr_drop_time_partition(:name, :range_start, :range_end);

-- name: forget_range
-- The ids of the reads of a partition about to be dropped whole (every read
-- in it goes, none is held): found by time, through event_ids' range index.
DELETE FROM event_ids WHERE captured_at >= :range_start AND captured_at < :range_end;

-- name: lock_holds
-- No hold can be placed while a partition is judged and dropped. Alerts
-- need no lock: a new alert takes a read just stored or, for past hits, one
-- no older than retention (ALPR_ALERT_BACKFILL_DAYS is bounded by it), never
-- one of an expired partition; and an alert only ever lets go of its reads.
LOCK TABLE legal_holds IN SHARE MODE;

-- name: count_range
SELECT count(*) FROM plate_events WHERE captured_at >= :range_start AND captured_at < :range_end;

-- name: count_held
-- Reads in [range_start, range_end) under a hold (an active legal hold, an
-- open or confirmed alert), of one site (NULL: any site) or, when
-- except_sites is not NULL, of every site but those. Driven by the holds
-- (few), through the primary key and the plate index.
WITH held AS (
    SELECT e.event_id, e.captured_at
    FROM read_holds h
    JOIN plate_events e ON e.event_id = h.event_id
    WHERE e.captured_at >= :range_start AND e.captured_at < :range_end
    UNION
    SELECT e.event_id, e.captured_at
    FROM legal_holds h
    JOIN plate_events e ON e.plate_normalized_text = h.plate_normalized_text
    WHERE h.released_at IS NULL
      AND e.captured_at >= GREATEST(:range_start, COALESCE(h.held_from, '-infinity'))
      AND e.captured_at < LEAST(:range_end, COALESCE(h.held_until, 'infinity'))
)
SELECT count(*)
FROM held
JOIN plate_events e USING (event_id, captured_at)
WHERE (:site_id::text IS NULL OR e.site_id = :site_id)
  AND (:except_sites::text[] IS NULL OR e.site_id IS NULL OR e.site_id <> ALL (:except_sites));

-- name: delete_range
-- Deletes the reads in [range_start, range_end) of one site (NULL: any site)
-- or, when except_sites is not NULL, of every site but those, unless a hold
-- covers them (on the read: a legal hold or an alert; on its plate: a legal
-- hold); and their ids in event_ids.
WITH gone AS (
    DELETE FROM plate_events e
    WHERE e.captured_at >= :range_start AND e.captured_at < :range_end
      AND (:site_id::text IS NULL OR e.site_id = :site_id)
      AND (:except_sites::text[] IS NULL OR e.site_id IS NULL
           OR e.site_id <> ALL (:except_sites))
      AND NOT EXISTS (SELECT 1 FROM read_holds h WHERE h.event_id = e.event_id)
      AND NOT EXISTS (
          SELECT 1 FROM legal_holds h
          WHERE h.released_at IS NULL
            AND h.plate_normalized_text = e.plate_normalized_text
            AND e.captured_at >= COALESCE(h.held_from, '-infinity')
            AND e.captured_at < COALESCE(h.held_until, 'infinity'))
    RETURNING e.event_id, e.captured_at
), forgotten AS (
    DELETE FROM event_ids i
    USING gone g
    WHERE i.event_id = g.event_id AND i.captured_at = g.captured_at
)
SELECT count(*) FROM gone;

-- name: release_copy
-- Before the reads in [range_start, range_end) go, the ranges of the
-- plate-ordered copy that hold them give up their copy (in this
-- transaction) and are never copied again (0072_plate_copy.*.sql).
SELECT alpr_release_plate_copy(:range_start, :range_end);

-- name: next_read
-- The first read at or after a moment (NULL: the oldest read); an index lookup.
SELECT min(captured_at) FROM plate_events
WHERE :after::timestamptz IS NULL OR captured_at >= :after;

-- name: purge_plate_cameras
-- Where-seen rows of plates not seen since the cutoff, unless a read of the
-- plate is still stored (held) or the plate itself is held; counted down
-- in their cameras' plate counts.
WITH gone AS (
    DELETE FROM plate_cameras pc
    WHERE pc.last_seen < :cutoff
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
-- With a plate go its number, its sites (counted down) and its
-- plate-days (those left are of the cutoff's own day: its reads, all before
-- the cutoff, are gone), which the plate_day_bits rebuilt after
-- purge_plate_days then no longer hold.
WITH gone AS (
    DELETE FROM plates p
    WHERE p.last_seen < :cutoff
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
    WHERE d.day < (:cutoff::timestamptz AT TIME ZONE 'UTC')::date
      AND NOT EXISTS (SELECT 1 FROM plate_events e
                      WHERE e.plate_normalized_text = d.plate_normalized_text
                        AND e.captured_at >= (d.day::timestamp AT TIME ZONE 'UTC')
                        AND e.captured_at < ((d.day + 1)::timestamp AT TIME ZONE 'UTC'))
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: rebuild_plate_day_bits
-- The bitmaps of the days purge_plates and purge_plate_days changed (every
-- day up to the cutoff's), from the plate-days left.
SELECT alpr_rebuild_plate_day_bits((:cutoff::timestamptz AT TIME ZONE 'UTC')::date);

-- name: delete_closed_alerts
-- Alerts closed before the cutoff, with their alert_reads (cascade) and the
-- webhook deliveries made of them (they hold the plate too), and the digests
-- of past hits delivered before the cutoff (they list plates and belong to
-- no one alert); deliveries not yet made stay, to be delivered. Returns how
-- many alerts went.
WITH gone AS (
    DELETE FROM alerts WHERE status = 'closed' AND closed_at < :cutoff
    RETURNING alert_id
), deliveries AS (
    DELETE FROM webhook_outbox o
    WHERE o.delivered_at IS NOT NULL
      AND (o.alert_id IN (SELECT alert_id FROM gone)
           OR (o.kind = 'digest' AND o.delivered_at < :cutoff))
)
SELECT count(*) FROM gone;
