-- name: insert_key
INSERT INTO api_keys (key_id, name, key_hash, scopes, expires_at)
VALUES (:key_id, :name, :key_hash, :scopes, :expires_at);

-- name: key_by_hash
-- Revoked and expired keys too: the caller says which refusal it was.
SELECT key_id, name, scopes, expires_at, revoked_at,
       revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AS valid,
       last_used_at IS NULL OR last_used_at < now() - interval '1 minute' AS stale_use
FROM api_keys WHERE key_hash = :key_hash;

-- name: note_key_use
-- Run when key_by_hash found the use stale: at most about one write per key
-- per minute, however often it is used.
UPDATE api_keys SET last_used_at = now()
WHERE key_id = :key_id
  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

-- name: valid_key_ids
SELECT key_id FROM api_keys
WHERE key_id = ANY(:key_ids::text[])
  AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now());

-- name: list_keys
SELECT key_id, name, scopes, created_at, expires_at, last_used_at, revoked_at
FROM api_keys ORDER BY created_at;

-- name: revoke_key
UPDATE api_keys SET revoked_at = now()
WHERE key_id = :key_id AND revoked_at IS NULL
RETURNING key_id;
