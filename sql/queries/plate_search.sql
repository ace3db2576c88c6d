-- Plate search over `plates` (schema/search.py holds the logic, gateway/search.py
-- runs these). Filter parameters, the same in every block that takes them:
--   since, until  a read in [since, until), at the camera/site when given:
--                 checked against plate_events with one index range probe per
--                 plate (idx_plate_normalized), after first/last seen prune;
--   camera, site  the plate was seen there (plate_cameras);
--   region        the plate's last region.

-- name: fuzzy_candidates
-- $1 the query skeleton's deletion keys (plates_skeleton_keys index), $2 the
-- query text for trigram similarity (plates_trgm, at the threshold set by
-- candidate_settings in the same transaction), $3 how many candidates at most.
SELECT plate_normalized_text FROM (
    SELECT plate_normalized_text FROM plates
    WHERE alpr_plate_keys(plate_normalized_text) && $1::text[]
    UNION
    SELECT plate_normalized_text FROM plates
    WHERE plate_normalized_text % $2::text
) AS candidates
LIMIT $3;

-- name: fuzzy_candidates_by_keys
-- The deletion keys alone: complete when at most one plain edit is allowed.
SELECT plate_normalized_text FROM plates
WHERE alpr_plate_keys(plate_normalized_text) && $1::text[]
LIMIT $2;

-- name: candidate_settings
-- For this transaction only: the similarity the % operator asks for, and no
-- parallel workers (gateway/search.py `_candidates` says why).
SELECT set_config('pg_trgm.similarity_threshold', $1::text, true),
    set_config('max_parallel_workers_per_gather', '0', true);

-- name: plate_details
-- The plates named in $1 that pass the filters ($2 since, $3 until,
-- $4 camera, $5 site, $6 region), with the cameras each was seen at.
SELECT p.plate_normalized_text AS plate, p.first_seen, p.last_seen, p.read_count,
    p.last_region,
    ARRAY(SELECT pc.camera_id FROM plate_cameras AS pc
          WHERE pc.plate_normalized_text = p.plate_normalized_text
          ORDER BY pc.last_seen DESC, pc.camera_id) AS cameras
FROM plates AS p
WHERE p.plate_normalized_text = ANY($1::text[])
  AND ($2::timestamptz IS NULL OR p.last_seen >= $2)
  AND ($3::timestamptz IS NULL OR p.first_seen < $3)
  AND ($6::text IS NULL OR p.last_region = $6)
  AND (($4::text IS NULL AND $5::text IS NULL) OR EXISTS (
        SELECT 1 FROM plate_cameras AS pc
        WHERE pc.plate_normalized_text = p.plate_normalized_text
          AND ($4::text IS NULL OR pc.camera_id = $4)
          AND ($5::text IS NULL OR pc.site_id = $5)))
  AND (($2::timestamptz IS NULL AND $3::timestamptz IS NULL) OR EXISTS (
        SELECT 1 FROM plate_events AS e
        WHERE e.plate_normalized_text = p.plate_normalized_text
          AND e.captured_at >= COALESCE($2, '-infinity')
          AND e.captured_at < COALESCE($3, 'infinity')
          AND ($4::text IS NULL OR e.camera_id = $4)
          AND ($5::text IS NULL OR e.site_id = $5)));

-- name: wildcard_indexed
-- Plates LIKE $1 (a pattern with a trigram to look up in plates_trgm),
-- filtered by $2..$6, newest first; $7 limit, $8 offset.
SELECT p.plate_normalized_text AS plate, p.first_seen, p.last_seen, p.read_count,
    p.last_region,
    ARRAY(SELECT pc.camera_id FROM plate_cameras AS pc
          WHERE pc.plate_normalized_text = p.plate_normalized_text
          ORDER BY pc.last_seen DESC, pc.camera_id) AS cameras
