-- One page of reads (gateway.sql events_page), as each engine reads it
-- fastest; this engine's variant always walks the days (alpr_reads): a
-- statement over plate_events planned once (generic) holds every chunk and
-- tests each chunk's bounds on every execution, which costs more than the
-- page as the chunks grow.
--
-- alpr_reads' arguments, and p_offset: the first p_offset reads of the
-- walk are skipped (offset paging). Rows in the walk's order; a SQL function
-- of one SELECT, so the planner inlines it into the calling statement.
CREATE FUNCTION alpr_events_page(
    p_plate TEXT,
    p_camera_id TEXT,
    p_site_id TEXT,
    p_since TIMESTAMPTZ,
    p_until TIMESTAMPTZ,
    p_cursor_at TIMESTAMPTZ,
    p_cursor_id UUID,
    p_backward BOOLEAN,
    p_limit BIGINT,
    p_offset BIGINT,
    p_direction TEXT,
    p_vehicle_make TEXT,
    p_vehicle_color TEXT,
    p_vehicle_type TEXT,
    p_min_confidence FLOAT8
) RETURNS SETOF plate_events
LANGUAGE sql STABLE
AS $$
SELECT e.event_id, e.captured_at, e.camera_id, e.track_id, e.plate_text, e.plate_normalized_text,
    e.plate_confidence, e.plate_region, e.vehicle_type, e.vehicle_make, e.vehicle_model,
    e.vehicle_color, e.plate_image_url, e.vehicle_image_url, e.frame_image_url, e.latency_ms,
    e.quality_score, e.frame_number, e.site_id, e.host_id, e.roi, e.direction, e.created_at
FROM alpr_reads(
    p_plate, p_camera_id, p_site_id, p_since, p_until, p_cursor_at, p_cursor_id, p_backward,
    p_limit + p_offset, p_direction, p_vehicle_make, p_vehicle_color, p_vehicle_type,
    p_min_confidence) WITH ORDINALITY AS e
WHERE e.ordinality > p_offset
ORDER BY e.ordinality
$$;
