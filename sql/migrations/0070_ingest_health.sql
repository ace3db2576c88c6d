-- What each ingestor process reports about itself every few seconds: its
-- totals since start (dead letters among them) and the Kafka consumer lag
-- of each partition it consumes. The gateway has no access to the
-- ingestor's metrics endpoint; these rows are how operators see ingest
-- problems in the API and the dashboard. Rows of a process are replaced in
-- place; those not updated for a day are pruned by the ingestors.
CREATE TABLE ingestor_status (
    ingestor            TEXT PRIMARY KEY,          -- host:pid
    sources             TEXT[] NOT NULL,
    started_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    stopped_at          TIMESTAMPTZ,               -- set by a clean shutdown
    consumed            BIGINT NOT NULL,
    stored              BIGINT NOT NULL,
    duplicates          BIGINT NOT NULL,
    dead_lettered       BIGINT NOT NULL,
    last_dead_letter_at TIMESTAMPTZ
);

CREATE TABLE ingestor_lag (
    ingestor    TEXT NOT NULL REFERENCES ingestor_status ON DELETE CASCADE,
    topic       TEXT NOT NULL,
    partition   INTEGER NOT NULL,
    lag         BIGINT NOT NULL,                   -- messages behind the log end
    measured_at TIMESTAMPTZ NOT NULL,              -- after the batch that measured it
    PRIMARY KEY (ingestor, topic, partition)
);
