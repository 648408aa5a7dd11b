-- Duplicate detection at submission: trigram similarity (pg_trgm) of accent-folded (unaccent),
-- lower-cased titles, so "Ứng dụng phần mềm" and "ung dung phan mem" compare equal. Each
-- extension is installed once per database, in public, while every service schema may run
-- this file at once: the transaction-level lock makes concurrent installs wait for the first.
SELECT pg_advisory_xact_lock(hashtext('thidua-create-extension-pg_trgm'));
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
SELECT pg_advisory_xact_lock(hashtext('thidua-create-extension-unaccent'));
CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public;

-- The title as compared: accents folded (đ → d), lower case, spaces collapsed. Immutable (the
-- dictionary is named), so it can fill a stored column.
CREATE FUNCTION initiative_title_key(title text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT btrim(regexp_replace(
              lower(public.unaccent('public.unaccent'::regdictionary, title)), '\s+', ' ', 'g')) $$;

ALTER TABLE initiatives
    ADD COLUMN title_key text GENERATED ALWAYS AS (initiative_title_key(title)) STORED,
    -- Earlier initiatives whose title looked alike at submission: [{initiative_id, title,
    -- similarity}], most similar first.
    ADD COLUMN duplicate_candidates jsonb NOT NULL DEFAULT '[]';
CREATE INDEX initiatives_title_trigrams ON initiatives USING gin (title_key public.gin_trgm_ops);
