-- Alerts: read, triaged and counted by core/alerts.py (for `alpr alerts`,
-- GraphQL and REST). The matcher (alerts/) raises them.

-- fragment: alert_columns
a.alert_id, a.entry_id, a.hotlist_id, h.name AS hotlist, e.reason, a.priority, a.camera_id,
a.site_id, a.plate_read, e.plate AS entry_plate, e.region AS entry_region, a.cost,
a.edits::text AS edits, a.region_mismatch, a.historical, a.first_seen, a.last_seen,
a.read_count, a.best_event_id, a.best_captured_at, a.best_confidence, a.raised_at, a.status,
a.acknowledged_at, a.acknowledged_by, a.closed_at, a.closed_by, a.disposition,
a.disposition_note, a.checklist::text AS checklist

-- name: alerts_page
-- Newest first, after the cursor's alert id; every filter argument NULL
-- narrows nothing.
SELECT {alert_columns}
FROM alerts a
JOIN hotlists h USING (hotlist_id)
JOIN hotlist_entries e USING (entry_id)
WHERE a.alert_id < coalesce(:after_id::bigint, 9223372036854775807)
  AND (:status::text IS NULL OR a.status = :status)
  AND (:hotlist::text IS NULL OR h.name = :hotlist)
  AND (:priority_at_least::int IS NULL OR a.priority >= :priority_at_least)
  AND (:site_id::text IS NULL OR a.site_id = :site_id)
  AND (:camera_id::text IS NULL OR a.camera_id = :camera_id)
  AND (:since::timestamptz IS NULL OR a.last_seen >= :since)
  AND (:until::timestamptz IS NULL OR a.first_seen < :until)
  AND (:historical::boolean IS NULL OR a.historical = :historical)
ORDER BY a.alert_id DESC
LIMIT :limit;

-- name: alert_by_id
SELECT {alert_columns}
FROM alerts a
JOIN hotlists h USING (hotlist_id)
JOIN hotlist_entries e USING (entry_id)
WHERE a.alert_id = :alert_id;

-- name: alert_reads
-- An alert's reads in the order seen; a read retention has taken since has
-- only what alert_reads kept (its id, time and confidence). The stored reads
-- by their keys, day by day (alpr_reads_by_keys).
WITH r AS (SELECT * FROM alert_reads WHERE alert_id = :alert_id)
SELECT r.event_id AS alert_event_id, r.captured_at AS alert_captured_at,
       r.confidence AS alert_confidence, p.*
FROM r
LEFT JOIN alpr_reads_by_keys(
    (SELECT array_agg(event_id) FROM r), (SELECT array_agg(captured_at) FROM r)) AS p
    ON p.event_id = r.event_id AND p.captured_at = r.captured_at
ORDER BY r.captured_at, r.event_id;

-- name: lock_alert
SELECT alert_id, status FROM alerts WHERE alert_id = :alert_id FOR UPDATE;

-- name: acknowledge_alert
UPDATE alerts SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by = :by
WHERE alert_id = :alert_id AND status = 'new';

-- name: close_alert
-- A new alert may be closed directly; its acknowledgement stays empty.
UPDATE alerts SET status = 'closed', closed_at = now(), closed_by = :by,
    disposition = :disposition, disposition_note = :note, checklist = :checklist::jsonb
WHERE alert_id = :alert_id AND status <> 'closed';

-- name: report
-- Hit counts over [since, until) by list, reason, state and disposition:
-- no plate, camera or read in it, for a public report.
SELECT h.name AS hotlist, e.reason, a.status, a.disposition, a.historical,
       count(*) AS alerts, sum(a.read_count)::bigint AS reads
FROM alerts a
JOIN hotlists h USING (hotlist_id)
JOIN hotlist_entries e USING (entry_id)
WHERE a.first_seen >= :since AND a.first_seen < :until
GROUP BY h.name, e.reason, a.status, a.disposition, a.historical
ORDER BY h.name, e.reason, a.status, a.disposition NULLS FIRST, a.historical;

-- name: open_alerts
-- For `alpr status`: alerts not yet closed, and the newest raised.
SELECT count(*) FILTER (WHERE status = 'new') AS new,
       count(*) FILTER (WHERE status = 'acknowledged') AS acknowledged,
       (SELECT max(raised_at) FROM alerts) AS last_raised
FROM alerts WHERE status <> 'closed';

-- name: latest_alert
-- Where the gateway's live feed starts: alerts raised from now on.
SELECT coalesce(max(alert_id), 0) FROM alerts;

-- name: raised_after
-- Live alerts after the feed's position, in id order, each row carrying the
-- newest alert id of the same snapshot (`newest`; one row of NULLs beside it
-- when none is live). Historical alerts are skipped: they go out as digests.
WITH newest AS (SELECT coalesce(max(alert_id), 0) AS newest FROM alerts)
SELECT n.newest, x.*
FROM newest AS n
LEFT JOIN LATERAL (
    SELECT {alert_columns}
    FROM alerts a
    JOIN hotlists h USING (hotlist_id)
    JOIN hotlist_entries e USING (entry_id)
    WHERE a.alert_id > :after_id AND a.alert_id <= n.newest AND NOT a.historical
    ORDER BY a.alert_id
    LIMIT :limit
) AS x ON true
ORDER BY x.alert_id;
