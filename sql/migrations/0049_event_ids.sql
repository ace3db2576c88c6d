-- One event id, one read. plate_events is keyed by (event_id, captured_at):
-- a hypertable's or a partitioned table's unique keys must hold its time
-- column, so that key alone let the same id be stored again with another
-- time. event_ids holds each stored read's id once, with the read's time,
-- which is also where to find the read (one chunk or partition to look in).
--
-- The writer claims a read's id here in the transaction that stores the
-- read; an id already claimed makes the read a duplicate when its content
-- equals the stored read's, and refuses it ("conflicting duplicate")
-- otherwise. Retention deletes a read's row here with the read.
CREATE TABLE event_ids (
    event_id UUID PRIMARY KEY,
    captured_at TIMESTAMPTZ NOT NULL
);

-- Retention drops a day of reads at once and their ids with them, by time.
-- Ids arrive about in time order, so a block-range index finds them for
-- next to nothing on each insert.
CREATE INDEX event_ids_captured_at ON event_ids USING brin (captured_at)
    WITH (autosummarize = on);

-- The ids stored so far, each with its oldest read, inserted in time order
-- for the index above. An id stored several times (with other times) keeps
-- all its reads in plate_events: a migration deletes no one's data, and
-- retention and legal holds treat them as before. The oldest is the one
-- event(id) and /events/{id} return (as they did), and a later read with
-- that id is compared with it, so sending any of the others again is
-- refused as a conflicting duplicate.
INSERT INTO event_ids (event_id, captured_at)
SELECT event_id, min(captured_at)
FROM plate_events
GROUP BY event_id
ORDER BY 2;
