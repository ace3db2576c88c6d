-- Unique plates over a time window, at a cost that does not grow with reads.
--
-- plate_days answers "how many distinct plates between two days" with a
-- distinct count over its rows: at 10 M reads (150,000 plate-days a day)
-- 0.11 s for the last 24 hours and 2.4 s for 30 days. Here each plate gets
-- a dense number, and each UTC day a bitmap of the numbers of the plates
-- read that day, cut into chunks of 16,384 bits (2 KiB). The plates of a
-- window are the OR of its days' chunks, counted with bit_count: 30 days of
-- 1.25 M plates are 2,300 chunks, a few milliseconds. Exact, like the count
-- it replaces; plate_days stays the list the bitmaps are built from.

-- Numbers are given once, as a plate is first stored (the writer's
-- upsert_plates) and go with it (retention's purge_plates), so they stay
-- dense: an identity column on `plates` would draw a value for every row an
-- upsert proposes, existing plates included.
CREATE TABLE plate_numbers (
    plate_normalized_text VARCHAR(20) PRIMARY KEY,
    plate_id INTEGER GENERATED ALWAYS AS IDENTITY (MINVALUE 0 START WITH 0) NOT NULL
);
INSERT INTO plate_numbers (plate_normalized_text)
SELECT plate_normalized_text FROM plates ORDER BY first_seen, plate_normalized_text;

-- Keyed by chunk first: a window is counted chunk by chunk, each an index
-- range over its days, with no sort of 2 KiB rows (30 days: 6.7 -> 3.3 ms).
CREATE TABLE plate_day_bits (
    chunk INTEGER NOT NULL,          -- plate_id >> 14
    day DATE NOT NULL,
    bits BIT VARYING(16384) NOT NULL, -- bit (plate_id & 16383), numbered from the left
    PRIMARY KEY (chunk, day)
);
-- Kept in the row, uncompressed: a 2 KiB chunk fits a page, and a window's
-- OR then reads plain pages instead of fetching and inflating each chunk
-- from TOAST (30 days at 10 M reads: 11 -> 7 ms, before the chunk-first key).
ALTER TABLE plate_day_bits ALTER COLUMN bits SET STORAGE PLAIN;

-- A chunk with the given bits set. Writer, retention and backfill build
-- chunks with it alone.
CREATE FUNCTION alpr_plate_bits(positions INTEGER[]) RETURNS BIT VARYING
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    bits BIT VARYING := repeat('0', 16384)::BIT VARYING;
    n INTEGER;
BEGIN
    FOREACH n IN ARRAY positions LOOP
        bits := set_bit(bits, n, 1);
    END LOOP;
    RETURN bits;
END
$$;

-- The chunks of the days up to `through` (NULL: every day) built again from
-- plate_days: the backfill below, and retention after it removed plate-days.
CREATE FUNCTION alpr_rebuild_plate_day_bits(through DATE) RETURNS VOID
LANGUAGE sql AS $$
    DELETE FROM plate_day_bits WHERE through IS NULL OR day <= through;
    INSERT INTO plate_day_bits (chunk, day, bits)
    SELECT p.plate_id >> 14, d.day, alpr_plate_bits(array_agg(p.plate_id & 16383))
    FROM plate_days AS d
    JOIN plate_numbers AS p USING (plate_normalized_text)
    WHERE through IS NULL OR d.day <= through
    GROUP BY 1, 2;
$$;

SELECT alpr_rebuild_plate_day_bits(NULL);
