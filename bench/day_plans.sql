-- Statements of bench/day_plans.py.

-- name: prepared_walk
-- A plate's newest reads, walked day by day like alpr_reads (migration
-- 0050), but each day's statement prepared once on the connection with the
-- day's bounds written in and a generic plan: planned once, it keeps that
-- day's one chunk and still checks each batch's bloom filter. The bench's
-- own candidate, created in pg_temp: plate pages newest first, no filters.
-- A statement not yet prepared makes RETURN QUERY EXECUTE fail with
-- syntax_error ("EXECUTE query does not return tuples"), not with
-- invalid_sql_statement_name.
CREATE FUNCTION pg_temp.reads_prepared(p_plate TEXT, p_limit BIGINT)
RETURNS SETOF plate_events
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    read_day DATE;
    stmt TEXT;
    run TEXT;
    left_over BIGINT := p_limit;
    found_rows BIGINT;
BEGIN
    FOR read_day IN
        SELECT d.day FROM plate_days AS d WHERE d.plate_normalized_text = p_plate
        ORDER BY d.day DESC
    LOOP
        stmt := format('bench_day_%s', to_char(read_day, 'YYYYMMDD'));
        run := format('EXECUTE %I(%L, %L)', stmt, p_plate, left_over);
        BEGIN
            RETURN QUERY EXECUTE run;
        EXCEPTION WHEN syntax_error THEN
            EXECUTE format(
                $p$PREPARE %I(TEXT, BIGINT) AS
                SELECT * FROM plate_events AS e
                WHERE e.captured_at >= %L AND e.captured_at < %L
                  AND e.plate_normalized_text = $1
                ORDER BY e.captured_at DESC, e.event_id DESC
                LIMIT $2$p$,
                stmt, read_day::timestamp AT TIME ZONE 'UTC',
                (read_day + 1)::timestamp AT TIME ZONE 'UTC');
            RETURN QUERY EXECUTE run;
        END;
        GET DIAGNOSTICS found_rows = ROW_COUNT;
        left_over := left_over - found_rows;
        EXIT WHEN left_over <= 0;
    END LOOP;
END;
$$;

-- name: regular_plates
-- Plates read on at least 20 days (a page of 20 walks about 20 days).
SELECT plate_normalized_text FROM plate_days
GROUP BY plate_normalized_text HAVING count(*) >= 20
ORDER BY random() LIMIT $1;

-- name: random_plates
SELECT plate_normalized_text FROM plates ORDER BY random() LIMIT $1;

-- name: current_page
SELECT event_id FROM alpr_reads(
    $1, NULL, NULL, NULL, NULL, NULL, NULL, false, $2, NULL, NULL, NULL, NULL, NULL);

-- name: prepared_page
SELECT event_id FROM pg_temp.reads_prepared($1, $2);

-- name: plan_memory
-- Bytes the connection's cached plans hold, and its prepared statements.
SELECT (SELECT sum(total_bytes)::float8 FROM pg_backend_memory_contexts
        WHERE name IN ('CachedPlan', 'CachedPlanSource', 'CachedPlanQuery')),
       (SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'bench_day_%');
