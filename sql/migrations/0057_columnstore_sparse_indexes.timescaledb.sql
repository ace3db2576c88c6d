-- The columnstore's sparse indexes, named instead of derived. Left alone,
-- TimescaleDB makes a bloom filter per compressed batch for every column
-- and column pair its B-tree indexes cover (track_id, the key with the
-- plate, the key with the site, ...), most of which no query asks. The
-- gateway's reads on compressed days filter by plate, by site and by
-- (event_id, captured_at); camera_id is the segment and captured_at the
-- order (min/max kept anyway). Fewer filters: less space per read and less
-- work per compressed batch and per late read, for the same reads
-- (docs/adr/0055-columnstore.md has the measurements). Chunks compressed
-- before keep their filters until they are recompressed.
ALTER TABLE plate_events SET (
    timescaledb.sparse_index = 'bloom(plate_normalized_text), bloom(site_id), bloom(event_id, captured_at)');
