-- What the operator sees of plate_events' storage (`alpr status`, the
-- ingestor's metrics), one row; the same columns as on TimescaleDB (see
-- 0056_storage_facts.timescaledb.sql). Plain PostgreSQL has daily partitions
-- and no columnstore: every partition counts as uncompressed, and the
-- compression columns are zero or NULL with compression_available false.
-- A partition's reads are counted from reads_hourly over its day.
CREATE FUNCTION alpr_storage_facts()
RETURNS TABLE (
    partitions BIGINT, compressed_partitions BIGINT, partial_partitions BIGINT,
    overdue_partitions BIGINT, compressed_bytes BIGINT, compressed_reads BIGINT,
    uncompressed_bytes BIGINT, uncompressed_reads BIGINT, last_compressed_at TIMESTAMPTZ,
    compression_available BOOLEAN)
LANGUAGE sql STABLE AS $$
    WITH parts AS (
        SELECT p.name, p.range_start, p.range_end FROM alpr_time_partitions() AS p
    )
    SELECT count(*), 0::bigint, 0::bigint, NULL::bigint, 0::bigint, 0::bigint,
        COALESCE(sum(pg_total_relation_size(name::regclass)), 0)::bigint,
        (SELECT COALESCE(sum(h.reads), 0)::bigint FROM parts AS k
         JOIN reads_hourly AS h ON h.bucket >= k.range_start AND h.bucket < k.range_end),
        NULL::timestamptz,
        FALSE
    FROM parts
$$;
