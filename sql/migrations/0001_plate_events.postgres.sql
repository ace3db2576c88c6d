-- plate_events on plain PostgreSQL: native range partitions, one per day.
-- Columns, types and key are the storage-layer contract; keep them in step
-- with 0001_plate_events.timescaledb.sql (a test compares the two).
CREATE TABLE plate_events (
    event_id UUID NOT NULL,
    captured_at TIMESTAMPTZ NOT NULL,
    camera_id VARCHAR(50) NOT NULL,
    track_id VARCHAR(50) NOT NULL,
    plate_text VARCHAR(20) NOT NULL,
    plate_normalized_text VARCHAR(20) NOT NULL,
    plate_confidence FLOAT NOT NULL,
    plate_region VARCHAR(10) NOT NULL,
    vehicle_type VARCHAR(20),
    vehicle_make VARCHAR(50),
    vehicle_model VARCHAR(50),
    vehicle_color VARCHAR(30),
    plate_image_url TEXT,
    vehicle_image_url TEXT,
    frame_image_url TEXT,
    latency_ms INTEGER,
    quality_score FLOAT,
    frame_number INTEGER,
    site_id VARCHAR(50),
    host_id VARCHAR(100),
    roi VARCHAR(50),
    direction VARCHAR(20),
    created_at TIMESTAMPTZ DEFAULT NOW(),
    PRIMARY KEY (event_id, captured_at)
) PARTITION BY RANGE (captured_at);

-- Days are UTC days, so a partition's bounds do not move with the session's
-- time zone. Creating a partition that exists already is a no-op, so two
-- writers may race here safely.
CREATE FUNCTION alpr_ensure_partitions(days DATE[]) RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
    day DATE;
    created INTEGER := 0;
    name TEXT;
BEGIN
    FOREACH day IN ARRAY days LOOP
        name := format('plate_events_p%s', to_char(day, 'YYYYMMDD'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE IF NOT EXISTS %I PARTITION OF plate_events FOR VALUES FROM (%L) TO (%L)',
                name,
                (day::timestamp AT TIME ZONE 'UTC'),
                ((day + 1)::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END;
$$;

-- A week back and two weeks ahead exist from the start; the writer creates
-- any other day it meets, and the service extends the window daily.
SELECT alpr_ensure_partitions(ARRAY(
    SELECT d::date FROM generate_series(
        (now() AT TIME ZONE 'UTC')::date - 7,
        (now() AT TIME ZONE 'UTC')::date + 14,
        INTERVAL '1 day') AS d));

CREATE VIEW alpr_engine AS SELECT 'postgres'::text AS engine;
