-- Which transaction last changed an entry (added, edited, removed): the
-- alert matcher holds patterns and fuzzy entries in memory and, when a
-- list's revision moves, reloads only the entries changed since its copy.
-- A transaction id, not a time or a sequence, because changes commit out
-- of order: a reader's snapshot xmin is a horizon below which every
-- transaction has ended, so "changed_xid >= the horizon of the last load"
-- never misses a change (the follower of stored batches argues the same).
ALTER TABLE hotlist_entries
    ADD COLUMN changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id();

CREATE FUNCTION alpr_hotlist_entry_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;

CREATE TRIGGER hotlist_entries_changed
    BEFORE UPDATE ON hotlist_entries
    FOR EACH ROW EXECUTE FUNCTION alpr_hotlist_entry_changed();

CREATE INDEX hotlist_entries_changes ON hotlist_entries (hotlist_id, changed_xid);
