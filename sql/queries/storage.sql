-- The storage facts of plate_events (alpr_storage_facts, one row per
-- engine's own migration): `alpr status` and the ingestor's gauges.

-- name: facts
SELECT partitions, compressed_partitions, partial_partitions, overdue_partitions,
    compressed_bytes, compressed_reads, uncompressed_bytes, uncompressed_reads,
    last_compressed_at, compression_available
FROM alpr_storage_facts();

-- name: copy_facts
-- The plate-ordered copy of compressed days (0072_plate_copy.*.sql).
SELECT copied_ranges, released_ranges, copy_reads, copy_bytes, last_copied_at
FROM alpr_plate_copy_facts();

-- name: fill_copy
-- Copies one range of compressed days into the plate-ordered copy; NULL
-- when none is ready (or another ingestor is copying one).
SELECT alpr_fill_plate_copy();
