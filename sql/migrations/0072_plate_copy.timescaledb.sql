-- A plate-ordered copy of the compressed days, for plate histories.
--
-- plate_events' columnstore is segmented by camera and ordered by time, so a
-- plate's reads of one compressed day sit in every camera's batches and a
-- page that walks a plate's days pays about 1 ms a compressed day
-- (docs/adr/0055-columnstore.md). plate_copy holds the same reads again, in
-- 30-day chunks compressed without a segment and ordered by plate, then
-- time: a plate's reads of a chunk sit in one or two batches that the
-- batches' first/last plate index finds. It costs about 64 bytes a read. A
-- chunk of the copy costs a page about what a compressed day of
-- plate_events does (its batch decompressed whole, every column), so what
-- it saves is the days: a plate's 30 days in one read. Weekly chunks saved
-- a regular plate's page too few days (bench/README.md, tenth round). The
-- plate column is TEXT: TimescaleDB 2.28 pushes no comparison on a VARCHAR
-- column down to that index.
--
-- The copy works in ranges: the chunks of plate_copy, aligned to the epoch
-- as TimescaleDB aligns them (alpr_plate_copy_range). plate_copy_ranges
-- lists the ranges ever copied or given up. A range is copied whole, once
-- every chunk of plate_events before its end is compressed
-- (alpr_fill_plate_copy), so the newest compressed days (up to 30) wait for
-- their range to close and are read from plate_events meanwhile. From then
-- on the copy holds exactly that range's reads of plate_events:
--   - a late read for the range is stored in both, in one transaction
--     (alpr_copy_late_reads, from the writer);
--   - before retention deletes a read of the range, the range is released:
--     its chunk of the copy is dropped whole, in retention's transaction
--     (alpr_release_plate_copy), and the range is never copied again; its
--     days are read from plate_events until they expire.
-- Plate walks (alpr_reads) read a copied range from the copy, every other
-- day from plate_events. A transaction-level advisory lock per range
-- (alpr_plate_copy_lock) orders the three: the fill and the release take it
-- alone, a writer shared for each range its batch touches, so a read stored
-- while a range is copied is either in the fill's snapshot or copied by its
-- writer, and the writer never puts a read into a dropped range.

-- The span of a range, and of a chunk of plate_copy.
CREATE FUNCTION alpr_plate_copy_interval() RETURNS INTERVAL
LANGUAGE sql IMMUTABLE AS $$ SELECT INTERVAL '30 days' $$;

CREATE TABLE plate_copy (LIKE plate_events INCLUDING DEFAULTS);
ALTER TABLE plate_copy ALTER COLUMN plate_normalized_text TYPE TEXT;
SELECT create_hypertable('plate_copy', 'captured_at',
    chunk_time_interval => alpr_plate_copy_interval(), create_default_indexes => FALSE);
ALTER TABLE plate_copy SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = '',
    timescaledb.compress_orderby = 'plate_normalized_text, captured_at DESC, event_id');
-- A late read leaves its chunk partly compressed; the policy merges it.
SELECT add_compression_policy('plate_copy', INTERVAL '1 day',
    schedule_interval => INTERVAL '1 hour');

CREATE TABLE plate_copy_ranges (
    range_start TIMESTAMPTZ PRIMARY KEY,
    range_end TIMESTAMPTZ NOT NULL,
    reads BIGINT,                 -- copied by the fill; NULL if never copied
    copied_at TIMESTAMPTZ,
    released_at TIMESTAMPTZ       -- NULL while the copy holds the range
);

-- The start of the copy's range (chunk) that holds `p_at`.
CREATE FUNCTION alpr_plate_copy_range(p_at TIMESTAMPTZ) RETURNS TIMESTAMPTZ
LANGUAGE sql IMMUTABLE AS $$
    SELECT date_bin(alpr_plate_copy_interval(), p_at, TIMESTAMPTZ '1970-01-01 00:00:00+00')
$$;

