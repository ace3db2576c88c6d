-- Keys for list managers (`hotlist`: lists, entries, imports, webhooks) and
-- for the control room (`triage`: acknowledge and close alerts).
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (scopes <@ ARRAY['read', 'ingest', 'admin', 'hotlist', 'triage']);
