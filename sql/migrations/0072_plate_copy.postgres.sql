-- The plate-ordered copy of compressed days (see
-- 0072_plate_copy.timescaledb.sql) exists only where days are compressed.
-- Plain PostgreSQL reads a plate's days through the plate index of each
-- day's partition; these functions exist so that both engines are driven
-- alike, and do nothing.
CREATE FUNCTION alpr_fill_plate_copy() RETURNS BIGINT
LANGUAGE sql IMMUTABLE AS $$ SELECT NULL::bigint $$;

CREATE FUNCTION alpr_copy_late_reads() RETURNS BIGINT
LANGUAGE sql IMMUTABLE AS $$ SELECT 0::bigint $$;

CREATE FUNCTION alpr_release_plate_copy(p_start TIMESTAMPTZ, p_end TIMESTAMPTZ)
RETURNS INTEGER
LANGUAGE sql IMMUTABLE AS $$ SELECT 0 $$;

CREATE FUNCTION alpr_plate_copy_facts()
RETURNS TABLE (copied_ranges BIGINT, released_ranges BIGINT, copy_reads BIGINT,
               copy_bytes BIGINT, last_copied_at TIMESTAMPTZ)
LANGUAGE sql IMMUTABLE AS $$ SELECT 0::bigint, 0::bigint, 0::bigint, 0::bigint, NULL::timestamptz $$;
