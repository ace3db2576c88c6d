-- Unique plates of a camera over its whole history, as one row.
--
-- `stats(cameraId)` counted the camera's plate_cameras rows: 10 ms warm at
-- 10 M reads (35,000 rows a camera), up to 0.35 s from a cold cache, and
-- more with every plate. As with sites (0045), the writer counts a pair
-- (plate, camera) when it is first stored and retention counts it down when
-- it purges the pair.
CREATE TABLE camera_plate_counts (
    camera_id VARCHAR(50) PRIMARY KEY,
    plates BIGINT NOT NULL
);

INSERT INTO camera_plate_counts (camera_id, plates)
SELECT camera_id, count(*) FROM plate_cameras GROUP BY camera_id;
