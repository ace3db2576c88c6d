-- Stored reads by their keys (event_id, captured_at), in no set order: a
-- stored batch's for the live feed (gateway.sql events_by_keys) and the alert
-- matcher (matcher.sql reads_with_exact_hits), the stored twins of a batch
-- sent again (ingest.sql conflicting_repeats), an alert's (alerts.sql
-- alert_reads).
--
-- A join of the keys with plate_events cannot prune at plan time (the
-- times come from the keys): plain PostgreSQL plans every partition and
-- prunes at run time, TimescaleDB does not prune at all: every key probed
-- every chunk's index, 365 probes a key in a year of daily chunks. So the
-- keys are read day by day, each day's statement planned for its own bounds
-- (force_custom_plan), which keeps that day's one partition or chunk, as
-- alpr_reads does; a live batch is one day, rarely two. Each day probes its
-- own keys only.
CREATE FUNCTION alpr_reads_by_keys(p_event_ids UUID[], p_captured_ats TIMESTAMPTZ[])
RETURNS SETOF plate_events
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    read_day DATE;
    day_start TIMESTAMPTZ;
    day_end TIMESTAMPTZ;
BEGIN
    FOR read_day IN
        SELECT DISTINCT (t AT TIME ZONE 'UTC')::date FROM unnest(p_captured_ats) AS t ORDER BY 1
    LOOP
        day_start := read_day::timestamp AT TIME ZONE 'UTC';
        day_end := (read_day + 1)::timestamp AT TIME ZONE 'UTC';
        RETURN QUERY
        SELECT e.* FROM unnest(p_event_ids, p_captured_ats) AS k(event_id, captured_at)
        JOIN plate_events AS e ON e.event_id = k.event_id AND e.captured_at = k.captured_at
        WHERE k.captured_at >= day_start AND k.captured_at < day_end
          AND e.captured_at >= day_start AND e.captured_at < day_end;
    END LOOP;
END;
$$;
