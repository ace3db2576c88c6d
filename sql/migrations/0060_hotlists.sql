-- Hotlists: the watch lists every stored read is checked against.
--
-- A list carries what applies to all its entries: a priority (0-100, higher
-- is more urgent), the default match mode, a scope (all cameras when both
-- arrays are empty, otherwise the reads of the named sites or cameras), the
-- age after which it counts as stale (a daily extract that stopped
-- arriving), and where it comes from. `refreshed_at` is the time of its
-- last import or change; `revision` grows with every change so a matcher
-- holding a copy knows when to reload it (NOTIFY alpr_hotlists says when).
CREATE TABLE hotlists (
    hotlist_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$'),
    description TEXT,
    priority SMALLINT NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 100),
    match_mode TEXT NOT NULL DEFAULT 'exact'
        CHECK (match_mode IN ('exact', 'wildcard', 'fuzzy')),
    max_cost REAL NOT NULL DEFAULT 1 CHECK (max_cost > 0 AND max_cost <= 3),
    site_ids TEXT[] NOT NULL DEFAULT '{}',
    camera_ids TEXT[] NOT NULL DEFAULT '{}',
    max_age INTERVAL CHECK (max_age > INTERVAL '0'),
    source TEXT NOT NULL DEFAULT 'manual' CHECK (source <> ''),
    revision BIGINT NOT NULL DEFAULT 1,
    refreshed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by TEXT NOT NULL CHECK (created_by <> ''),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ
);

-- One vehicle wanted for one reason. `plate` is normalized exactly as reads
-- are (schema.plates), or for wildcard entries a pattern of A-Z, 0-9, `*`
-- and `?`. `match_mode`/`max_cost` override the list's when set. An entry
-- past `valid_until` stops matching and is kept; an entry removed from its
-- list (by hand or by an import that replaced the list) keeps its row, since
-- alerts name it. `record_number` and `details` keep the source's own
-- fields (a stolen-vehicle extract's record number, plate type, expiry
-- year, record-type code).
CREATE TABLE hotlist_entries (
    entry_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hotlist_id BIGINT NOT NULL REFERENCES hotlists (hotlist_id),
    plate VARCHAR(20) NOT NULL CHECK (plate ~ '^[A-Z0-9*?]+$'),
    region VARCHAR(10),
    reason TEXT NOT NULL CHECK (reason <> ''),
    case_number TEXT,
    agency TEXT,
    record_number TEXT,
    notes TEXT,
    details JSONB NOT NULL DEFAULT '{}'::jsonb,
    match_mode TEXT CHECK (match_mode IN ('exact', 'wildcard', 'fuzzy')),
    max_cost REAL CHECK (max_cost > 0 AND max_cost <= 3),
    valid_from TIMESTAMPTZ NOT NULL DEFAULT now(),
    valid_until TIMESTAMPTZ,
    added_by TEXT NOT NULL CHECK (added_by <> ''),
    added_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    removed_by TEXT,
    removed_at TIMESTAMPTZ,
    CHECK (valid_until IS NULL OR valid_from < valid_until),
    CHECK ((removed_at IS NULL) = (removed_by IS NULL)),
    CHECK (match_mode IS DISTINCT FROM 'wildcard' OR plate ~ '[*?]'),
    CHECK (match_mode = 'wildcard' OR plate ~ '^[A-Z0-9]+$' OR match_mode IS NULL)
);

-- One current entry per plate and region in a list: an import's diff and a
-- --replace key on it.
CREATE UNIQUE INDEX hotlist_entries_current
    ON hotlist_entries (hotlist_id, plate, coalesce(region, ''))
    WHERE removed_at IS NULL;

-- Exact matching is an index lookup by the read's plate.
CREATE INDEX hotlist_entries_plate ON hotlist_entries (plate) WHERE removed_at IS NULL;
