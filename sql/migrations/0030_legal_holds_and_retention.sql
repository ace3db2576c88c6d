-- Legal holds and the retention ledger.
--
-- A hold keeps reads from retention until it is released. It names either
-- one read (event_id, optionally with its captured_at) or a plate (its
-- normalized text, optionally within a time window); a case number groups
-- the holds of one investigation so they can be listed and released
-- together. Who placed it and why are required; a release keeps the row
-- (released_at, released_by, release_reason), so the history stays.
CREATE TABLE legal_holds (
    hold_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id UUID,
    plate_normalized_text VARCHAR(20),
    held_from TIMESTAMPTZ,
    held_until TIMESTAMPTZ,
    case_number TEXT,
    reason TEXT NOT NULL CHECK (reason <> ''),
    created_by TEXT NOT NULL CHECK (created_by <> ''),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    released_at TIMESTAMPTZ,
    released_by TEXT,
    release_reason TEXT,
    CHECK ((event_id IS NULL) <> (plate_normalized_text IS NULL)),
    CHECK (held_from IS NULL OR held_until IS NULL OR held_from < held_until),
    CHECK ((released_at IS NULL) = (released_by IS NULL))
);
CREATE INDEX legal_holds_event ON legal_holds (event_id) WHERE released_at IS NULL;
CREATE INDEX legal_holds_plate ON legal_holds (plate_normalized_text) WHERE released_at IS NULL;
CREATE INDEX legal_holds_case ON legal_holds (case_number);

-- One row per `alpr retention run`, scheduled or by hand.
CREATE TABLE retention_runs (
    run_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    default_days INTEGER,
    site_days JSONB NOT NULL DEFAULT '{}'::jsonb,
    deleted_rows BIGINT NOT NULL DEFAULT 0,
    held_rows_kept BIGINT NOT NULL DEFAULT 0,
    error TEXT
);

-- Every deletion: which time range (and site, when per-site), how, how many
-- rows, when. Kept for audits; holds no plate data.
CREATE TABLE retention_deletions (
    deletion_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES retention_runs (run_id),
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    range_start TIMESTAMPTZ,
    range_end TIMESTAMPTZ NOT NULL,
    site_id VARCHAR(50),
    method TEXT NOT NULL CHECK (method IN ('drop_partition', 'delete_rows', 'purge_plates')),
    row_count BIGINT NOT NULL,
    held_rows_kept BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX retention_deletions_run ON retention_deletions (run_id);
