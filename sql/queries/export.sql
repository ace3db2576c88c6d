-- alpr export (gateway/export.py): reads matching the events filters, oldest
-- first, streamed through a server-side cursor. NULL parameters mean "any".
-- The plate is matched normalized ($1), so ABC-123 finds ABC123.

-- name: export_events
SELECT event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
       plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model,
       vehicle_color, plate_image_url, vehicle_image_url, frame_image_url, latency_ms,
       quality_score, frame_number, site_id, host_id, roi, direction
FROM plate_events
WHERE ($1::text IS NULL OR plate_normalized_text = $1)
  AND ($2::text IS NULL OR camera_id = $2)
  AND ($3::text IS NULL OR site_id = $3)
  AND ($4::timestamptz IS NULL OR captured_at >= $4)
  AND ($5::timestamptz IS NULL OR captured_at < $5)
  AND ($6::text IS NULL OR direction = $6)
  AND ($7::text IS NULL OR vehicle_make = $7)
  AND ($8::text IS NULL OR vehicle_color = $8)
  AND ($9::text IS NULL OR vehicle_type = $9)
  AND ($10::float8 IS NULL OR plate_confidence >= $10)
ORDER BY captured_at, event_id;

-- name: audit_export
-- The audit record of an export: every read of plate data leaves one.
INSERT INTO audit_log (key_id, client, operation, variables, result_count, purpose)
VALUES (NULL, 'cli', 'export', $1::jsonb, $2, $3);
