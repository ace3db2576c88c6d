-- 0020/0021 gave the two GIN indexes on plates a 256 kB pending list because
-- every plates update used to add entries to it, and searches scan the list
-- in full. Since 0040 those updates are HOT and add nothing: only new plates
-- do. The small list made each writer flush it every few batches (measured:
-- 11.5k reads/s with 256 kB against 19.5k with the default 4 MB). Back to
-- the default; the ingestor merges the lists every few seconds instead
-- (gin_clean_pending_list), so searches still find them nearly empty.
ALTER INDEX plates_trgm RESET (gin_pending_list_limit);
ALTER INDEX plates_skeleton_keys RESET (gin_pending_list_limit);
