-- plate_events on TimescaleDB: a hypertable with one-day chunks and a
-- columnstore for chunks older than a week. Columns, types and key are the
-- storage-layer contract; keep them in step with 0001_plate_events.postgres.sql.
CREATE EXTENSION IF NOT EXISTS timescaledb;

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
);

-- Our own indexes follow in 0002; the default captured_at index would be a
-- sixth one to maintain on every insert.
SELECT create_hypertable(
    'plate_events', 'captured_at',
    chunk_time_interval => INTERVAL '1 day',
    create_default_indexes => FALSE);

-- Segmenting by camera keeps a camera's reads together in the columnstore,
-- which is how history is read (one camera, a time range).
ALTER TABLE plate_events SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'camera_id',
    timescaledb.compress_orderby = 'captured_at DESC, event_id');
SELECT add_compression_policy('plate_events', INTERVAL '7 days');

-- TimescaleDB creates chunks by itself; the writer's call is a no-op here so
-- the write path is the same on both engines.
CREATE FUNCTION alpr_ensure_partitions(days DATE[]) RETURNS INTEGER
LANGUAGE sql AS $$ SELECT 0 $$;

CREATE VIEW alpr_engine AS SELECT 'timescaledb'::text AS engine;
