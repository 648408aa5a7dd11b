-- Each subject's score row counts the changes applied to it: the version that score.changed
-- carries, bumped in the same statement as the total, so readers can drop a stale change.
ALTER TABLE scores ADD COLUMN version bigint NOT NULL DEFAULT 0;
