-- Two writers meeting a new day at once both saw no partition and both ran
-- CREATE TABLE IF NOT EXISTS; the loser failed with duplicate_table (or a
-- unique violation in the catalog) because IF NOT EXISTS is checked before
-- the lock. Losing that race means the partition exists: carry on.
CREATE OR REPLACE FUNCTION alpr_ensure_partitions(days DATE[]) RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
    day DATE;
    created INTEGER := 0;
    name TEXT;
BEGIN
    FOREACH day IN ARRAY days LOOP
        name := format('plate_events_p%s', to_char(day, 'YYYYMMDD'));
        IF to_regclass(name) IS NULL THEN
            BEGIN
                EXECUTE format(
                    'CREATE TABLE IF NOT EXISTS %I PARTITION OF plate_events FOR VALUES FROM (%L) TO (%L)',
                    name,
                    (day::timestamp AT TIME ZONE 'UTC'),
                    ((day + 1)::timestamp AT TIME ZONE 'UTC'));
                created := created + 1;
            EXCEPTION WHEN duplicate_table OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
    RETURN created;
END;
$$;
