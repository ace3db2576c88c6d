-- Alerts: a stored read that matched a hotlist entry.
--
-- One alert is one vehicle pass: reads matching the same entry at the same
-- camera within the pass window join the open alert (read_count, last_seen,
-- the best read by confidence) instead of raising another. What matched is
-- kept as the matcher saw it: the read's plate, the cost and the edits that
-- separate it from the entry (JSON list of {position, expected, read, kind,
-- cost}), and whether the read's region differs from the entry's (a
-- mismatch flags the alert, it never hides it). `historical` alerts come
-- from the search of past reads when an entry is added; they are delivered
-- as a digest. Triage moves an alert new -> acknowledged -> closed; closing
-- records a disposition, and "confirmed" needs the verification checklist.
CREATE TABLE alerts (
    alert_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id BIGINT NOT NULL REFERENCES hotlist_entries (entry_id),
    hotlist_id BIGINT NOT NULL REFERENCES hotlists (hotlist_id),
    priority SMALLINT NOT NULL,
    camera_id VARCHAR(50) NOT NULL,
    site_id VARCHAR(50),
    plate_read VARCHAR(20) NOT NULL,
    cost REAL NOT NULL,
    edits JSONB NOT NULL DEFAULT '[]'::jsonb,
    region_mismatch BOOLEAN NOT NULL DEFAULT false,
    historical BOOLEAN NOT NULL DEFAULT false,
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    read_count INTEGER NOT NULL DEFAULT 1,
    best_event_id UUID NOT NULL,
    best_captured_at TIMESTAMPTZ NOT NULL,
    best_confidence FLOAT NOT NULL,
    raised_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'acknowledged', 'closed')),
    acknowledged_at TIMESTAMPTZ,
    acknowledged_by TEXT,
    closed_at TIMESTAMPTZ,
    closed_by TEXT,
    disposition TEXT
        CHECK (disposition IN ('confirmed', 'misread', 'entry_outdated', 'no_action')),
    disposition_note TEXT,
    checklist JSONB,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    CHECK ((closed_at IS NULL) = (disposition IS NULL)),
    CHECK (disposition IS DISTINCT FROM 'confirmed' OR checklist IS NOT NULL),
    CHECK (first_seen <= last_seen)
);
CREATE INDEX alerts_raised ON alerts (raised_at DESC, alert_id DESC);
CREATE INDEX alerts_open ON alerts (status, priority DESC, alert_id DESC)
    WHERE status <> 'closed';
-- The open pass of an entry at a camera, found when its next read arrives.
CREATE INDEX alerts_pass ON alerts (entry_id, camera_id, last_seen DESC)
    WHERE NOT historical;

-- The reads of an alert. One read raises or joins at most one alert per
-- entry, whichever path found it (the stream or the search of past reads).
CREATE TABLE alert_reads (
    alert_id BIGINT NOT NULL REFERENCES alerts (alert_id) ON DELETE CASCADE,
    entry_id BIGINT NOT NULL,
    event_id UUID NOT NULL,
    captured_at TIMESTAMPTZ NOT NULL,
    confidence FLOAT NOT NULL,
    PRIMARY KEY (alert_id, event_id),
    UNIQUE (entry_id, event_id)
);
CREATE INDEX alert_reads_event ON alert_reads (event_id);

-- Where a follower of the stored reads stands. Batches commit out of
-- batch_id order (identities are taken before commit), so a follower keeps
-- a transaction-id watermark instead: every batch written by a transaction
-- below it has been handled, and a batch is taken only once every
-- transaction below its own id has ended (pg_snapshot_xmin), so none can
-- still appear behind the watermark.
CREATE TABLE follower_positions (
    follower TEXT PRIMARY KEY,
    watermark XID8 NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE stored_batches ADD COLUMN xid XID8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX stored_batches_xid ON stored_batches (xid);

-- Entries added or imported wait here for the search of past reads.
CREATE TABLE hotlist_backfills (
    backfill_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hotlist_id BIGINT NOT NULL REFERENCES hotlists (hotlist_id),
    entry_ids BIGINT[] NOT NULL,
    since TIMESTAMPTZ NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    done_at TIMESTAMPTZ,
    hits INTEGER
);
CREATE INDEX hotlist_backfills_pending ON hotlist_backfills (backfill_id) WHERE done_at IS NULL;

-- Webhooks, one per list, delivered from an outbox written in the same
-- transaction as the alert: in order per webhook, retried with capped
-- backoff across restarts. The secret signs each delivery (HMAC-SHA256)
-- and is never returned by the API.
CREATE TABLE webhooks (
    webhook_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hotlist_id BIGINT NOT NULL UNIQUE REFERENCES hotlists (hotlist_id),
    url TEXT NOT NULL CHECK (url ~ '^https?://'),
    secret TEXT NOT NULL CHECK (length(secret) >= 16),
    enabled BOOLEAN NOT NULL DEFAULT true,
    failing_since TIMESTAMPTZ,
    last_error TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE webhook_outbox (
    delivery_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (webhook_id),
    alert_id BIGINT REFERENCES alerts (alert_id) ON DELETE SET NULL,
    kind TEXT NOT NULL CHECK (kind IN ('alert', 'digest')),
    payload JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at TIMESTAMPTZ
);
CREATE INDEX webhook_outbox_pending ON webhook_outbox (webhook_id, delivery_id)
    WHERE delivered_at IS NULL;

CREATE TABLE webhook_attempts (
    delivery_id BIGINT NOT NULL REFERENCES webhook_outbox (delivery_id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    status_code INTEGER,
    latency_ms INTEGER,
    error TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
