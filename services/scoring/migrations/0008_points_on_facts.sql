-- What a fact earns is one amount, the same for every subject it credits (its unit, its
-- members): it is kept on the fact, with the subjects it was last priced for, instead of one
-- `fact_points` row per subject. A batch then updates each touched fact in place (the
-- columns below are in no index, so the update stays on the fact's page) instead of writing
-- ~2.2 rows and their two index entries per event.
ALTER TABLE facts
    ADD COLUMN priced_rule    text,                        -- the rule of the last pricing
    ADD COLUMN points         numeric,                     -- null until priced
    ADD COLUMN priced_unit    boolean NOT NULL DEFAULT false,  -- the unit was credited
    ADD COLUMN priced_members text[] NOT NULL DEFAULT '{}';    -- the members credited

UPDATE facts AS f
SET priced_rule = p.rule, points = p.points, priced_unit = p.unit, priced_members = p.members
FROM (SELECT fact_id, min(rule) AS rule, max(points) AS points,
             bool_or(subject_kind = 'unit') AS unit,
             coalesce(array_agg(subject_id ORDER BY subject_id)
                      FILTER (WHERE subject_kind = 'member'), '{}') AS members
      FROM fact_points GROUP BY fact_id) AS p
WHERE p.fact_id = f.fact_id;

DROP TABLE fact_points;

-- The breakdown of a total reads the facts that credit its subject: a unit's by unit, a
-- member's through the members a fact credits.
CREATE INDEX facts_by_unit ON facts (unit_id, fact_id);
-- Without the pending list: a fact credits one or two members, cheap to index at once, and a
-- batch never pays for flushing the list of many others (a latency spike).
CREATE INDEX facts_by_member ON facts USING gin (member_ids) WITH (fastupdate = off);

-- What each fact earns each subject now, row by row, as the table of that name held it.
CREATE VIEW fact_points AS
SELECT f.fact_id, s.subject_kind, s.subject_id, f.campaign_id, f.phase_id,
       f.priced_rule AS rule, f.points
FROM facts AS f
CROSS JOIN LATERAL (SELECT 'unit'::text, f.unit_id WHERE f.priced_unit
                    UNION ALL
                    SELECT 'member', m FROM unnest(f.priced_members) AS m)
     AS s(subject_kind, subject_id)
WHERE f.points IS NOT NULL;
