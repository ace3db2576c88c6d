-- Named blocks for bench/search.py (loading and the naive baseline).

-- name: fill_plate_cameras
INSERT INTO plate_cameras
SELECT plate_normalized_text, camera_id, min(site_id), min(captured_at), max(captured_at), count(*)
FROM plate_events GROUP BY 1, 2;

-- name: fill_plates
INSERT INTO plates
SELECT plate_normalized_text, min(captured_at), max(captured_at), count(*),
    min(plate_region), min(camera_id)
FROM plate_events GROUP BY 1;

-- name: naive_like
-- What search looks like without `plates`: a pattern over every read.
SELECT DISTINCT plate_normalized_text FROM plate_events
WHERE plate_normalized_text LIKE $1
LIMIT 20;

-- name: all_plates
SELECT plate_normalized_text FROM plates;