-- A range's advisory lock, for the rest of the transaction; its two keys:
-- "alpc" and the range's number. The statements after it must see what
-- committed while it was awaited: a fresh snapshot each, which only READ
-- COMMITTED (PostgreSQL's default, the ingestor's) gives.
CREATE FUNCTION alpr_plate_copy_lock(p_range_start TIMESTAMPTZ, p_exclusive BOOLEAN)
RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    range_number INTEGER := (extract(epoch FROM p_range_start)
                                / extract(epoch FROM alpr_plate_copy_interval()))::integer;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'the plate copy is kept under READ COMMITTED only, not %',
            current_setting('transaction_isolation');
    END IF;
    IF p_exclusive THEN
        PERFORM pg_advisory_xact_lock(1634496611, range_number);
    ELSE
        PERFORM pg_advisory_xact_lock_shared(1634496611, range_number);
    END IF;
END;
$$;

-- Copies the newest range not yet copied whose chunks of plate_events are
-- all compressed (none uncompressed starts before its end), compresses its
-- chunk of the copy, and lists it. Returns the reads copied, NULL when there
-- was nothing to copy or another fill is running. One range per call: a
-- range of a busy city holds millions of reads.
CREATE FUNCTION alpr_fill_plate_copy() RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    horizon TIMESTAMPTZ;
    chosen TIMESTAMPTZ;
    copied BIGINT;
    made REGCLASS[];
BEGIN
    IF NOT pg_try_advisory_xact_lock(1634496611, -1) THEN
        RETURN NULL;
    END IF;
    SELECT COALESCE(min(c.range_start) FILTER (WHERE NOT c.is_compressed), max(c.range_end))
    INTO horizon
    FROM timescaledb_information.chunks AS c
    WHERE c.hypertable_schema = current_schema() AND c.hypertable_name = 'plate_events';
    SELECT max(s.range_start) INTO chosen
    FROM (SELECT DISTINCT alpr_plate_copy_range(c.range_start) AS range_start
          FROM timescaledb_information.chunks AS c
          WHERE c.hypertable_schema = current_schema() AND c.hypertable_name = 'plate_events'
            AND c.is_compressed) AS s
    WHERE s.range_start + alpr_plate_copy_interval() <= horizon
      AND NOT EXISTS (SELECT 1 FROM plate_copy_ranges AS r WHERE r.range_start = s.range_start);
    IF chosen IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM alpr_plate_copy_lock(chosen, TRUE);
    -- A fresh snapshot from here on: a release may have listed the range,
    -- and every writer of a read in it has committed.
    IF EXISTS (SELECT 1 FROM plate_copy_ranges AS r WHERE r.range_start = chosen) THEN
        RETURN NULL;
    END IF;
    INSERT INTO plate_copy
    SELECT * FROM plate_events AS e
    WHERE e.captured_at >= chosen AND e.captured_at < chosen + alpr_plate_copy_interval();
    GET DIAGNOSTICS copied = ROW_COUNT;
    INSERT INTO plate_copy_ranges (range_start, range_end, reads, copied_at)
    VALUES (chosen, chosen + alpr_plate_copy_interval(), copied, now());
    made := ARRAY(SELECT show_chunks('plate_copy', newer_than => chosen,
                                     older_than => chosen + alpr_plate_copy_interval()));
    IF copied > 0 AND cardinality(made) <> 1 THEN
        RAISE EXCEPTION 'plate_copy range % landed in chunks %, not one', chosen, made;
    END IF;
    PERFORM compress_chunk(c, if_not_compressed => TRUE) FROM unnest(made) AS c;
    RETURN copied;
END;
$$;

-- The writer's step after storing a batch (alpr_inserted): its reads that
-- belong to a copied range go into the copy too, in the same transaction.
-- Returns how many.
CREATE FUNCTION alpr_copy_late_reads() RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    copied BIGINT;
BEGIN
    PERFORM alpr_plate_copy_lock(s.range_start, FALSE)
    FROM (SELECT DISTINCT alpr_plate_copy_range(i.captured_at) AS range_start
          FROM alpr_inserted AS i ORDER BY 1) AS s;
    -- A fresh snapshot: a range copied while the lock was awaited is listed.
    WITH late AS (
        SELECT array_agg(i.event_id) AS ids, array_agg(i.captured_at) AS ats
        FROM alpr_inserted AS i
        JOIN plate_copy_ranges AS r
          ON r.range_start = alpr_plate_copy_range(i.captured_at) AND r.released_at IS NULL
    )
    INSERT INTO plate_copy
    SELECT e.* FROM late, alpr_reads_by_keys(late.ids, late.ats) AS e
    WHERE late.ids IS NOT NULL;
    GET DIAGNOSTICS copied = ROW_COUNT;
    RETURN copied;
