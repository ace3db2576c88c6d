-- The storage-layer document's five indexes, under its names. Each leads with
-- its key and then (captured_at DESC, event_id DESC), so "newest N for X" and
-- keyset pages after a cursor are bounded range scans, never a sort of all
-- of X's reads.
CREATE INDEX idx_plate_normalized ON plate_events (plate_normalized_text, captured_at DESC, event_id DESC);
CREATE INDEX idx_camera_time ON plate_events (camera_id, captured_at DESC, event_id DESC);
CREATE INDEX idx_site_time ON plate_events (site_id, captured_at DESC, event_id DESC);
CREATE INDEX idx_track_id ON plate_events (track_id, captured_at DESC);
CREATE INDEX idx_captured_at ON plate_events (captured_at DESC, event_id DESC);
