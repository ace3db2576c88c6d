-- Whole-history statistics from one row per camera.
--
-- `stats` without a time window summed camera_daily, a row per camera per
-- day: 6,000 rows after 30 days with 200 cameras, 73,000 a year later, so
-- the cost grew with the history kept. The sums averages are made of now
-- live beside each camera's read_count as well, kept by the writer in the
-- batch transaction like every other rollup, and the unwindowed statistics
-- read as many rows as there are cameras, however old the system.
ALTER TABLE cameras
    ADD COLUMN confidence_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN latency_sum BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN latency_count BIGINT NOT NULL DEFAULT 0;

-- Databases that already hold reads: the sums so far, from the daily rollup
-- (which, like cameras.read_count, retention leaves alone).
UPDATE cameras AS c
SET confidence_sum = d.confidence_sum,
    latency_sum = d.latency_sum,
    latency_count = d.latency_count
FROM (
    SELECT camera_id, sum(confidence_sum) AS confidence_sum,
        sum(latency_sum) AS latency_sum, sum(latency_count) AS latency_count
    FROM camera_daily
    GROUP BY camera_id
) AS d
WHERE c.camera_id = d.camera_id;
