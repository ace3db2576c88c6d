-- An alert as a webhook receives it: one definition for the message of a
-- single alert and for each alert of a digest of past hits. It carries what
-- a control room needs to verify the hit (the entry's plate, region and
-- reason, the read's plate, the characters that differed, a region
-- mismatch) and no image: receivers fetch those with their own keys.
CREATE FUNCTION alpr_alert_json(alert alerts) RETURNS JSONB
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (
    SELECT jsonb_build_object(
        'alert_id', alert.alert_id,
        'raised_at', alert.raised_at,
        'historical', alert.historical,
        'priority', alert.priority,
        'hotlist', jsonb_build_object('id', h.hotlist_id, 'name', h.name),
        'entry', jsonb_build_object(
            'id', e.entry_id, 'plate', e.plate, 'region', e.region, 'reason', e.reason,
            'case_number', e.case_number, 'agency', e.agency,
            'record_number', e.record_number),
        'plate_read', alert.plate_read,
        'cost', alert.cost,
        'edits', alert.edits,
        'region_mismatch', alert.region_mismatch,
        'camera_id', alert.camera_id,
        'site_id', alert.site_id,
        'first_seen', alert.first_seen,
        'last_seen', alert.last_seen,
        'read_count', alert.read_count,
        'best_read', jsonb_build_object(
            'event_id', alert.best_event_id, 'captured_at', alert.best_captured_at,
            'confidence', alert.best_confidence))
    FROM hotlist_entries AS e
    JOIN hotlists AS h ON h.hotlist_id = e.hotlist_id
    WHERE e.entry_id = alert.entry_id
);