FROM plates AS p
WHERE p.plate_normalized_text LIKE $1::text
  AND ($2::timestamptz IS NULL OR p.last_seen >= $2)
  AND ($3::timestamptz IS NULL OR p.first_seen < $3)
  AND ($6::text IS NULL OR p.last_region = $6)
  AND (($4::text IS NULL AND $5::text IS NULL) OR EXISTS (
        SELECT 1 FROM plate_cameras AS pc
        WHERE pc.plate_normalized_text = p.plate_normalized_text
          AND ($4::text IS NULL OR pc.camera_id = $4)
          AND ($5::text IS NULL OR pc.site_id = $5)))
  AND (($2::timestamptz IS NULL AND $3::timestamptz IS NULL) OR EXISTS (
        SELECT 1 FROM plate_events AS e
        WHERE e.plate_normalized_text = p.plate_normalized_text
          AND e.captured_at >= COALESCE($2, '-infinity')
          AND e.captured_at < COALESCE($3, 'infinity')
          AND ($4::text IS NULL OR e.camera_id = $4)
          AND ($5::text IS NULL OR e.site_id = $5)))
ORDER BY p.last_seen DESC, p.read_count DESC, p.plate_normalized_text
LIMIT $7 OFFSET $8;

-- name: wildcard_scan
-- The same for a pattern without a usable trigram (`*7*`, `?1?`): the trigram
-- index cannot narrow it. $9 NULL: every plate (a small table); otherwise
-- only the plates of the $9 newest reads (idx_captured_at) — bounded work,
-- reported as an incomplete search.
SELECT p.plate_normalized_text AS plate, p.first_seen, p.last_seen, p.read_count,
    p.last_region,
    ARRAY(SELECT pc.camera_id FROM plate_cameras AS pc
          WHERE pc.plate_normalized_text = p.plate_normalized_text
          ORDER BY pc.last_seen DESC, pc.camera_id) AS cameras
FROM (SELECT * FROM plates WHERE $9::int IS NULL
      UNION ALL
      SELECT * FROM plates WHERE $9::int IS NOT NULL AND plate_normalized_text IN (
          SELECT plate_normalized_text FROM plate_events
          ORDER BY captured_at DESC LIMIT $9)) AS p
WHERE p.plate_normalized_text LIKE $1::text
  AND ($2::timestamptz IS NULL OR p.last_seen >= $2)
  AND ($3::timestamptz IS NULL OR p.first_seen < $3)
  AND ($6::text IS NULL OR p.last_region = $6)
  AND (($4::text IS NULL AND $5::text IS NULL) OR EXISTS (
        SELECT 1 FROM plate_cameras AS pc
        WHERE pc.plate_normalized_text = p.plate_normalized_text
          AND ($4::text IS NULL OR pc.camera_id = $4)
          AND ($5::text IS NULL OR pc.site_id = $5)))
  AND (($2::timestamptz IS NULL AND $3::timestamptz IS NULL) OR EXISTS (
        SELECT 1 FROM plate_events AS e
        WHERE e.plate_normalized_text = p.plate_normalized_text
          AND e.captured_at >= COALESCE($2, '-infinity')
          AND e.captured_at < COALESCE($3, 'infinity')
          AND ($4::text IS NULL OR e.camera_id = $4)
          AND ($5::text IS NULL OR e.site_id = $5)))
ORDER BY p.last_seen DESC, p.read_count DESC, p.plate_normalized_text
LIMIT $7 OFFSET $8;

-- name: plate_count_at_least
-- True when plates has at least $1 rows (is a bounded scan of $1 complete?).
SELECT count(*) >= $1 FROM (SELECT 1 FROM plates LIMIT $1) AS counted;

-- name: audit_search
-- The audit record of a search made outside the gateway (`alpr search`).
INSERT INTO audit_log (key_id, client, operation, variables, result_count, purpose)
VALUES (NULL, $1, 'plateSearch', $2::jsonb, $3, $4);
