-- The alert matcher (alerts/): following stored batches, matching reads
-- against hotlist entries, grouping hits into alerts, past hits, webhooks.

-- name: try_lock
SELECT pg_try_advisory_lock(:lock_key);

-- name: start_position
-- A follower seen for the first time starts at the batches committed from
-- now on; reads stored before it are the search of past hits' to find.
INSERT INTO follower_positions (follower, watermark)
VALUES (:follower, pg_snapshot_xmin(pg_current_snapshot()))
ON CONFLICT (follower) DO NOTHING;

-- name: position
SELECT watermark::text FROM follower_positions WHERE follower = :follower;

-- name: set_position
UPDATE follower_positions
SET watermark = :watermark::text::xid8, updated_at = now()
WHERE follower = :follower;

-- name: take_batches
-- In ONE statement, so the horizon and the batches come from one snapshot:
-- every transaction below `horizon` has ended, so each batch it wrote is
-- visible here and none can appear below it later. Batches at or above the
-- horizon that are visible (committed) are taken too, except those this
-- matcher already handled (:done), so one long transaction elsewhere does
-- not hold alerts back.
WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
SELECT h.xmin::text AS horizon, b.batch_id, b.xid::text AS xid, b.event_ids, b.captured_ats,
    b.stored_at
FROM horizon AS h
LEFT JOIN LATERAL (
    SELECT batch_id, xid, event_ids, captured_ats, stored_at
    FROM stored_batches
    WHERE xid >= :watermark::text::xid8 AND NOT (batch_id = ANY(:done::bigint[]))
    ORDER BY xid, batch_id
    LIMIT :limit
) AS b ON true
ORDER BY b.xid, b.batch_id;

-- name: reads_with_exact_hits
-- The reads of the batches, each with the exact entries it hits (none: one
-- row with a NULL entry). An entry hits a read when it is current, in force
-- (valid_from counts from when it was added, so a read captured just before
-- an entry was added and stored just after still hits), not expired at the
-- capture, of a live list whose scope holds the read's site or camera.
-- Wildcard patterns never equal a read's plate; fuzzy entries are matched
-- in memory, their exact plate included.
WITH r AS (
    SELECT e.event_id, e.captured_at, e.camera_id, e.site_id,
        e.plate_normalized_text AS plate, e.plate_region AS region,
        e.plate_confidence AS confidence
    FROM alpr_reads_by_keys(:event_ids::uuid[], :captured_ats::timestamptz[]) AS e
)
SELECT r.event_id, r.captured_at, r.camera_id, r.site_id, r.plate, r.region, r.confidence,
    x.entry_id, x.hotlist_id, x.priority, x.entry_region
FROM r
LEFT JOIN LATERAL (
    SELECT en.entry_id, en.hotlist_id, h.priority, en.region AS entry_region
    FROM hotlist_entries AS en
    JOIN hotlists AS h ON h.hotlist_id = en.hotlist_id AND h.deleted_at IS NULL
    WHERE en.plate = r.plate
      AND en.removed_at IS NULL
      AND coalesce(en.match_mode, h.match_mode) <> 'fuzzy'
      AND en.valid_from <= greatest(r.captured_at, en.added_at)
      AND (en.valid_until IS NULL OR r.captured_at < en.valid_until)
      AND ((cardinality(h.site_ids) = 0 AND cardinality(h.camera_ids) = 0)
           OR r.site_id = ANY(h.site_ids) OR r.camera_id = ANY(h.camera_ids))
) AS x ON true
ORDER BY r.captured_at, r.event_id;

-- name: list_revisions
-- What the in-memory lists are checked against before each round.
SELECT hotlist_id, revision FROM hotlists WHERE deleted_at IS NULL;

-- name: memory_entries
-- A list and its entries matched in memory: patterns (a plate holding `*`
-- or `?`) and fuzzy entries, with the list's defaults applied, and the
-- horizon of the statement's snapshot (every transaction below it has
-- ended, so its changes are all here). One statement, so a list replaced by
-- an import is seen whole, old or new.
WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
SELECT z.xmin::text AS horizon, h.hotlist_id, h.revision, h.priority, h.site_ids,
    h.camera_ids, h.match_mode AS list_mode, h.max_cost AS list_max_cost,
    e.entry_id, e.plate, e.region, false AS removed,
    coalesce(e.match_mode, h.match_mode) AS mode,
    coalesce(e.max_cost, h.max_cost) AS max_cost,
    e.valid_from, e.valid_until, e.added_at
