-- The storage facts of plate_events (alpr_storage_facts, one row per
-- engine's own migration): `alpr status` and the ingestor's gauges.

-- name: facts
SELECT partitions, compressed_partitions, partial_partitions, overdue_partitions,
    compressed_bytes, compressed_reads, uncompressed_bytes, uncompressed_reads,
    last_compressed_at, compression_available
FROM alpr_storage_facts();
