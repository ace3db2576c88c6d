-- Announcements of stored reads. The writer adds one row per committed batch
-- in the same transaction as the reads and sends NOTIFY alpr_stored with the
-- batch_id as payload: listeners learn of reads only once they are committed,
-- and a listener that reconnects catches up by batch_id. Rows older than an
-- hour are pruned by the writer.
CREATE TABLE stored_batches (
    batch_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stored_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    event_ids UUID[] NOT NULL,
    captured_ats TIMESTAMPTZ[] NOT NULL,
    CHECK (cardinality(event_ids) = cardinality(captured_ats))
);
CREATE INDEX stored_batches_stored_at ON stored_batches (stored_at);
