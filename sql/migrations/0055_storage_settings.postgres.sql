-- The layout settings of plate_events (core/settings.py StorageSettings),
-- applied by `alpr migrate` on every run. Plain PostgreSQL has no setting to
-- apply: partitions are one UTC day each (alpr_ensure_partitions, retention
-- and the plate-day tables count in UTC days) and nothing is compressed.
-- The function exists so that both engines are driven alike.
CREATE FUNCTION alpr_apply_storage(p_chunk_interval INTERVAL, p_compress_after INTERVAL)
RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'daily partitions (ALPR_CHUNK_INTERVAL applies to TimescaleDB only), '
        || 'not compressed (PostgreSQL has no columnstore)'
$$;
