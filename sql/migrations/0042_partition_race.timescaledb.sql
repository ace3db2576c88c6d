-- TimescaleDB creates chunks itself; alpr_ensure_partitions is a no-op there
-- and needs no change (see 0042_partition_race.postgres.sql).
SELECT 1;