FROM horizon AS z
JOIN hotlists AS h ON h.hotlist_id = :hotlist_id AND h.deleted_at IS NULL
LEFT JOIN hotlist_entries AS e
    ON e.hotlist_id = h.hotlist_id AND e.removed_at IS NULL
    AND (e.plate ~ '[*?]' OR coalesce(e.match_mode, h.match_mode) = 'fuzzy');

-- name: memory_entry_changes
-- The entries of a list changed by transactions at or above the horizon of
-- the copy held, with the list's current settings and the new horizon:
-- patterns and fuzzy entries (removed ones too, to leave the copy) and
-- entries with a mode of their own (one that stopped being fuzzy must leave
-- it). Changes seen again are applied again, harmlessly. A change of the
-- list's own mode reloads the list whole, so plain exact entries of an
-- exact list (most of a million-entry import) are never read here.
WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
SELECT z.xmin::text AS horizon, h.hotlist_id, h.revision, h.priority, h.site_ids,
    h.camera_ids, h.match_mode AS list_mode, h.max_cost AS list_max_cost,
    e.entry_id, e.plate, e.region, e.removed_at IS NOT NULL AS removed,
    coalesce(e.match_mode, h.match_mode) AS mode,
    coalesce(e.max_cost, h.max_cost) AS max_cost,
    e.valid_from, e.valid_until, e.added_at
FROM horizon AS z
JOIN hotlists AS h ON h.hotlist_id = :hotlist_id AND h.deleted_at IS NULL
LEFT JOIN hotlist_entries AS e
    ON e.hotlist_id = h.hotlist_id AND e.changed_xid >= :horizon::text::xid8
    AND (e.plate ~ '[*?]' OR coalesce(e.match_mode, h.match_mode) = 'fuzzy'
         OR e.match_mode IS NOT NULL);

-- name: recorded_reads
-- Which (entry, read) pairs already belong to an alert: a batch handled
-- again after a restart, or a read the search of past hits got first.
SELECT r.entry_id, r.event_id
FROM unnest(:entry_ids::bigint[], :event_ids::uuid[]) AS k(entry_id, event_id)
JOIN alert_reads AS r ON r.entry_id = k.entry_id AND r.event_id = k.event_id;

-- name: open_passes
-- The newest live alert of each (entry, camera): the pass a new read may join.
SELECT a.alert_id, a.entry_id, a.camera_id, a.first_seen, a.last_seen, a.best_confidence
FROM unnest(:entry_ids::bigint[], :camera_ids::text[]) AS k(entry_id, camera_id)
CROSS JOIN LATERAL (
    SELECT alert_id, entry_id, camera_id, first_seen, last_seen, best_confidence
    FROM alerts
    WHERE entry_id = k.entry_id AND camera_id = k.camera_id AND NOT historical
    ORDER BY last_seen DESC
    LIMIT 1
) AS a;

-- name: insert_alerts
-- New alerts; (entry_id, best_event_id) names each for the caller.
INSERT INTO alerts (
    entry_id, hotlist_id, priority, camera_id, site_id, plate_read, cost, edits,
    region_mismatch, historical, first_seen, last_seen, read_count,
    best_event_id, best_captured_at, best_confidence)
SELECT * FROM unnest(
    :entry_ids::bigint[], :hotlist_ids::bigint[], :priorities::smallint[],
    :camera_ids::text[], :site_ids::text[], :plates::text[], :costs::real[],
    :edits::jsonb[], :region_mismatches::boolean[], :historical::boolean[],
    :first_seens::timestamptz[], :last_seens::timestamptz[], :read_counts::integer[],
    :best_event_ids::uuid[], :best_captured_ats::timestamptz[], :best_confidences::float8[])
RETURNING alert_id, entry_id, best_event_id;

-- name: join_alerts
-- Reads joining open passes: counts, the seen span, and the best read.
UPDATE alerts AS a SET
    read_count = a.read_count + u.reads,
    first_seen = least(a.first_seen, u.first_seen),
    last_seen = greatest(a.last_seen, u.last_seen),
    best_event_id = CASE WHEN u.best_confidence > a.best_confidence
        THEN u.best_event_id ELSE a.best_event_id END,
    best_captured_at = CASE WHEN u.best_confidence > a.best_confidence
        THEN u.best_captured_at ELSE a.best_captured_at END,
    plate_read = CASE WHEN u.best_confidence > a.best_confidence
        THEN u.plate ELSE a.plate_read END,
    cost = CASE WHEN u.best_confidence > a.best_confidence THEN u.cost ELSE a.cost END,
    edits = CASE WHEN u.best_confidence > a.best_confidence THEN u.edits ELSE a.edits END,
    best_confidence = greatest(a.best_confidence, u.best_confidence)
