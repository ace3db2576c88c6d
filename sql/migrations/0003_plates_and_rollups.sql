-- Small tables the writer keeps current in the same transaction as the reads,
-- so statistics and plate search never scan plate_events.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- One row per normalized plate.
CREATE TABLE plates (
    plate_normalized_text VARCHAR(20) PRIMARY KEY,
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    read_count BIGINT NOT NULL,
    last_region VARCHAR(10) NOT NULL,
    last_camera_id VARCHAR(50) NOT NULL
);
CREATE INDEX plates_last_seen ON plates (last_seen DESC);
-- Trigrams make wildcard and fuzzy plate search an index lookup.
CREATE INDEX plates_trgm ON plates USING gin (plate_normalized_text gin_trgm_ops);

-- Where each plate was seen: one row per plate and camera.
CREATE TABLE plate_cameras (
    plate_normalized_text VARCHAR(20) NOT NULL,
    camera_id VARCHAR(50) NOT NULL,
    site_id VARCHAR(50),
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    read_count BIGINT NOT NULL,
    PRIMARY KEY (plate_normalized_text, camera_id)
);
CREATE INDEX plate_cameras_camera ON plate_cameras (camera_id, last_seen DESC);

-- Reads per camera per hour, with the sums that averages are made of.
CREATE TABLE camera_hourly (
    bucket TIMESTAMPTZ NOT NULL,
    camera_id VARCHAR(50) NOT NULL,
    site_id VARCHAR(50),
    reads BIGINT NOT NULL,
    confidence_sum DOUBLE PRECISION NOT NULL,
    latency_sum BIGINT NOT NULL,
    latency_count BIGINT NOT NULL,
    PRIMARY KEY (bucket, camera_id)
);
CREATE INDEX camera_hourly_camera ON camera_hourly (camera_id, bucket);
CREATE INDEX camera_hourly_site ON camera_hourly (site_id, bucket);

-- Plates first seen per hour: summed, the number of distinct plates ever
-- seen, without counting the plates table.
CREATE TABLE plates_hourly (
    bucket TIMESTAMPTZ PRIMARY KEY,
    new_plates BIGINT NOT NULL
);

-- Cameras: one row per camera, last seen and site; kept by the writer.
CREATE TABLE cameras (
    camera_id VARCHAR(50) PRIMARY KEY,
    site_id VARCHAR(50),
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    read_count BIGINT NOT NULL
);
CREATE INDEX cameras_site ON cameras (site_id);
