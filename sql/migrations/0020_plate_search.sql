-- Fuzzy plate search as an index lookup (schema/search.py explains the idea).
--
-- A plate's skeleton replaces each OCR-confusable character by its class
-- representative (schema/plates.py OCR_SKELETON; a unit test checks the
-- translate() strings against it), so misreads inside a class share one
-- skeleton. The GIN index holds every plate's skeleton and its
-- single-character deletions; a query looks up its own, and every plate a
-- plain edit or two away turns up as a candidate to verify.
--
-- Expression index, not a column: the writer's statements stay as they are,
-- and PostgreSQL keeps the index current on every insert and update.
-- BEGIN ATOMIC bodies bind their references when created, so the index
-- expressions do not depend on the search_path of whoever writes.
CREATE FUNCTION alpr_plate_skeleton(plate TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN translate(plate, '7BDGILMNOQSTVZ', '180611HH0051U2');

CREATE FUNCTION alpr_plate_deletes(plate TEXT) RETURNS TEXT[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT array_agg(DISTINCT variant)
    FROM (
        SELECT alpr_plate_skeleton(plate) AS variant
        UNION ALL
        SELECT overlay(alpr_plate_skeleton(plate) PLACING '' FROM i FOR 1)
        FROM generate_series(1, length(plate)) AS i
    ) AS variants;
END;

-- GIN's fast-update pending list is scanned in full by every search until
-- vacuum merges it, and `plates` is updated with every read (never HOT: its
-- last_seen is indexed), so the default 4 MB list filled up and made fuzzy
-- search 50-80 ms. Measured on 40 k plates after 20 k updates: default list
-- 68 ms fuzzy / 0.5 s of updates; 256 kB 4-15 ms / 1.4-2.3 s; no list
-- (fastupdate off) 1.7 ms / 3 s. 256 kB keeps search under target at a
-- bounded cost to the writer; the same for the trigram index wildcard uses.
CREATE INDEX plates_skeleton_deletes ON plates
    USING gin (alpr_plate_deletes(plate_normalized_text))
    WITH (gin_pending_list_limit = 256);
ALTER INDEX plates_trgm SET (gin_pending_list_limit = 256);
