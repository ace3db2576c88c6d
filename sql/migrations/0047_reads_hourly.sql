-- Reads per hour over all cameras: `stats` without a camera or site.
--
-- Totals over a window and the hourly series summed camera_hourly and
-- camera_daily, a row per camera per hour or day: 4,800 rows for the last
-- 24 hours with 200 cameras, 6,000 for 30 days, about half of `stats`
-- for a 30-day window at 10 M reads. One row per hour answers both; the
-- per-camera rollups remain for a camera, a site, and active cameras.
CREATE TABLE reads_hourly (
    bucket TIMESTAMPTZ PRIMARY KEY,
    reads BIGINT NOT NULL,
    confidence_sum DOUBLE PRECISION NOT NULL,
    latency_sum BIGINT NOT NULL,
    latency_count BIGINT NOT NULL
);

INSERT INTO reads_hourly (bucket, reads, confidence_sum, latency_sum, latency_count)
SELECT bucket, sum(reads), sum(confidence_sum), sum(latency_sum), sum(latency_count)
FROM camera_hourly
GROUP BY bucket;
