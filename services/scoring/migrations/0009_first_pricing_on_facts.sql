-- The ledger's lines of a fact's first pricing are derived from the fact row instead of being
-- stored: ~1.9 lines and their two index entries per event become ~0.5 (only changes of a
-- fact's points are stored). A fact priced for the first time from nothing earns each subject
-- it credits the same amount, under one rule, for one event: its row already holds the amount,
-- the rule and the subjects (`0008`); it keeps the entry id, event and time of that pricing.
--
-- The stored lines keep their table under a new name; `score_entries` becomes the view of the
-- whole ledger, stored lines and derived ones, so its readers see the lines they saw before.
ALTER TABLE score_entries RENAME TO ledger_changes;
ALTER SEQUENCE score_entries_entry_id_seq RENAME TO ledger_entry_ids;

-- The first pricing (none while a fact has earned nothing): its lines carry `first_entry_id`
-- (every subject's line the same id: a subject has one line per fact and pricing, and ids
-- are read per subject) and `first_source_event_id`, `first_recorded_at`. While the fact is
-- priced as then, its `priced_rule`, `points`, `priced_unit`, `priced_members` are the lines'
-- rule, points and subjects; the first pricing that moves them copies them into the `first_*`
-- columns below. None of these columns is in an index: the updates stay on the fact's page.
ALTER TABLE facts
    ADD COLUMN first_entry_id        bigint,
    ADD COLUMN first_source_event_id text,
    ADD COLUMN first_recorded_at     timestamptz,
    ADD COLUMN first_rule            text,
    ADD COLUMN first_points          numeric,
    ADD COLUMN first_unit            boolean,
    ADD COLUMN first_members         text[];

-- Facts priced before this migration keep their lines stored (their `first_entry_id` is null).
CREATE VIEW score_entries AS
SELECT entry_id, campaign_id, phase_id, subject_kind, subject_id, points, reason,
       source_event_id, recorded_at, fact_id
FROM ledger_changes
UNION ALL
SELECT f.first_entry_id, f.campaign_id, f.phase_id, s.subject_kind, s.subject_id,
       CASE WHEN f.first_rule IS NULL THEN f.points ELSE f.first_points END,
       coalesce(f.first_rule, f.priced_rule), f.first_source_event_id, f.first_recorded_at,
       f.fact_id
FROM facts AS f
CROSS JOIN LATERAL (
    SELECT 'unit'::text, f.unit_id
    WHERE CASE WHEN f.first_rule IS NULL THEN f.priced_unit ELSE f.first_unit END
    UNION ALL
    SELECT 'member', m
    FROM unnest(CASE WHEN f.first_rule IS NULL THEN f.priced_members ELSE f.first_members END)
         AS m) AS s(subject_kind, subject_id)
WHERE f.first_entry_id IS NOT NULL;
