-- Every stored batch updates the plates it saw (last_seen, read_count,
-- last_region, last_camera_id). With last_seen indexed, each of those updates
-- was a non-HOT update that also re-indexed both GIN indexes on the plate
-- text (trigrams, search keys), though the text never changes: the largest
-- cost of a batch and the churn that fills the GIN pending lists search
-- reads. Without an index on any updated column, and with room left on each
-- page, PostgreSQL updates the row in place (HOT) and touches no index.
-- "Recently seen plates" are read from the reads' own time index instead.
DROP INDEX plates_last_seen;
ALTER TABLE plates SET (fillfactor = 70);

-- The same for plate_cameras: counting a camera's plates needs camera_id
-- alone, and leaving last_seen out of the index keeps its updates HOT.
DROP INDEX plate_cameras_camera;
CREATE INDEX plate_cameras_camera ON plate_cameras (camera_id);
ALTER TABLE plate_cameras SET (fillfactor = 70);
