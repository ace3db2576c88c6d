-- alpr export (gateway/export.py).

-- name: export_events
-- Every read matching the events filters, oldest first, streamed through a
-- server-side cursor. A template: {filter} is the gateway's events_filter
-- (gateway.sql) with every key optional, so an export selects exactly what
-- the events pages would. The columns are plate_events' import layout.
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
       plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model,
       vehicle_color, plate_image_url, vehicle_image_url, frame_image_url, latency_ms,
       quality_score, frame_number, site_id, host_id, roi, direction
FROM plate_events
WHERE {filter}
ORDER BY captured_at, event_id;

-- name: export_plate_events
-- The same for one plate: alpr_reads walks the plate's days oldest first,
-- each day read from its one partition (chunk), every read (no limit).
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
       plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model,
       vehicle_color, plate_image_url, vehicle_image_url, frame_image_url, latency_ms,
       quality_score, frame_number, site_id, host_id, roi, direction
FROM alpr_reads(
    :plate, :camera_id, :site_id, :since, :until, NULL, NULL, TRUE, NULL,
    :direction, :vehicle_make, :vehicle_color, :vehicle_type, :min_confidence)
    WITH ORDINALITY AS e
ORDER BY ordinality;

-- name: audit_export
-- The audit record of an export: every read of plate data leaves one.
INSERT INTO audit_log (key_id, client, operation, variables, result_count, purpose)
VALUES (NULL, 'cli', 'export', :variables::jsonb, :result_count, :purpose);
