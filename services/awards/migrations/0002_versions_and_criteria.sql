-- The version of the score change whose total a standing holds (null: only unversioned
-- changes seen): an older version arriving late is ignored.
ALTER TABLE subject_standings ADD COLUMN subject_version bigint;

-- Each title's criteria against the latest standing, met or missing and by how much: kept on
-- every evaluation, while `eligible` and `reason` change only when announced.
ALTER TABLE eligibility ADD COLUMN criteria jsonb NOT NULL DEFAULT '[]';
