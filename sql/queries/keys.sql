-- name: insert_key
INSERT INTO api_keys (key_id, name, key_hash, scopes)
VALUES (:key_id, :name, :key_hash, :scopes);

-- name: key_by_hash
UPDATE api_keys SET last_used_at = now()
WHERE key_hash = :key_hash AND revoked_at IS NULL
RETURNING key_id, name, scopes;

-- name: list_keys
SELECT key_id, name, scopes, created_at, last_used_at, revoked_at
FROM api_keys ORDER BY created_at;

-- name: revoke_key
UPDATE api_keys SET revoked_at = now()
WHERE key_id = :key_id AND revoked_at IS NULL
RETURNING key_id;
