-- Plate search over `plates` (schema/plate_match.py holds the logic,
-- gateway/plate_search.py runs these).

-- fragment: plate_columns
-- A matching plate as gateway/plate_search.py reads it, with the cameras it
-- was seen at, most recent first.
p.plate_normalized_text AS plate, p.first_seen, p.last_seen, p.read_count,
    p.last_region,
    ARRAY(SELECT pc.camera_id FROM plate_cameras AS pc
          WHERE pc.plate_normalized_text = p.plate_normalized_text
          ORDER BY pc.last_seen DESC, pc.camera_id) AS cameras

-- fragment: plate_filter
-- The search filters on a plate `p`, written once for every search; NULL
-- means "any":
--   :since, :until   a read in [since, until), at the camera/site when given:
--                    checked against plate_events with one index range probe
--                    per plate (idx_plate_normalized), after the plate's
--                    first/last seen have pruned;
--   :camera_id, :site_id  the plate was seen there (plate_cameras);
--   :region          the plate's last region.
(:since::timestamptz IS NULL OR p.last_seen >= :since)
  AND (:until::timestamptz IS NULL OR p.first_seen < :until)
  AND (:region::text IS NULL OR p.last_region = :region)
  AND ((:camera_id::text IS NULL AND :site_id::text IS NULL) OR EXISTS (
        SELECT 1 FROM plate_cameras AS pc
        WHERE pc.plate_normalized_text = p.plate_normalized_text
          AND (:camera_id::text IS NULL OR pc.camera_id = :camera_id)
          AND (:site_id::text IS NULL OR pc.site_id = :site_id)))
  AND ((:since::timestamptz IS NULL AND :until::timestamptz IS NULL) OR EXISTS (
        SELECT 1 FROM plate_events AS e
        WHERE e.plate_normalized_text = p.plate_normalized_text
          AND e.captured_at >= COALESCE(:since, '-infinity')
          AND e.captured_at < COALESCE(:until, 'infinity')
          AND (:camera_id::text IS NULL OR e.camera_id = :camera_id)
          AND (:site_id::text IS NULL OR e.site_id = :site_id)))

-- name: fuzzy_candidates
-- Plates sharing a skeleton key with the query (:keys, the
-- plates_skeleton_keys index) or similar to the query text (:query, by
-- trigrams in plates_trgm, at the threshold candidate_settings set in the
-- same transaction): for a limit of three plain edits, which the keys alone
-- do not reach; :limit candidates at most.
SELECT plate_normalized_text FROM (
    SELECT plate_normalized_text FROM plates
    WHERE alpr_plate_keys(plate_normalized_text) && :keys::text[]
    UNION
    SELECT plate_normalized_text FROM plates
    WHERE plate_normalized_text % :query::text
) AS candidates
LIMIT :limit;

-- name: fuzzy_candidates_by_keys
-- The skeleton keys alone (schema.plate_match.candidate_keys): every plate
-- within two plain edits of the query.
SELECT plate_normalized_text FROM plates
WHERE alpr_plate_keys(plate_normalized_text) && :keys::text[]
LIMIT :limit;

-- name: candidate_settings
-- For this transaction only: the similarity the % operator asks for, and no
-- parallel workers (gateway/plate_search.py `_candidates` says why).
SELECT set_config('pg_trgm.similarity_threshold', :threshold::text, true),
    set_config('max_parallel_workers_per_gather', '0', true);

-- name: plate_details
-- The plates named in :plates that pass the filters. A template: {columns}
-- and {filter} are the fragments above.
SELECT {columns}
FROM plates AS p
WHERE p.plate_normalized_text = ANY(:plates::text[])
  AND {filter};

-- name: wildcard_indexed
-- Plates LIKE :pattern (a pattern with a trigram to look up in plates_trgm)
-- that pass the filters, most recently seen first; a page of :limit after
-- :offset. A template, like plate_details.
SELECT {columns}
FROM plates AS p
WHERE p.plate_normalized_text LIKE :pattern::text
  AND {filter}
ORDER BY p.last_seen DESC, p.read_count DESC, p.plate_normalized_text
LIMIT :limit OFFSET :offset;

-- name: wildcard_scan
-- The same for a pattern without a usable trigram (`*7*`, `?1?`): the trigram
-- index cannot narrow it. :scan_rows NULL: every plate (a small table);
-- otherwise only the plates of the :scan_rows newest reads (idx_captured_at),
-- bounded work, reported as an incomplete search.
SELECT {columns}
FROM (SELECT * FROM plates WHERE :scan_rows::int IS NULL
      UNION ALL
      SELECT * FROM plates WHERE :scan_rows::int IS NOT NULL AND plate_normalized_text IN (
          SELECT plate_normalized_text FROM plate_events
          ORDER BY captured_at DESC LIMIT :scan_rows)) AS p
WHERE p.plate_normalized_text LIKE :pattern::text
  AND {filter}
ORDER BY p.last_seen DESC, p.read_count DESC, p.plate_normalized_text
LIMIT :limit OFFSET :offset;

-- name: plate_count_at_least
-- True when plates has at least :rows rows (is a bounded scan of that many
-- complete?).
SELECT count(*) >= :rows FROM (SELECT 1 FROM plates LIMIT :rows) AS counted;

-- name: audit_search
-- The audit record of a search made outside the gateway (`alpr search`).
INSERT INTO audit_log (key_id, client, operation, variables, result_count, purpose)
VALUES (NULL, :client, 'plateSearch', :variables::jsonb, :result_count, :purpose);