FROM unnest(
    :alert_ids::bigint[], :reads::integer[], :first_seens::timestamptz[],
    :last_seens::timestamptz[], :best_event_ids::uuid[], :best_captured_ats::timestamptz[],
    :best_confidences::float8[], :plates::text[], :costs::real[], :edits::jsonb[]
) AS u(alert_id, reads, first_seen, last_seen, best_event_id, best_captured_at,
       best_confidence, plate, cost, edits)
WHERE a.alert_id = u.alert_id;

-- name: insert_alert_reads
INSERT INTO alert_reads (alert_id, entry_id, event_id, captured_at, confidence)
SELECT * FROM unnest(
    :alert_ids::bigint[], :entry_ids::bigint[], :event_ids::uuid[],
    :captured_ats::timestamptz[], :confidences::float8[])
ON CONFLICT DO NOTHING;

-- name: enqueue_alerts
-- One delivery per new live alert to its list's webhook, and one NOTIFY
-- alpr_alerts per alert (delivered at commit, like alpr_stored).
WITH queued AS (
    INSERT INTO webhook_outbox (webhook_id, alert_id, kind, payload)
    SELECT w.webhook_id, a.alert_id, 'alert', alpr_alert_json(a)
    FROM alerts AS a
    JOIN webhooks AS w ON w.hotlist_id = a.hotlist_id AND w.enabled
    WHERE a.alert_id = ANY(:alert_ids::bigint[])
    ORDER BY a.alert_id
    RETURNING delivery_id
)
SELECT (SELECT count(*) FROM queued) AS queued,
    (SELECT count(*) FROM (
        SELECT pg_notify('alpr_alerts', id::text) FROM unnest(:alert_ids::bigint[]) AS id
     ) AS n) AS notified;

-- name: next_backfill
SELECT backfill_id, hotlist_id, entry_ids, since, requested_at
FROM hotlist_backfills
WHERE done_at IS NULL
ORDER BY backfill_id
LIMIT 1;

-- name: backfill_entries
-- The entries of a search of past hits that still stand, with their list's
-- defaults and scope. An entry not yet in force has no past to search.
SELECT e.entry_id, e.hotlist_id, h.priority, h.site_ids, h.camera_ids, e.plate, e.region,
    coalesce(e.match_mode, h.match_mode) AS mode,
    coalesce(e.max_cost, h.max_cost) AS max_cost,
    e.valid_from, e.valid_until, e.added_at
FROM hotlist_entries AS e
JOIN hotlists AS h ON h.hotlist_id = e.hotlist_id AND h.deleted_at IS NULL
WHERE e.entry_id = ANY(:entry_ids::bigint[]) AND e.removed_at IS NULL
  AND e.valid_from <= now();

-- name: plates_seen_since
-- Plates read since a time, a page after a plate: what patterns and fuzzy
-- entries are run over.
SELECT plate_normalized_text FROM plates
WHERE last_seen >= :since AND plate_normalized_text > :after
ORDER BY plate_normalized_text
LIMIT :limit;

-- name: known_plates
-- The given plates that were read since a time (most listed plates never are).
SELECT plate_normalized_text FROM plates
WHERE plate_normalized_text = ANY(:plates::text[]) AND last_seen >= :since;

-- name: reads_of_plates
SELECT event_id, captured_at, camera_id, site_id, plate_normalized_text AS plate,
    plate_region AS region, plate_confidence AS confidence
FROM plate_events
WHERE plate_normalized_text = ANY(:plates::text[]) AND captured_at >= :since
ORDER BY captured_at, event_id;

-- name: enqueue_digest
-- One delivery for all the past hits of a search, to the list's webhook.
INSERT INTO webhook_outbox (webhook_id, kind, payload)
SELECT w.webhook_id, 'digest', jsonb_build_object(
    'kind', 'digest',
    'backfill_id', :backfill_id::bigint,
    'hotlist', jsonb_build_object('id', h.hotlist_id, 'name', h.name),
    'since', :since::timestamptz,
    'alert_count', cardinality(:alert_ids::bigint[]),
    'alerts', (SELECT coalesce(jsonb_agg(alpr_alert_json(a) ORDER BY a.alert_id), '[]'::jsonb)
               FROM alerts AS a WHERE a.alert_id = ANY(:alert_ids::bigint[])))
