-- Ingest health: what ingestors publish about themselves (ingestor.health)
-- and what the gateway reads of it (gateway.ingest_health).

-- name: publish_status
INSERT INTO ingestor_status (ingestor, sources, started_at, updated_at, consumed, stored,
                             duplicates, dead_lettered, last_dead_letter_at)
VALUES (:ingestor, :sources, :started_at, now(), :consumed, :stored, :duplicates,
        :dead_lettered, :last_dead_letter_at)
ON CONFLICT (ingestor) DO UPDATE
SET sources = EXCLUDED.sources, updated_at = now(), stopped_at = NULL,
    consumed = EXCLUDED.consumed, stored = EXCLUDED.stored,
    duplicates = EXCLUDED.duplicates, dead_lettered = EXCLUDED.dead_lettered,
    last_dead_letter_at = EXCLUDED.last_dead_letter_at;

-- name: publish_lag
-- One row per partition; the arrays are parallel.
INSERT INTO ingestor_lag (ingestor, topic, partition, lag, measured_at)
SELECT :ingestor, t, p, l, m
FROM unnest(:topics::text[], :partitions::int[], :lags::bigint[], :measured::timestamptz[])
    AS x(t, p, l, m)
ON CONFLICT (ingestor, topic, partition) DO UPDATE
SET lag = EXCLUDED.lag, measured_at = EXCLUDED.measured_at;

-- name: prune_lag
-- This ingestor's rows of partitions it no longer holds (revoked); the arrays
-- list the ones it does, parallel as in publish_lag.
DELETE FROM ingestor_lag l
WHERE l.ingestor = :ingestor
  AND NOT EXISTS (
      SELECT 1
      FROM unnest(:topics::text[], :partitions::int[]) AS x(t, p)
      WHERE x.t = l.topic AND x.p = l.partition
  );

-- name: mark_stopped
UPDATE ingestor_status SET stopped_at = now(), updated_at = now() WHERE ingestor = :ingestor;

-- name: prune_status
DELETE FROM ingestor_status WHERE updated_at < now() - interval '1 day';

-- name: read_ingestors
-- Every ingestor heard from in the last day, newest report first.
SELECT ingestor, sources, started_at, updated_at, stopped_at, consumed, stored, duplicates,
       dead_lettered, last_dead_letter_at
FROM ingestor_status
WHERE updated_at > now() - interval '1 day'
ORDER BY updated_at DESC;

-- name: read_lag
-- Each partition's newest measurement, whichever ingestor made it (a
-- partition moves between consumers of the group).
SELECT DISTINCT ON (l.topic, l.partition)
       l.topic, l.partition, l.lag, l.measured_at, l.ingestor
FROM ingestor_lag l
JOIN ingestor_status s USING (ingestor)
WHERE s.updated_at > now() - interval '1 day'
ORDER BY l.topic, l.partition, l.measured_at DESC;
