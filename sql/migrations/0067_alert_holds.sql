-- Reads kept from retention one by one, whatever their age: those a legal
-- hold names, and those of an alert still open (new, acknowledged) or
-- closed as confirmed (the evidence of a hit acted upon: it stays while the
-- alert does, until the alert's own retention age). Retention reads this
-- view wherever it honours a hold on a read; holds on a plate it reads from
-- legal_holds.
CREATE VIEW read_holds AS
SELECT event_id FROM legal_holds WHERE released_at IS NULL AND event_id IS NOT NULL
UNION ALL
SELECT r.event_id
FROM alert_reads AS r
JOIN alerts AS a ON a.alert_id = r.alert_id
WHERE a.status <> 'closed' OR a.disposition = 'confirmed';

-- Closed alerts past ALPR_ALERT_RETENTION_DAYS are deleted (with their
-- alert_reads) and recorded in the retention ledger like reads.
ALTER TABLE retention_deletions DROP CONSTRAINT retention_deletions_method_check;
ALTER TABLE retention_deletions ADD CONSTRAINT retention_deletions_method_check
    CHECK (method IN ('drop_partition', 'delete_rows', 'purge_plates', 'delete_alerts'));
CREATE INDEX alerts_closed ON alerts (closed_at) WHERE status = 'closed';
