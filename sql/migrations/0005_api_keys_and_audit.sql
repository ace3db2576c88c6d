-- API keys are stored as SHA-256 digests of high-entropy random tokens: the
-- token cannot be recovered from the table, and a digest is enough because
-- the token is not a human-chosen password.
CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash BYTEA NOT NULL UNIQUE,
    scopes TEXT[] NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    CHECK (scopes <@ ARRAY['read', 'ingest', 'admin'])
);

-- Who searched what and why. Append-only by convention of the code.
CREATE TABLE audit_log (
    audit_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    key_id TEXT,
    client TEXT,
    operation TEXT NOT NULL,
    variables JSONB NOT NULL DEFAULT '{}'::jsonb,
    result_count INTEGER,
    purpose TEXT
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
CREATE INDEX audit_log_key ON audit_log (key_id, at DESC);
