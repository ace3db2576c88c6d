-- Hotlists: lists, entries and webhooks managed by core/hotlists.py and
-- imported by core/hotlist_import.py (for `alpr hotlist`, GraphQL and REST).
-- Every change runs in one transaction with `touch_hotlist`, `notify_hotlist`
-- and `insert_audit`.

-- fragment: hotlist_columns
h.hotlist_id, h.name, h.description, h.priority, h.match_mode, h.max_cost, h.site_ids,
h.camera_ids, h.max_age, h.source, h.revision, h.refreshed_at, h.created_by, h.created_at,
h.deleted_at,
(h.max_age IS NOT NULL AND h.refreshed_at < now() - h.max_age) AS stale,
(SELECT count(*) FROM hotlist_entries e
  WHERE e.hotlist_id = h.hotlist_id AND e.removed_at IS NULL) AS entry_count,
EXISTS (SELECT 1 FROM webhooks w WHERE w.hotlist_id = h.hotlist_id AND w.enabled) AS has_webhook

-- name: create_hotlist
INSERT INTO hotlists (name, description, priority, match_mode, max_cost, site_ids, camera_ids,
                      max_age, source, created_by)
VALUES (:name, :description, :priority, :match_mode, :max_cost, :site_ids, :camera_ids,
        :max_age, :source, :created_by)
RETURNING hotlist_id;

-- name: list_hotlists
SELECT {hotlist_columns}
FROM hotlists h
WHERE :include_deleted OR h.deleted_at IS NULL
ORDER BY h.priority DESC, h.name;

-- name: hotlist_by_name
SELECT {hotlist_columns}
FROM hotlists h
WHERE h.name = :name AND h.deleted_at IS NULL;

-- name: hotlist_by_id
SELECT {hotlist_columns}
FROM hotlists h
WHERE h.hotlist_id = :hotlist_id;

-- name: lock_hotlist
-- The list a change is about, locked until the change commits: changes to
-- one list (an import above all) run one after another.
SELECT hotlist_id, match_mode FROM hotlists
WHERE name = :name AND deleted_at IS NULL
FOR UPDATE;

-- name: update_hotlist
-- A NULL argument keeps the field; `clear_max_age` makes a list never stale.
UPDATE hotlists SET
    description = coalesce(:description, description),
    priority = coalesce(:priority, priority),
    match_mode = coalesce(:match_mode, match_mode),
    max_cost = coalesce(:max_cost, max_cost),
    site_ids = coalesce(:site_ids, site_ids),
    camera_ids = coalesce(:camera_ids, camera_ids),
    max_age = CASE WHEN :clear_max_age THEN NULL ELSE coalesce(:max_age, max_age) END,
    source = coalesce(:source, source)
WHERE hotlist_id = :hotlist_id;

-- name: patterns_without_mode
-- Active entries that are wildcard patterns only through the list's mode.
SELECT count(*) FROM hotlist_entries
WHERE hotlist_id = :hotlist_id AND removed_at IS NULL AND match_mode IS NULL
  AND plate ~ '[*?]';

-- name: delete_hotlist
UPDATE hotlists SET deleted_at = now() WHERE hotlist_id = :hotlist_id;

-- name: touch_hotlist
-- Every change: a new revision for matchers holding a copy; an entry change
-- or an import also refreshes the list (its staleness clock).
UPDATE hotlists
SET revision = revision + 1,
    refreshed_at = CASE WHEN :refreshed THEN now() ELSE refreshed_at END
WHERE hotlist_id = :hotlist_id
RETURNING revision;

-- name: notify_hotlist
-- Delivered at commit, with the change.
SELECT pg_notify('alpr_hotlists', :hotlist_id::bigint::text);

-- name: insert_audit
INSERT INTO audit_log (key_id, client, operation, variables, result_count, purpose)
VALUES (:key_id, :client, :operation, :variables::jsonb, :result_count, :purpose);

