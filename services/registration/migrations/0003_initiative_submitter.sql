-- Who submitted each initiative (the audit trail), as the `actor` of its event. A unit above
-- the districts has no district, so an initiative of the city federation itself has none.
ALTER TABLE initiatives ADD COLUMN submitted_by jsonb;
ALTER TABLE initiatives ALTER COLUMN district DROP NOT NULL;
