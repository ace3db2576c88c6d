-- The time partitions of plate_events on plain PostgreSQL, for retention:
-- the daily range partitions that alpr_ensure_partitions creates, with
-- their bounds read from the name (plate_events_pYYYYMMDD, a UTC day).
CREATE FUNCTION alpr_time_partitions()
RETURNS TABLE (name TEXT, range_start TIMESTAMPTZ, range_end TIMESTAMPTZ)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text,
           to_date(substring(c.relname FROM 'plate_events_p(\d{8})$'), 'YYYYMMDD')::timestamp
               AT TIME ZONE 'UTC',
           (to_date(substring(c.relname FROM 'plate_events_p(\d{8})$'), 'YYYYMMDD') + 1)::timestamp
               AT TIME ZONE 'UTC'
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'plate_events'::regclass
      AND c.relname ~ '^plate_events_p\d{8}$'
    ORDER BY 2
$$;

-- Drops one whole partition. The name is checked against the partitions
-- of plate_events, so this cannot drop anything else.
CREATE FUNCTION alpr_drop_time_partition(p_name TEXT, p_start TIMESTAMPTZ, p_end TIMESTAMPTZ)
RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM alpr_time_partitions() p
                   WHERE p.name = p_name AND p.range_start = p_start AND p.range_end = p_end) THEN
        RAISE EXCEPTION 'not a partition of plate_events: % [%, %)', p_name, p_start, p_end;
    END IF;
    EXECUTE format('DROP TABLE %I', p_name);
END;
$$;
