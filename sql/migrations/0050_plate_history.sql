-- A plate's history read day by day: only the partitions (chunks) of the
-- days the plate was seen, however many days the table holds.
--
-- plate_days lists the UTC days each plate was read on; by plate, it needs
-- an index that leads with the plate.
CREATE INDEX plate_days_plate ON plate_days (plate_normalized_text, day);

-- The reads of one plate matching the events filters, in keyset order
-- (captured_at, event_id) past a cursor, at most p_limit of them (NULL: all),
-- in the order they are returned (callers keep it WITH ORDINALITY).
--
-- It walks the plate's days from plate_days in the page's order and reads
-- each day with its bounds as values: each statement is planned for its own
-- day (force_custom_plan), so the planner keeps that day's one partition or
-- chunk and never looks at another. A generic plan would hold every chunk
-- and test each one's bounds on every execution (TimescaleDB's exclusion at
-- run time), which costs more than the page as the chunks grow. The walk
-- stops once the page is full.
--
-- NULL filters mean "any"; p_direction and p_vehicle_type come in lower
-- case; p_backward walks oldest first (towards newer reads from the cursor).
-- The filters are the gateway's events filters (gateway.sql events_filter).
CREATE FUNCTION alpr_plate_reads(
    p_plate TEXT,
    p_since TIMESTAMPTZ,
    p_until TIMESTAMPTZ,
    p_cursor_at TIMESTAMPTZ,
    p_cursor_id UUID,
    p_backward BOOLEAN,
    p_limit BIGINT,
    p_camera_id TEXT,
    p_site_id TEXT,
    p_direction TEXT,
    p_vehicle_make TEXT,
    p_vehicle_color TEXT,
    p_vehicle_type TEXT,
    p_min_confidence FLOAT8
) RETURNS SETOF plate_events
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    first_day DATE := (GREATEST(p_since, CASE WHEN p_backward THEN p_cursor_at END)
                       AT TIME ZONE 'UTC')::date;
    last_day DATE := (LEAST(p_until, CASE WHEN NOT p_backward THEN p_cursor_at END)
                      AT TIME ZONE 'UTC')::date;
    left_over BIGINT := p_limit;
    day_start TIMESTAMPTZ;
    day_end TIMESTAMPTZ;
    found_rows BIGINT;
    read_day DATE;
BEGIN
    FOR read_day IN
        SELECT d.day FROM plate_days AS d
        WHERE d.plate_normalized_text = p_plate
          AND d.day >= COALESCE(first_day, '-infinity')
          AND d.day <= COALESCE(last_day, 'infinity')
        ORDER BY CASE WHEN p_backward THEN d.day END, d.day DESC
    LOOP
        day_start := read_day::timestamp AT TIME ZONE 'UTC';
        day_end := (read_day + 1)::timestamp AT TIME ZONE 'UTC';
        IF p_backward THEN
            RETURN QUERY
            SELECT * FROM plate_events AS e
            WHERE e.plate_normalized_text = p_plate
              AND e.captured_at >= day_start AND e.captured_at < day_end
              AND (p_cursor_at IS NULL OR (e.captured_at, e.event_id) > (p_cursor_at, p_cursor_id))
              AND (p_camera_id IS NULL OR e.camera_id = p_camera_id)
              AND (p_site_id IS NULL OR e.site_id = p_site_id)
              AND e.captured_at >= COALESCE(p_since, '-infinity')
              AND e.captured_at < COALESCE(p_until, 'infinity')
              AND (p_direction IS NULL OR lower(e.direction) = p_direction)
              AND (p_vehicle_make IS NULL OR lower(e.vehicle_make) = lower(p_vehicle_make))
              AND (p_vehicle_color IS NULL OR lower(e.vehicle_color) = lower(p_vehicle_color))
              AND (p_vehicle_type IS NULL OR lower(e.vehicle_type) = p_vehicle_type)
              AND e.plate_confidence >= COALESCE(p_min_confidence, 0)
            ORDER BY e.captured_at, e.event_id
            LIMIT left_over;
        ELSE
            RETURN QUERY
            SELECT * FROM plate_events AS e
            WHERE e.plate_normalized_text = p_plate
              AND e.captured_at >= day_start AND e.captured_at < day_end
              AND (p_cursor_at IS NULL OR (e.captured_at, e.event_id) < (p_cursor_at, p_cursor_id))
              AND (p_camera_id IS NULL OR e.camera_id = p_camera_id)
              AND (p_site_id IS NULL OR e.site_id = p_site_id)
              AND e.captured_at >= COALESCE(p_since, '-infinity')
              AND e.captured_at < COALESCE(p_until, 'infinity')
              AND (p_direction IS NULL OR lower(e.direction) = p_direction)
              AND (p_vehicle_make IS NULL OR lower(e.vehicle_make) = lower(p_vehicle_make))
              AND (p_vehicle_color IS NULL OR lower(e.vehicle_color) = lower(p_vehicle_color))
              AND (p_vehicle_type IS NULL OR lower(e.vehicle_type) = p_vehicle_type)
              AND e.plate_confidence >= COALESCE(p_min_confidence, 0)
            ORDER BY e.captured_at DESC, e.event_id DESC
            LIMIT left_over;
        END IF;
        GET DIAGNOSTICS found_rows = ROW_COUNT;
        left_over := left_over - found_rows;
        EXIT WHEN left_over <= 0;
    END LOOP;
END;
$$;

-- The read stored with an event id (the one event_ids claims it for): its
-- time from event_ids, then a primary-key probe planned for that time, so
-- in the one partition (chunk) that holds it.
CREATE FUNCTION alpr_event_read(p_event_id UUID) RETURNS SETOF plate_events
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    read_at TIMESTAMPTZ;
BEGIN
    SELECT i.captured_at INTO read_at FROM event_ids AS i WHERE i.event_id = p_event_id;
    IF FOUND THEN
        RETURN QUERY
        SELECT * FROM plate_events AS e WHERE e.event_id = p_event_id AND e.captured_at = read_at;
    END IF;
END;
$$;
