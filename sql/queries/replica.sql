-- Positions in the write-ahead log, as bytes from its start, for the
-- gateway's replica check (gateway/replica.py).

-- name: wal_written
-- On the primary: how far its WAL has been written.
SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint;

-- name: wal_replayed
-- On the read database: whether it is a standby, and how far it has applied
-- the primary's WAL (NULL when it never replayed any).
SELECT pg_is_in_recovery() AS standby,
    pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint AS replayed;