END;
$$;

-- Retention's step before (or after, in the same transaction) it deletes
-- reads in [p_start, p_end): every copied range that overlaps them gives up
-- its chunk of the copy, and every range that overlaps them is listed as
-- released, so the fill never copies it. Returns the ranges released.
CREATE FUNCTION alpr_release_plate_copy(p_start TIMESTAMPTZ, p_end TIMESTAMPTZ)
RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
    range_start TIMESTAMPTZ;
    released INTEGER := 0;
BEGIN
    FOR range_start IN
        SELECT g FROM generate_series(alpr_plate_copy_range(p_start),
                                      p_end - INTERVAL '1 microsecond',
                                      alpr_plate_copy_interval()) AS g
    LOOP
        PERFORM alpr_plate_copy_lock(range_start, TRUE);
        PERFORM drop_chunks('plate_copy', older_than => range_start + alpr_plate_copy_interval(),
                            newer_than => range_start);
        INSERT INTO plate_copy_ranges (range_start, range_end, released_at)
        VALUES (range_start, range_start + alpr_plate_copy_interval(), now())
        ON CONFLICT ON CONSTRAINT plate_copy_ranges_pkey
        DO UPDATE SET released_at = now() WHERE plate_copy_ranges.released_at IS NULL;
        released := released + 1;
    END LOOP;
    RETURN released;
END;
$$;

