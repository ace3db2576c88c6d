-- name: insert_key
INSERT INTO api_keys (key_id, name, key_hash, scopes)
VALUES ($1, $2, $3, $4);

-- name: key_by_hash
UPDATE api_keys SET last_used_at = now()
WHERE key_hash = $1 AND revoked_at IS NULL
RETURNING key_id, name, scopes;

-- name: list_keys
SELECT key_id, name, scopes, created_at, last_used_at, revoked_at
FROM api_keys ORDER BY created_at;

-- name: revoke_key
UPDATE api_keys SET revoked_at = now()
WHERE key_id = $1 AND revoked_at IS NULL
RETURNING key_id;
