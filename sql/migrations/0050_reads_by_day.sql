-- Pages of reads read day by day: only the partitions (chunks) of the days
-- that can hold them (a plate's own days), however many days the table holds.
--
-- plate_days lists the UTC days each plate was read on; by plate, it needs
-- an index that leads with the plate.
CREATE INDEX plate_days_plate ON plate_days (plate_normalized_text, day);

-- The reads matching the gateway's events filters (gateway.sql
-- events_filter) in keyset order (captured_at, event_id) past a cursor, at
-- most p_limit of them (NULL: all), in the order they are returned (callers
-- keep it WITH ORDINALITY).
--
-- It walks the days that can hold such reads in the page's order and reads
-- each day with its bounds as values: each statement is planned for its own
-- day (force_custom_plan), so the planner keeps that day's one partition or
-- chunk and never looks at another. A generic plan holds every chunk and
-- tests each one's bounds on every execution (TimescaleDB's exclusion at run
-- time), which costs more than the page as the chunks grow. The walk stops
-- once the page is full. The days: a plate's from plate_days; a camera's
-- from camera_daily; otherwise every day with reads (camera_daily), a site's
-- included, since camera_daily keeps one site a camera-day and a camera may
-- move during a day.
--
-- NULL filters mean "any"; p_direction and p_vehicle_type come in lower
-- case; p_backward walks oldest first (towards newer reads from the cursor).
CREATE FUNCTION alpr_reads(
    p_plate TEXT,
    p_camera_id TEXT,
    p_site_id TEXT,
    p_since TIMESTAMPTZ,
    p_until TIMESTAMPTZ,
    p_cursor_at TIMESTAMPTZ,
    p_cursor_id UUID,
    p_backward BOOLEAN,
    p_limit BIGINT,
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
    first_day DATE := COALESCE((GREATEST(p_since, CASE WHEN p_backward THEN p_cursor_at END)
                                AT TIME ZONE 'UTC')::date, '-infinity');
    last_day DATE := COALESCE((LEAST(p_until, CASE WHEN NOT p_backward THEN p_cursor_at END)
                               AT TIME ZONE 'UTC')::date, 'infinity');
    days REFCURSOR;
    read_day DATE;
    day_start TIMESTAMPTZ;
    day_end TIMESTAMPTZ;
    left_over BIGINT := p_limit;
    found_rows BIGINT;
BEGIN
    -- Planned for these values: the CASE keys fold to the index order.
    IF p_plate IS NOT NULL THEN
        OPEN days FOR
            SELECT d.day FROM plate_days AS d
            WHERE d.plate_normalized_text = p_plate AND d.day BETWEEN first_day AND last_day
            ORDER BY CASE WHEN p_backward THEN d.day END, d.day DESC;
    ELSIF p_camera_id IS NOT NULL THEN
        OPEN days FOR
            SELECT d.day FROM camera_daily AS d
            WHERE d.camera_id = p_camera_id AND d.day BETWEEN first_day AND last_day
            ORDER BY CASE WHEN p_backward THEN d.day END, d.day DESC;
    ELSE
        OPEN days FOR
            SELECT d.day FROM camera_daily AS d
            WHERE d.day BETWEEN first_day AND last_day
            GROUP BY d.day
            ORDER BY CASE WHEN p_backward THEN d.day END, d.day DESC;
    END IF;
    LOOP
        FETCH days INTO read_day;
        EXIT WHEN NOT FOUND;
        day_start := read_day::timestamp AT TIME ZONE 'UTC';
        day_end := (read_day + 1)::timestamp AT TIME ZONE 'UTC';
        IF p_backward THEN
            RETURN QUERY
            SELECT * FROM plate_events AS e
            WHERE e.captured_at >= day_start AND e.captured_at < day_end
              AND (p_cursor_at IS NULL OR (e.captured_at, e.event_id) > (p_cursor_at, p_cursor_id))
              AND (p_plate IS NULL OR e.plate_normalized_text = p_plate)
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
            WHERE e.captured_at >= day_start AND e.captured_at < day_end
              AND (p_cursor_at IS NULL OR (e.captured_at, e.event_id) < (p_cursor_at, p_cursor_id))
              AND (p_plate IS NULL OR e.plate_normalized_text = p_plate)
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
    CLOSE days;
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
