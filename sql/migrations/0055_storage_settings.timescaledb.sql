-- The layout settings of plate_events (core/settings.py StorageSettings),
-- applied by `alpr migrate` on every run through alpr_apply_storage: the
-- time a new chunk covers and the age past which the compression policy
-- compresses a chunk (NULL: no policy). Chunks that exist keep their range;
-- changing the age replaces the policy job. Returns what now holds, for the
-- operator.
CREATE FUNCTION alpr_apply_storage(p_chunk_interval INTERVAL, p_compress_after INTERVAL)
RETURNS TEXT
LANGUAGE plpgsql AS $$
DECLARE
    current_after INTERVAL;
BEGIN
    PERFORM set_chunk_time_interval('plate_events', p_chunk_interval);
    SELECT (j.config ->> 'compress_after')::interval INTO current_after
    FROM timescaledb_information.jobs AS j
    WHERE j.proc_name = 'policy_compression'
      AND j.hypertable_schema = current_schema() AND j.hypertable_name = 'plate_events';
    IF current_after IS DISTINCT FROM p_compress_after THEN
        PERFORM remove_compression_policy('plate_events', if_exists => TRUE);
        IF p_compress_after IS NOT NULL THEN
            PERFORM add_compression_policy('plate_events', p_compress_after);
        END IF;
    END IF;
    RETURN format('chunks of %s, %s', p_chunk_interval,
        COALESCE('compressed after ' || p_compress_after::text, 'never compressed'));
END;
$$;
