-- Legal holds: placed, listed and released by ingestor/holds.py (CLI) and
-- gateway/holds_api.py (admin REST API).

-- name: add_hold
INSERT INTO legal_holds
    (event_id, plate_normalized_text, held_from, held_until, case_number, reason, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING hold_id, event_id, plate_normalized_text, held_from, held_until, case_number,
          reason, created_by, created_at, released_at, released_by, release_reason;

-- name: list_holds
-- $1: only active ones; $2: only this case (NULL: all cases).
SELECT hold_id, event_id, plate_normalized_text, held_from, held_until, case_number,
       reason, created_by, created_at, released_at, released_by, release_reason
FROM legal_holds
WHERE (NOT $1 OR released_at IS NULL)
  AND ($2::text IS NULL OR case_number = $2)
ORDER BY hold_id;

-- name: release_holds
-- Releases hold $1, or every active hold of case $2.
UPDATE legal_holds
SET released_at = now(), released_by = $3, release_reason = $4
WHERE released_at IS NULL
  AND (hold_id = $1 OR ($2::text IS NOT NULL AND case_number = $2))
RETURNING hold_id;