-- name: request_backfill
-- Entries just added wait for the search of past reads (the matcher's job).
INSERT INTO hotlist_backfills (hotlist_id, entry_ids, since)
SELECT :hotlist_id, :entry_ids::bigint[], now() - make_interval(days => :days)
WHERE cardinality(:entry_ids::bigint[]) > 0;

-- fragment: entry_columns
e.entry_id, e.hotlist_id, h.name AS hotlist, e.plate, e.region, e.reason, e.case_number,
e.agency, e.record_number, e.notes, e.details::text AS details, e.match_mode, e.max_cost,
coalesce(e.match_mode, h.match_mode) AS effective_mode,
coalesce(e.max_cost, h.max_cost) AS effective_max_cost,
e.valid_from, e.valid_until, e.added_by, e.added_at, e.removed_by, e.removed_at,
(e.removed_at IS NULL AND e.valid_from <= now()
 AND (e.valid_until IS NULL OR now() < e.valid_until)) AS active

-- name: add_entry
INSERT INTO hotlist_entries
    (hotlist_id, plate, region, reason, case_number, agency, record_number, notes, details,
     match_mode, max_cost, valid_from, valid_until, added_by)
VALUES (:hotlist_id, :plate, :region, :reason, :case_number, :agency, :record_number, :notes,
        :details::jsonb, :match_mode, :max_cost, coalesce(:valid_from, now()), :valid_until,
        :added_by)
RETURNING entry_id;

-- name: entry_by_id
SELECT {entry_columns}
FROM hotlist_entries e JOIN hotlists h USING (hotlist_id)
WHERE e.entry_id = :entry_id;

-- name: lock_entry
-- The entry and its list, locked for a change.
SELECT e.entry_id, e.hotlist_id, e.plate, h.match_mode AS list_mode, e.removed_at
FROM hotlist_entries e JOIN hotlists h USING (hotlist_id)
WHERE e.entry_id = :entry_id AND h.deleted_at IS NULL
FOR UPDATE OF e, h;

-- name: update_entry
-- A NULL argument keeps the field; the clear_* flags empty an optional one.
UPDATE hotlist_entries SET
    reason = coalesce(:reason, reason),
    case_number = coalesce(:case_number, case_number),
    agency = coalesce(:agency, agency),
    record_number = coalesce(:record_number, record_number),
    notes = coalesce(:notes, notes),
    details = coalesce(:details::jsonb, details),
    match_mode = CASE WHEN :clear_mode THEN NULL ELSE coalesce(:match_mode, match_mode) END,
    max_cost = CASE WHEN :clear_mode THEN NULL ELSE coalesce(:max_cost, max_cost) END,
    valid_from = coalesce(:valid_from, valid_from),
    valid_until = CASE WHEN :clear_valid_until THEN NULL
                       ELSE coalesce(:valid_until, valid_until) END
WHERE entry_id = :entry_id;

-- name: remove_entry
UPDATE hotlist_entries SET removed_at = now(), removed_by = :removed_by
WHERE entry_id = :entry_id AND removed_at IS NULL;

-- name: entries_page
-- A list's entries, newest first, after the cursor's entry id.
SELECT {entry_columns}
FROM hotlist_entries e JOIN hotlists h USING (hotlist_id)
WHERE e.hotlist_id = :hotlist_id
  AND e.entry_id < coalesce(:after_id::bigint, 9223372036854775807)
  AND (:plate::text IS NULL OR e.plate = :plate)
  AND (:reason::text IS NULL OR e.reason = :reason)
  AND (:active::boolean IS NULL
       OR :active = (e.removed_at IS NULL AND e.valid_from <= now()
                     AND (e.valid_until IS NULL OR now() < e.valid_until)))
ORDER BY e.entry_id DESC
LIMIT :limit;

-- name: set_webhook
INSERT INTO webhooks (hotlist_id, url, secret, created_by)
VALUES (:hotlist_id, :url, :secret, :created_by)
ON CONFLICT (hotlist_id) DO UPDATE
SET url = EXCLUDED.url, secret = EXCLUDED.secret, enabled = true, failing_since = NULL,
    last_error = NULL, created_by = EXCLUDED.created_by, created_at = now()
RETURNING webhook_id;

-- name: disable_webhook
-- The row stays: its deliveries and their log name it.
UPDATE webhooks SET enabled = false
WHERE hotlist_id = :hotlist_id AND enabled
RETURNING webhook_id;

-- name: webhook_of
SELECT webhook_id, url, enabled, failing_since, last_error, created_by, created_at
FROM webhooks WHERE hotlist_id = :hotlist_id;

-- name: staleness
-- Every live list's age and whether it is stale, for metrics and status.
SELECT name, extract(epoch FROM now() - refreshed_at)::float8 AS age_s,
       (max_age IS NOT NULL AND refreshed_at < now() - max_age) AS stale
FROM hotlists WHERE deleted_at IS NULL
ORDER BY name;

-- Imports (core/hotlist_import.py): the file's accepted rows are copied into
-- `hotlist_staging`, then compared with the list's current entries in the
-- same transaction, so matching sees the list before or after, never half.

-- name: import_memory
-- The comparison joins and sorts the whole file against the whole list:
-- with the default work_mem a list of a million entries spills to 32 hash
-- batches on disk. For this transaction only.
SET LOCAL work_mem = '128MB';

-- name: import_staging
CREATE TEMP TABLE hotlist_staging (
    line BIGINT NOT NULL,
    plate VARCHAR(20) NOT NULL,
    region VARCHAR(10),
    reason TEXT NOT NULL,
    case_number TEXT,
    agency TEXT,
    record_number TEXT,
    notes TEXT,
    details JSONB NOT NULL,
    match_mode TEXT,
    max_cost REAL,
    valid_from TIMESTAMPTZ,
    valid_until TIMESTAMPTZ
) ON COMMIT DROP;

-- name: import_analyze
ANALYZE hotlist_staging;

-- name: import_duplicates
-- A plate and region given twice: the first line counts, the others are refused.
DELETE FROM hotlist_staging s
USING (
    SELECT line, first_value(line) OVER (
        PARTITION BY plate, coalesce(region, '') ORDER BY line) AS first_line
    FROM hotlist_staging
) d
WHERE s.line = d.line AND d.line <> d.first_line
RETURNING s.line, d.first_line;

-- name: import_remove
-- --replace: current entries the file no longer names.
WITH gone AS (
    UPDATE hotlist_entries e SET removed_at = now(), removed_by = :by
    WHERE e.hotlist_id = :hotlist_id AND e.removed_at IS NULL
      AND NOT EXISTS (
          SELECT 1 FROM hotlist_staging s
          WHERE s.plate = e.plate AND coalesce(s.region, '') = coalesce(e.region, ''))
    RETURNING e.plate, e.region
)
SELECT count(*) AS n,
       CASE WHEN :verbose THEN array_agg(plate || coalesce(' ' || region, '') ORDER BY plate) END
           AS plates
FROM gone;

-- name: import_change
-- Current entries the file names with other values.
WITH changed AS (
    UPDATE hotlist_entries e SET
        reason = s.reason, case_number = s.case_number, agency = s.agency,
        record_number = s.record_number, notes = s.notes, details = s.details,
        match_mode = s.match_mode, max_cost = s.max_cost,
        valid_from = coalesce(s.valid_from, e.valid_from), valid_until = s.valid_until
    FROM hotlist_staging s
    WHERE e.hotlist_id = :hotlist_id AND e.removed_at IS NULL
      AND s.plate = e.plate AND coalesce(s.region, '') = coalesce(e.region, '')
      AND (e.reason, e.case_number, e.agency, e.record_number, e.notes, e.details,
           e.match_mode, e.max_cost, e.valid_from, e.valid_until)
          IS DISTINCT FROM
          (s.reason, s.case_number, s.agency, s.record_number, s.notes, s.details,
           s.match_mode, s.max_cost, coalesce(s.valid_from, e.valid_from), s.valid_until)
    RETURNING e.plate, e.region
)
SELECT count(*) AS n,
       CASE WHEN :verbose THEN array_agg(plate || coalesce(' ' || region, '') ORDER BY plate) END
           AS plates
FROM changed;

-- name: import_add
-- Rows the list has no current entry for; their past hits are searched for.
WITH added AS (
    INSERT INTO hotlist_entries
        (hotlist_id, plate, region, reason, case_number, agency, record_number, notes,
         details, match_mode, max_cost, valid_from, valid_until, added_by)
    SELECT :hotlist_id, s.plate, s.region, s.reason, s.case_number, s.agency,
           s.record_number, s.notes, s.details, s.match_mode, s.max_cost,
           coalesce(s.valid_from, now()), s.valid_until, :by
    FROM hotlist_staging s
    WHERE NOT EXISTS (
        SELECT 1 FROM hotlist_entries e
        WHERE e.hotlist_id = :hotlist_id AND e.removed_at IS NULL
          AND e.plate = s.plate AND coalesce(e.region, '') = coalesce(s.region, ''))
    ORDER BY s.line
    RETURNING entry_id, plate, region
), backfill AS (
    INSERT INTO hotlist_backfills (hotlist_id, entry_ids, since)
    SELECT :hotlist_id, array_agg(entry_id ORDER BY entry_id),
           now() - make_interval(days => :days)
    FROM added
    HAVING count(*) > 0
)
SELECT count(*) AS n,
       CASE WHEN :verbose THEN array_agg(plate || coalesce(' ' || region, '') ORDER BY plate) END
           AS plates
FROM added;
