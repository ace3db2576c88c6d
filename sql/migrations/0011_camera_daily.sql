-- Reads per camera per UTC day, with the sums averages are made of: the
-- same as camera_hourly, 24 times fewer rows. Statistics over long windows
-- add whole days from here and only the partial days at the edges from
-- camera_hourly, so their cost stays small however long the window.
-- The writer keeps it in the batch transaction, like camera_hourly.
CREATE TABLE camera_daily (
    day DATE NOT NULL,
    camera_id VARCHAR(50) NOT NULL,
    site_id VARCHAR(50),
    reads BIGINT NOT NULL,
    confidence_sum DOUBLE PRECISION NOT NULL,
    latency_sum BIGINT NOT NULL,
    latency_count BIGINT NOT NULL,
    PRIMARY KEY (day, camera_id)
);
CREATE INDEX camera_daily_camera ON camera_daily (camera_id, day);
CREATE INDEX camera_daily_site ON camera_daily (site_id, day);

-- Databases that already hold reads: days from the hourly rollup, and the
-- plate days of 0010 (which arrived without a backfill) from the reads.
INSERT INTO camera_daily (day, camera_id, site_id, reads, confidence_sum, latency_sum, latency_count)
SELECT (bucket AT TIME ZONE 'UTC')::date, camera_id,
    (array_agg(site_id ORDER BY bucket DESC))[1],
    sum(reads), sum(confidence_sum), sum(latency_sum), sum(latency_count)
FROM camera_hourly
GROUP BY 1, 2;

INSERT INTO plate_days (day, plate_normalized_text)
SELECT DISTINCT (captured_at AT TIME ZONE 'UTC')::date, plate_normalized_text
FROM plate_events
ON CONFLICT DO NOTHING;
