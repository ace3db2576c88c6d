-- The time partitions of plate_events on TimescaleDB, for retention: the
-- hypertable's chunks, dropped with drop_chunks so the extension's catalog
-- (and a compressed chunk's companion table) stays consistent.
CREATE FUNCTION alpr_time_partitions()
RETURNS TABLE (name TEXT, range_start TIMESTAMPTZ, range_end TIMESTAMPTZ)
LANGUAGE sql STABLE AS $$
    SELECT format('%I.%I', c.chunk_schema, c.chunk_name), c.range_start, c.range_end
    FROM timescaledb_information.chunks c
    WHERE c.hypertable_schema = current_schema() AND c.hypertable_name = 'plate_events'
    ORDER BY c.range_start
$$;

-- Drops the one chunk covering exactly [p_start, p_end): drop_chunks with
-- both bounds takes only chunks wholly inside them.
CREATE FUNCTION alpr_drop_time_partition(p_name TEXT, p_start TIMESTAMPTZ, p_end TIMESTAMPTZ)
RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    dropped TEXT[];
BEGIN
    SELECT array_agg(d) INTO dropped
    FROM drop_chunks('plate_events', older_than => p_end, newer_than => p_start) AS d;
    IF dropped IS NULL OR cardinality(dropped) <> 1 THEN
        RAISE EXCEPTION 'expected to drop chunk % alone, dropped %', p_name, dropped;
    END IF;
END;
$$;