-- What the operator sees of the copy (`alpr status`, the ingestor's gauges).
CREATE FUNCTION alpr_plate_copy_facts()
RETURNS TABLE (copied_ranges BIGINT, released_ranges BIGINT, copy_reads BIGINT,
               copy_bytes BIGINT, last_copied_at TIMESTAMPTZ)
LANGUAGE sql STABLE AS $$
    SELECT count(*) FILTER (WHERE r.released_at IS NULL AND r.copied_at IS NOT NULL),
        count(*) FILTER (WHERE r.released_at IS NOT NULL AND r.copied_at IS NOT NULL),
        COALESCE(sum(r.reads) FILTER (WHERE r.released_at IS NULL), 0)::bigint,
        COALESCE(hypertable_size('plate_copy'), 0),
        max(r.copied_at)
    FROM plate_copy_ranges AS r
$$;

-- alpr_reads (0050_reads_by_day.sql) again, reading a plate's copied ranges
-- from the copy: a plate's walk reads a copied range in one statement (the
-- plate's days in it are contiguous in the walk's order), any other day
-- from plate_events, as before. Pages without a plate never read the copy
-- (it is ordered by plate). Four static statements (each table, each
-- direction) with the events filter each: PL/pgSQL keeps a static
-- statement parsed, where EXECUTE would parse it for every day, about
-- 0.3 ms a day (a regular plate's page of 20 days: 9 ms against 14).
-- The copy's statement returns its plate as VARCHAR(20), plate_events'
-- type, and filters on its TEXT column.
--
-- The walk's statements share the calling statement's snapshot (STABLE), so
-- the list of copied ranges and the copy agree with each other and with
-- plate_events. A page read at the instant retention releases one of the
-- plate's ranges (drops its chunk of the copy) may miss that range's reads;
-- the next page reads them from plate_events.
CREATE OR REPLACE FUNCTION alpr_reads(
    p_plate TEXT,
    p_camera_id TEXT,
    p_site_id TEXT,
    p_since TIMESTAMPTZ,
    p_until TIMESTAMPTZ,
    p_cursor_at TIMESTAMPTZ,
    p_cursor_id UUID,
    p_backward BOOLEAN,
    p_limit BIGINT,
    p_direction TEXT,
    p_vehicle_make TEXT,
    p_vehicle_color TEXT,
    p_vehicle_type TEXT,
    p_min_confidence FLOAT8
) RETURNS SETOF plate_events
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    first_day DATE := COALESCE((GREATEST(p_since, CASE WHEN p_backward THEN p_cursor_at END)
                                AT TIME ZONE 'UTC')::date, '-infinity');
    last_day DATE := COALESCE((LEAST(p_until, CASE WHEN NOT p_backward THEN p_cursor_at END)
                               AT TIME ZONE 'UTC')::date, 'infinity');
    copied TIMESTAMPTZ[] := CASE WHEN p_plate IS NOT NULL THEN ARRAY(
        SELECT r.range_start FROM plate_copy_ranges AS r
        WHERE r.released_at IS NULL AND r.copied_at IS NOT NULL) END;
    days REFCURSOR;
    read_day DATE;
    range_start TIMESTAMPTZ;
    range_read TIMESTAMPTZ;
    from_copy BOOLEAN;
    read_start TIMESTAMPTZ;
    read_end TIMESTAMPTZ;
    left_over BIGINT := p_limit;
    found_rows BIGINT;
BEGIN
    -- Planned for these values: the CASE keys fold to the index order.
    IF p_plate IS NOT NULL THEN
        OPEN days FOR
            SELECT d.day FROM plate_days AS d
            WHERE d.plate_normalized_text = p_plate AND d.day BETWEEN first_day AND last_day
            ORDER BY CASE WHEN p_backward THEN d.day END, d.day DESC;
    ELSIF p_camera_id IS NOT NULL THEN
        OPEN days FOR
            SELECT d.day FROM camera_daily AS d
            WHERE d.camera_id = p_camera_id AND d.day BETWEEN first_day AND last_day
            ORDER BY CASE WHEN p_backward THEN d.day END, d.day DESC;
    ELSE
        OPEN days FOR
            SELECT d.day FROM camera_daily AS d
            WHERE d.day BETWEEN first_day AND last_day
            GROUP BY d.day
            ORDER BY CASE WHEN p_backward THEN d.day END, d.day DESC;
    END IF;
    LOOP
        FETCH days INTO read_day;
        EXIT WHEN NOT FOUND;
        read_start := read_day::timestamp AT TIME ZONE 'UTC';
        range_start := alpr_plate_copy_range(read_start);
        from_copy := COALESCE(range_start = ANY (copied), FALSE);
        IF from_copy THEN
            CONTINUE WHEN range_start = range_read;  -- this range is read already
            range_read := range_start;
            read_start := range_start;
            read_end := range_start + alpr_plate_copy_interval();
        ELSE
            read_end := (read_day + 1)::timestamp AT TIME ZONE 'UTC';
        END IF;
        IF from_copy AND p_backward THEN
            RETURN QUERY
            SELECT e.event_id, e.captured_at, e.camera_id, e.track_id, e.plate_text,
                e.plate_normalized_text::varchar(20), e.plate_confidence, e.plate_region,
                e.vehicle_type, e.vehicle_make, e.vehicle_model, e.vehicle_color,
                e.plate_image_url, e.vehicle_image_url, e.frame_image_url, e.latency_ms,
                e.quality_score, e.frame_number, e.site_id, e.host_id, e.roi, e.direction,
                e.created_at
            FROM plate_copy AS e
            WHERE e.captured_at >= read_start AND e.captured_at < read_end
              AND (p_cursor_at IS NULL OR (e.captured_at, e.event_id) > (p_cursor_at, p_cursor_id))
              AND (p_plate IS NULL OR e.plate_normalized_text = p_plate)
              AND (p_camera_id IS NULL OR e.camera_id = p_camera_id)
              AND (p_site_id IS NULL OR e.site_id = p_site_id)
              AND e.captured_at >= COALESCE(p_since, '-infinity')
              AND e.captured_at < COALESCE(p_until, 'infinity')
              AND (p_direction IS NULL OR lower(e.direction) = p_direction)
              AND (p_vehicle_make IS NULL OR lower(e.vehicle_make) = lower(p_vehicle_make))
              AND (p_vehicle_color IS NULL OR lower(e.vehicle_color) = lower(p_vehicle_color))
              AND (p_vehicle_type IS NULL OR lower(e.vehicle_type) = p_vehicle_type)
              AND e.plate_confidence >= COALESCE(p_min_confidence, 0)
            ORDER BY e.captured_at, e.event_id
            LIMIT left_over;
        ELSIF from_copy THEN
            RETURN QUERY
            SELECT e.event_id, e.captured_at, e.camera_id, e.track_id, e.plate_text,
                e.plate_normalized_text::varchar(20), e.plate_confidence, e.plate_region,
                e.vehicle_type, e.vehicle_make, e.vehicle_model, e.vehicle_color,
                e.plate_image_url, e.vehicle_image_url, e.frame_image_url, e.latency_ms,
                e.quality_score, e.frame_number, e.site_id, e.host_id, e.roi, e.direction,
                e.created_at
            FROM plate_copy AS e
            WHERE e.captured_at >= read_start AND e.captured_at < read_end
              AND (p_cursor_at IS NULL OR (e.captured_at, e.event_id) < (p_cursor_at, p_cursor_id))
              AND (p_plate IS NULL OR e.plate_normalized_text = p_plate)
              AND (p_camera_id IS NULL OR e.camera_id = p_camera_id)
              AND (p_site_id IS NULL OR e.site_id = p_site_id)
              AND e.captured_at >= COALESCE(p_since, '-infinity')
              AND e.captured_at < COALESCE(p_until, 'infinity')
              AND (p_direction IS NULL OR lower(e.direction) = p_direction)
              AND (p_vehicle_make IS NULL OR lower(e.vehicle_make) = lower(p_vehicle_make))
              AND (p_vehicle_color IS NULL OR lower(e.vehicle_color) = lower(p_vehicle_color))
              AND (p_vehicle_type IS NULL OR lower(e.vehicle_type) = p_vehicle_type)
              AND e.plate_confidence >= COALESCE(p_min_confidence, 0)
            ORDER BY e.captured_at DESC, e.event_id DESC
            LIMIT left_over;
        ELSIF p_backward THEN
            RETURN QUERY
            SELECT * FROM plate_events AS e
            WHERE e.captured_at >= read_start AND e.captured_at < read_end
              AND (p_cursor_at IS NULL OR (e.captured_at, e.event_id) > (p_cursor_at, p_cursor_id))
              AND (p_plate IS NULL OR e.plate_normalized_text = p_plate)
              AND (p_camera_id IS NULL OR e.camera_id = p_camera_id)
              AND (p_site_id IS NULL OR e.site_id = p_site_id)
              AND e.captured_at >= COALESCE(p_since, '-infinity')
              AND e.captured_at < COALESCE(p_until, 'infinity')
              AND (p_direction IS NULL OR lower(e.direction) = p_direction)
              AND (p_vehicle_make IS NULL OR lower(e.vehicle_make) = lower(p_vehicle_make))
              AND (p_vehicle_color IS NULL OR lower(e.vehicle_color) = lower(p_vehicle_color))
              AND (p_vehicle_type IS NULL OR lower(e.vehicle_type) = p_vehicle_type)
              AND e.plate_confidence >= COALESCE(p_min_confidence, 0)
            ORDER BY e.captured_at, e.event_id
            LIMIT left_over;
        ELSE
            RETURN QUERY
            SELECT * FROM plate_events AS e
            WHERE e.captured_at >= read_start AND e.captured_at < read_end
              AND (p_cursor_at IS NULL OR (e.captured_at, e.event_id) < (p_cursor_at, p_cursor_id))
              AND (p_plate IS NULL OR e.plate_normalized_text = p_plate)
              AND (p_camera_id IS NULL OR e.camera_id = p_camera_id)
              AND (p_site_id IS NULL OR e.site_id = p_site_id)
              AND e.captured_at >= COALESCE(p_since, '-infinity')
              AND e.captured_at < COALESCE(p_until, 'infinity')
              AND (p_direction IS NULL OR lower(e.direction) = p_direction)
              AND (p_vehicle_make IS NULL OR lower(e.vehicle_make) = lower(p_vehicle_make))
              AND (p_vehicle_color IS NULL OR lower(e.vehicle_color) = lower(p_vehicle_color))
              AND (p_vehicle_type IS NULL OR lower(e.vehicle_type) = p_vehicle_type)
              AND e.plate_confidence >= COALESCE(p_min_confidence, 0)
            ORDER BY e.captured_at DESC, e.event_id DESC
            LIMIT left_over;
        END IF;
        GET DIAGNOSTICS found_rows = ROW_COUNT;
        left_over := left_over - found_rows;
        EXIT WHEN left_over <= 0;
    END LOOP;
    CLOSE days;
END;
$$;
