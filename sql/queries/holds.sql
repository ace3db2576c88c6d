-- Legal holds: placed, listed and released by core/holds.py (for `alpr hold`
-- and the gateway's /admin/holds).

-- name: add_hold
INSERT INTO legal_holds
    (event_id, plate_normalized_text, held_from, held_until, case_number, reason, created_by)
VALUES (:event_id, :plate, :held_from, :held_until, :case_number, :reason, :created_by)
RETURNING hold_id, event_id, plate_normalized_text, held_from, held_until, case_number,
          reason, created_by, created_at, released_at, released_by, release_reason;

-- name: list_holds
SELECT hold_id, event_id, plate_normalized_text, held_from, held_until, case_number,
       reason, created_by, created_at, released_at, released_by, release_reason
FROM legal_holds
WHERE (NOT :active_only OR released_at IS NULL)
  AND (:case_number::text IS NULL OR case_number = :case_number)
ORDER BY hold_id;

-- name: release_holds
-- Releases one hold, or every active hold of a case.
UPDATE legal_holds
SET released_at = now(), released_by = :released_by, release_reason = :reason
WHERE released_at IS NULL
  AND (hold_id = :hold_id OR (:case_number::text IS NOT NULL AND case_number = :case_number))
RETURNING hold_id;
