-- A key may carry an expiry: from then on it is refused as a revoked one is.
-- NULL: the key lasts until it is revoked.
ALTER TABLE api_keys ADD COLUMN expires_at TIMESTAMPTZ;