FROM webhooks AS w
JOIN hotlists AS h ON h.hotlist_id = w.hotlist_id
WHERE w.hotlist_id = :hotlist_id AND w.enabled AND cardinality(:alert_ids::bigint[]) > 0;

-- name: historical_alerts
-- Every alert a search of past hits raised for its entries (only a search
-- raises historical alerts, and an entry is searched for once).
SELECT alert_id FROM alerts
WHERE entry_id = ANY(:entry_ids::bigint[]) AND historical
ORDER BY alert_id;

-- name: finish_backfill
UPDATE hotlist_backfills SET done_at = now(), hits = :hits
WHERE backfill_id = :backfill_id AND done_at IS NULL
RETURNING backfill_id;

-- name: lock_records
-- Live rounds and backfill transactions check and write alert reads one at
-- a time (held until the transaction ends).
SELECT pg_advisory_xact_lock(:lock_key);

-- name: pending_deliveries
-- The head of each enabled webhook's queue, in delivery order: a webhook is
-- delivered strictly in order, so only its oldest deliveries are looked at.
SELECT w.webhook_id, w.url, w.secret, o.delivery_id, o.alert_id, o.kind, o.payload::text,
    o.attempts, o.next_attempt_at, o.next_attempt_at <= now() AS due,
    extract(epoch FROM o.next_attempt_at - now()) AS wait_s
FROM webhooks AS w
CROSS JOIN LATERAL (
    SELECT delivery_id, alert_id, kind, payload, attempts, next_attempt_at
    FROM webhook_outbox
    WHERE webhook_id = w.webhook_id AND delivered_at IS NULL
    ORDER BY delivery_id
    LIMIT :limit
) AS o
WHERE w.enabled
ORDER BY w.webhook_id, o.delivery_id;

-- name: delivered
-- The attempt, the delivery marked, and the audit row of plate data sent
-- out of the system (who: the alerts process; what: the webhook, the
-- delivery and its alerts; never the URL or the secret), in one statement.
WITH attempt AS (
    INSERT INTO webhook_attempts (delivery_id, attempt, status_code, latency_ms)
    VALUES (:delivery_id, :attempt, :status_code, :latency_ms)
), marked AS (
    UPDATE webhook_outbox SET delivered_at = now(), attempts = :attempt
    WHERE delivery_id = :delivery_id
    RETURNING delivery_id, webhook_id, kind, alert_id, payload
), audited AS (
    INSERT INTO audit_log (key_id, client, operation, variables, result_count, purpose)
    SELECT NULL, 'system:alerts', 'webhook.deliver',
        jsonb_build_object(
            'webhook_id', m.webhook_id, 'delivery_id', m.delivery_id, 'kind', m.kind,
            'attempt', :attempt::integer, 'status_code', :status_code::integer,
            'alert_ids', CASE WHEN m.alert_id IS NOT NULL THEN jsonb_build_array(m.alert_id)
                ELSE coalesce((SELECT jsonb_agg(a -> 'alert_id') FROM jsonb_array_elements(
                    m.payload -> 'alerts') AS a), '[]'::jsonb) END),
        CASE WHEN m.alert_id IS NOT NULL THEN 1
            ELSE jsonb_array_length(coalesce(m.payload -> 'alerts', '[]'::jsonb)) END,
        'webhook delivery'
    FROM marked AS m
)
UPDATE webhooks SET failing_since = NULL, last_error = NULL
WHERE webhook_id = :webhook_id AND failing_since IS NOT NULL;

-- name: failed
-- The next attempt waits base * 2^(attempts - 1) seconds, at most the cap.
WITH attempt AS (
    INSERT INTO webhook_attempts (delivery_id, attempt, status_code, latency_ms, error)
    VALUES (:delivery_id, :attempt, :status_code, :latency_ms, :error)
), marked AS (
    UPDATE webhook_outbox SET attempts = :attempt,
        next_attempt_at = now() + make_interval(
            secs => least(:cap_s::float8, :base_s::float8 * 2.0::float8 ^ (:attempt - 1)))
    WHERE delivery_id = :delivery_id
)
UPDATE webhooks SET failing_since = coalesce(failing_since, now()), last_error = :error
WHERE webhook_id = :webhook_id;

-- name: backlog
SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL;
