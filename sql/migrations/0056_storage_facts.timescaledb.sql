-- What the operator sees of plate_events' storage (`alpr status`, the
-- ingestor's metrics), one row, from the chunks themselves:
--   partitions              chunks of plate_events
--   compressed_partitions   of them, in the columnstore
--   partial_partitions      compressed ones holding late reads not yet merged
--                           into the columnstore (the policy does that)
--   overdue_partitions      chunks past the policy's age not compressed yet
--                           (NULL without a policy)
--   compressed_bytes/_reads, uncompressed_bytes/_reads
--                           size (heap, indexes, toast) and reads of each kind;
--                           an uncompressed chunk's reads are counted from
--                           reads_hourly over its range, not by a scan
--   last_compressed_at      when the newest columnstore companion was made:
--                           the last time a chunk was compressed. The policy
--                           job's own status is no proof of that (some builds
--                           report a failure after the work is done), so
--                           this reads the chunks.
-- The TimescaleDB catalog tables are read for the companion chunk and the
-- row counts, which the information views do not show.
CREATE FUNCTION alpr_storage_facts()
RETURNS TABLE (
    partitions BIGINT, compressed_partitions BIGINT, partial_partitions BIGINT,
    overdue_partitions BIGINT, compressed_bytes BIGINT, compressed_reads BIGINT,
    uncompressed_bytes BIGINT, uncompressed_reads BIGINT, last_compressed_at TIMESTAMPTZ,
    compression_available BOOLEAN)
LANGUAGE sql STABLE AS $$
    WITH policy AS (
        SELECT (j.config ->> 'compress_after')::interval AS after
        FROM timescaledb_information.jobs AS j
        WHERE j.proc_name = 'policy_compression'
          AND j.hypertable_schema = current_schema() AND j.hypertable_name = 'plate_events'
    ), chunks AS (
        SELECT i.range_start, i.range_end,
            format('%I.%I', c.schema_name, c.table_name)::regclass AS rel,
            z.id IS NOT NULL AS compressed,
            (c.status & 8) <> 0 AS partial,
            z.creation_time AS compressed_at,
            CASE WHEN z.id IS NOT NULL
                 THEN pg_total_relation_size(format('%I.%I', z.schema_name, z.table_name))
                 ELSE 0 END AS companion_bytes,
            s.numrows_pre_compression AS compressed_reads
        FROM timescaledb_information.chunks AS i
        JOIN _timescaledb_catalog.chunk AS c
          ON c.schema_name = i.chunk_schema AND c.table_name = i.chunk_name
        LEFT JOIN _timescaledb_catalog.chunk AS z ON z.id = c.compressed_chunk_id
        LEFT JOIN _timescaledb_catalog.compression_chunk_size AS s ON s.chunk_id = c.id
        WHERE i.hypertable_schema = current_schema() AND i.hypertable_name = 'plate_events'
    )
    SELECT count(*),
        count(*) FILTER (WHERE compressed),
        count(*) FILTER (WHERE partial),
        (SELECT count(*) FILTER (WHERE NOT k.compressed AND k.range_end <= now() - p.after)
         FROM chunks AS k, policy AS p),
        COALESCE(sum(pg_total_relation_size(rel) + companion_bytes) FILTER (WHERE compressed), 0)::bigint,
        COALESCE(sum(compressed_reads) FILTER (WHERE compressed), 0)::bigint,
        COALESCE(sum(pg_total_relation_size(rel)) FILTER (WHERE NOT compressed), 0)::bigint,
        (SELECT COALESCE(sum(h.reads), 0)::bigint FROM chunks AS k
         JOIN reads_hourly AS h ON h.bucket >= k.range_start AND h.bucket < k.range_end
         WHERE NOT k.compressed),
        max(compressed_at),
        TRUE
    FROM chunks
$$;
