-- One page of reads (gateway.sql events_page), as each engine reads it
-- fastest. On plain PostgreSQL a camera's page over at most a day, newest
-- first, is one keyset statement over plate_events: its plan, made once
-- (generic), keeps only the partitions the window's bounds select when it
-- starts (PostgreSQL's run-time pruning of a partitioned table costs little
-- per partition), and it skips the day walk's per-day planning. Every other
-- page walks the days (alpr_reads), which reads only the partitions that
-- can hold the page however wide the window.
--
-- alpr_reads' arguments, and p_offset: the first p_offset reads are skipped
-- (offset paging). Rows in keyset order. A SQL function of one SELECT, so
-- the planner inlines it into the calling statement; the choice depends on
-- the parameters alone, so the branch not taken is never started.
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
(SELECT e.event_id, e.captured_at, e.camera_id, e.track_id, e.plate_text, e.plate_normalized_text,
    e.plate_confidence, e.plate_region, e.vehicle_type, e.vehicle_make, e.vehicle_model,
    e.vehicle_color, e.plate_image_url, e.vehicle_image_url, e.frame_image_url, e.latency_ms,
    e.quality_score, e.frame_number, e.site_id, e.host_id, e.roi, e.direction, e.created_at
FROM alpr_reads(
    p_plate, p_camera_id, p_site_id, p_since, p_until, p_cursor_at, p_cursor_id, p_backward,
    p_limit + p_offset, p_direction, p_vehicle_make, p_vehicle_color, p_vehicle_type,
    p_min_confidence) WITH ORDINALITY AS e
WHERE NOT (p_camera_id IS NOT NULL AND NOT p_backward AND p_since IS NOT NULL
           AND p_until IS NOT NULL AND p_until <= p_since + INTERVAL '1 day')
  AND e.ordinality > p_offset
ORDER BY e.ordinality)
UNION ALL
(SELECT e.event_id, e.captured_at, e.camera_id, e.track_id, e.plate_text, e.plate_normalized_text,
    e.plate_confidence, e.plate_region, e.vehicle_type, e.vehicle_make, e.vehicle_model,
    e.vehicle_color, e.plate_image_url, e.vehicle_image_url, e.frame_image_url, e.latency_ms,
    e.quality_score, e.frame_number, e.site_id, e.host_id, e.roi, e.direction, e.created_at
FROM plate_events AS e
WHERE (p_camera_id IS NOT NULL AND NOT p_backward AND p_since IS NOT NULL
       AND p_until IS NOT NULL AND p_until <= p_since + INTERVAL '1 day')
  AND e.camera_id = p_camera_id
  AND e.captured_at >= p_since
  AND e.captured_at < p_until
  AND (p_cursor_at IS NULL OR (e.captured_at, e.event_id) < (p_cursor_at, p_cursor_id))
  AND (p_plate IS NULL OR e.plate_normalized_text = p_plate)
  AND (p_site_id IS NULL OR e.site_id = p_site_id)
  AND (p_direction IS NULL OR lower(e.direction) = p_direction)
  AND (p_vehicle_make IS NULL OR lower(e.vehicle_make) = lower(p_vehicle_make))
  AND (p_vehicle_color IS NULL OR lower(e.vehicle_color) = lower(p_vehicle_color))
  AND (p_vehicle_type IS NULL OR lower(e.vehicle_type) = p_vehicle_type)
  AND e.plate_confidence >= COALESCE(p_min_confidence, 0)
ORDER BY e.captured_at DESC, e.event_id DESC
LIMIT p_limit OFFSET p_offset)
$$;
