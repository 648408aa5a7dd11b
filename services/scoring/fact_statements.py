"""The statements of scoring's write path, run by `repository.py` inside the batch transaction:
the batch's record (submissions, reviews, facts, and the facts of the initiatives reviewed, in
one statement), and the reprice that turns what the touched facts earn into ledger lines,
totals, versions and the batch's counts in one statement. A batch costs these two round trips
whatever its size (three when a target is pledged and its result reported in the same batch).
"""

from __future__ import annotations

from .points import campaign_rules_of, points_of, prices

_FACT_COLUMNS = ("fact_id", "rule", "campaign_id", "phase_id", "unit_id", "district",
                 "credit_unit", "member_ids", "level", "grade", "benefit_vnd", "target_value",
                 "achieved_value", "source_event_id", "occurred_at")
_FACT_TYPES = ("text", "text", "text", "text", "text", "text", "boolean", "text", "text",
               "text", "bigint", "numeric", "numeric", "text", "timestamptz")

# A pledged target (`pledge_target_pending`) only sets the target value of a fact a result
# report reached first; any other state replaces an older one.
_PLEDGED = "(EXCLUDED.rule = 'pledge_target_pending')"


# The facts' upsert, its columns' arrays $1 to $15 (the record statement's other parts follow).
UPSERT_FACTS = f"""
    INSERT INTO facts AS f ({", ".join(_FACT_COLUMNS)})
    SELECT i.fact_id, i.rule, i.campaign_id, i.phase_id, i.unit_id, i.district, i.credit_unit,
           -- unnest flattens arrays of arrays, so each fact's members travel as a JSON array
           ARRAY(SELECT jsonb_array_elements_text(i.member_ids::jsonb)),
           i.level, i.grade, i.benefit_vnd, i.target_value, i.achieved_value,
           i.source_event_id, i.occurred_at
    FROM unnest({", ".join(f"${n}::{t}[]" for n, t in enumerate(_FACT_TYPES, start=1))})
         AS i({", ".join(_FACT_COLUMNS)})
    ON CONFLICT (fact_id) DO UPDATE SET
        rule = CASE WHEN {_PLEDGED} THEN f.rule ELSE EXCLUDED.rule END,
        target_value = coalesce(EXCLUDED.target_value, f.target_value),
        achieved_value = CASE WHEN {_PLEDGED} THEN f.achieved_value
                              ELSE EXCLUDED.achieved_value END,
        source_event_id = CASE WHEN {_PLEDGED} THEN f.source_event_id
                               ELSE EXCLUDED.source_event_id END,
        occurred_at = CASE WHEN {_PLEDGED} THEN f.occurred_at ELSE EXCLUDED.occurred_at END,
        district = EXCLUDED.district, member_ids = EXCLUDED.member_ids,
        level = EXCLUDED.level, grade = EXCLUDED.grade, benefit_vnd = EXCLUDED.benefit_vnd
    WHERE {_PLEDGED} OR f.rule = 'pledge_target_pending' OR EXCLUDED.occurred_at >= f.occurred_at
"""

# Each submission's authors and claimed benefit (a redelivery changes nothing), and each
# council's latest decision per initiative and level; from $16 on, after the facts' columns.
_SUBMISSIONS = """
    INSERT INTO initiatives (initiative_id, campaign_id, phase_id, unit_id, author_ids,
                             claimed_benefit_vnd, source_event_id, submitted_at)
    SELECT i, c, p, u, ARRAY(SELECT jsonb_array_elements_text(a::jsonb)), b, e, s
    FROM unnest($16::text[], $17::text[], $18::text[], $19::text[], $20::text[],
                $21::bigint[], $22::text[], $23::timestamptz[]) AS t(i, c, p, u, a, b, e, s)
    ON CONFLICT (initiative_id) DO NOTHING"""
_REVIEWS = """
    INSERT INTO initiative_reviews AS r (
        initiative_id, level, level_rank, outcome, grade, recognised_benefit_vnd,
        campaign_id, phase_id, unit_id, district, source_event_id, reviewed_at)
    SELECT * FROM unnest($24::text[], $25::text[], $26::smallint[], $27::text[], $28::text[],
                         $29::bigint[], $30::text[], $31::text[], $32::text[], $33::text[],
                         $34::text[], $35::timestamptz[])
    ON CONFLICT (initiative_id, level) DO UPDATE
       SET outcome = EXCLUDED.outcome, grade = EXCLUDED.grade,
           recognised_benefit_vnd = EXCLUDED.recognised_benefit_vnd,
           campaign_id = EXCLUDED.campaign_id, phase_id = EXCLUDED.phase_id,
           district = EXCLUDED.district, source_event_id = EXCLUDED.source_event_id,
           reviewed_at = EXCLUDED.reviewed_at
       WHERE EXCLUDED.reviewed_at >= r.reviewed_at"""
# The fact of an initiative's review: the accepted decision of the highest level (a district
# acceptance replaces the grassroots one's points), else the latest rejection; credited to
# its unit and to every author of its submission (none until the submission is seen). Read
# from the reviews and submissions as the batch's record leaves them: its statement sees the
# tables as they were, so those are the stored rows with the batch's own laid over them by
# the upserts' rules (a decision as late as the stored one replaces it; the first submission
# stays). $36: the initiatives the batch brings, whose stored rows are read by key probes
# (OFFSET 0 keeps each probe from being flattened into a join a plan may make a scan).
_INITIATIVE_FACTS = """
    INSERT INTO facts AS f (fact_id, rule, campaign_id, phase_id, unit_id, district, credit_unit,
                            member_ids, level, grade, benefit_vnd, source_event_id, occurred_at)
    SELECT 'initiative:' || r.initiative_id,
           CASE WHEN r.outcome = 'accepted' THEN 'initiative_accepted'
                ELSE 'initiative_rejected' END,
           r.campaign_id, r.phase_id, r.unit_id, r.district, true,
           coalesce(a.author_ids, '{}'), r.level, r.grade, r.recognised_benefit_vnd,
           r.source_event_id, r.reviewed_at
    FROM (SELECT DISTINCT ON (initiative_id) *
          FROM (SELECT DISTINCT ON (initiative_id, level) *
                FROM (SELECT r.*, false AS incoming FROM unnest($36::text[]) AS k(id)
                      CROSS JOIN LATERAL (SELECT * FROM initiative_reviews
                                          WHERE initiative_id = k.id OFFSET 0) AS r
                      UNION ALL
                      SELECT *, true FROM unnest(
                          $24::text[], $25::text[], $26::smallint[], $27::text[], $28::text[],
                          $29::bigint[], $30::text[], $31::text[], $32::text[], $33::text[],
                          $34::text[], $35::timestamptz[])) AS both_sides
                ORDER BY initiative_id, level, reviewed_at DESC, incoming DESC) AS latest
          ORDER BY initiative_id, outcome = 'accepted' DESC, level_rank DESC,
                   reviewed_at DESC) AS r
    LEFT JOIN (SELECT DISTINCT ON (initiative_id) initiative_id, author_ids
               FROM (SELECT s.initiative_id, s.author_ids, 0::bigint AS n
                     FROM unnest($36::text[]) AS k(id)
                     CROSS JOIN LATERAL (SELECT initiative_id, author_ids FROM initiatives
                                         WHERE initiative_id = k.id OFFSET 0) AS s
                     UNION ALL
                     SELECT i, ARRAY(SELECT jsonb_array_elements_text(a::jsonb)), n
                     FROM unnest($16::text[], $20::text[]) WITH ORDINALITY AS t(i, a, n))
                    AS known
               ORDER BY initiative_id, n) AS a USING (initiative_id)
    ON CONFLICT (fact_id) DO UPDATE SET
        rule = EXCLUDED.rule, campaign_id = EXCLUDED.campaign_id, phase_id = EXCLUDED.phase_id,
        district = EXCLUDED.district, member_ids = EXCLUDED.member_ids,
        level = EXCLUDED.level, grade = EXCLUDED.grade, benefit_vnd = EXCLUDED.benefit_vnd,
        source_event_id = EXCLUDED.source_event_id, occurred_at = EXCLUDED.occurred_at
    WHERE (f.rule, f.member_ids, f.level, f.grade, f.benefit_vnd, f.source_event_id)
          IS DISTINCT FROM (EXCLUDED.rule, EXCLUDED.member_ids, EXCLUDED.level, EXCLUDED.grade,
                            EXCLUDED.benefit_vnd, EXCLUDED.source_event_id)
"""
# Three tables and the initiative facts that read two of them, in one round trip: no part
# changes a row another part changes (initiative facts have ids of their own).
RECORD_BATCH = f"""
WITH submitted AS ({_SUBMISSIONS}), reviewed AS ({_REVIEWS}),
     initiative_facts AS ({_INITIATIVE_FACTS})
{UPSERT_FACTS}"""

# What the touched facts earn now against what they earned: the differences become ledger
# lines (caused by the fact's event, or by $3 when given: a campaign's rules arriving) and
# are added to the subjects' totals, each subject's version going up by its lines; the
# batch's counts ($4 to $7) are appended with, when $8 names the counter, the subjects announced
# per phase (one score.changed each). A fact
# keeps what it earns and whom it credited when last priced (`points`, `priced_*`), the same
# amount for each of its subjects. The lines of a fact's first pricing from nothing are not
# stored: the fact keeps their entry id, event and time (`first_*`), and the view
# `score_entries` derives them (migration 0009); only later changes go to `ledger_changes`.
REPRICE = f"""
WITH touched AS MATERIALIZED (
    -- a primary-key probe per fact, never a pass over the table: OFFSET 0 keeps the planner
    -- from flattening the probe into a join it may cost as a scan while statistics lag
    SELECT f.*, o.n AS fact_order
    FROM unnest($1::text[]) WITH ORDINALITY AS o(fact_id, n)
    CROSS JOIN LATERAL (SELECT * FROM facts WHERE facts.fact_id = o.fact_id OFFSET 0) AS f
), priced AS MATERIALIZED (  -- each touched campaign's prices, once
    SELECT c.campaign_id, {prices(campaign_rules_of("cr", "$2"))}
    FROM (SELECT DISTINCT campaign_id FROM touched) AS c
    LEFT JOIN campaign_rules AS cr USING (campaign_id)
), repriced AS MATERIALIZED (
    SELECT t.*, {points_of("t", "pr")} AS new_points
    FROM touched AS t JOIN priced AS pr USING (campaign_id)
), fresh AS (
    SELECT r.fact_id, c.subject_kind, c.subject_id, r.campaign_id, r.phase_id, r.unit_id,
           r.district, r.rule, r.source_event_id, r.fact_order, c.position,
           r.new_points AS points,
           -- priced from nothing for the first time: every line is the new amount for one
           -- of the subjects the fact credits, so the fact's row can stand for them
           (r.first_entry_id IS NULL AND coalesce(r.points, 0) = 0) AS first_pricing
    FROM repriced AS r
    CROSS JOIN LATERAL (SELECT 'unit', r.unit_id, 0::bigint WHERE r.credit_unit
                        UNION ALL
                        SELECT 'member', m, n FROM unnest(r.member_ids) WITH ORDINALITY AS a(m, n))
         AS c(subject_kind, subject_id, position)
), known AS (  -- what they earned, and whom, when last priced
    SELECT r.fact_id, k.subject_kind, k.subject_id, r.priced_rule AS rule, r.points
    FROM repriced AS r
    CROSS JOIN LATERAL (SELECT 'unit', r.unit_id WHERE r.priced_unit
                        UNION ALL
                        SELECT 'member', m FROM unnest(r.priced_members) AS m)
         AS k(subject_kind, subject_id)
    WHERE r.points IS NOT NULL
), diff AS (
    SELECT n.fact_id, n.subject_kind, n.subject_id, n.campaign_id, n.phase_id, n.unit_id,
           n.district, n.rule, n.source_event_id, n.points, n.fact_order, n.position,
           n.first_pricing, n.points - coalesce(k.points, 0) AS delta
    FROM fresh AS n
    LEFT JOIN known AS k USING (fact_id, subject_kind, subject_id)
), ordered AS MATERIALIZED (  -- the ledger lines, in the order they are written
    SELECT d.*, row_number() OVER (ORDER BY d.fact_order, d.position) AS line
    FROM diff AS d WHERE d.delta <> 0
), numbered AS MATERIALIZED (  -- entry ids in line order (nextval runs after the sort)
    SELECT o.*, nextval('ledger_entry_ids') AS entry_id FROM ordered AS o ORDER BY o.line
), firsts AS (  -- a first pricing's lines, kept on its fact: the first id stands for them all
    SELECT fact_id, min(entry_id) AS entry_id,
           (array_agg(coalesce($3::text, source_event_id)))[1] AS source_event_id
    FROM numbered WHERE first_pricing GROUP BY fact_id
), kept AS (
    -- in place (these columns are in no index), as an upsert: its arbiter probes the key for
    -- each fact whatever the plan, where an UPDATE's join may be planned as a pass over the
    -- table (a plan cached while the table was small). The fact exists (touched read it, and
    -- facts are never deleted), so the insert is never taken.
    INSERT INTO facts AS f ({", ".join(_FACT_COLUMNS)}, priced_rule, points, priced_unit,
                           priced_members, first_entry_id, first_source_event_id,
                           first_recorded_at)
    SELECT {", ".join(f"r.{c}" for c in _FACT_COLUMNS)}, r.rule, r.new_points, r.credit_unit,
           r.member_ids, fi.entry_id, fi.source_event_id,
           CASE WHEN fi.fact_id IS NOT NULL THEN now() END
    FROM repriced AS r LEFT JOIN firsts AS fi USING (fact_id)
    ON CONFLICT (fact_id) DO UPDATE
    SET priced_rule = EXCLUDED.priced_rule, points = EXCLUDED.points,
        priced_unit = EXCLUDED.priced_unit, priced_members = EXCLUDED.priced_members,
        first_entry_id = coalesce(EXCLUDED.first_entry_id, f.first_entry_id),
        first_source_event_id = coalesce(EXCLUDED.first_source_event_id,
                                         f.first_source_event_id),
        first_recorded_at = coalesce(EXCLUDED.first_recorded_at, f.first_recorded_at),
        -- the first pricing's lines read the pricing columns until they move off it; then
        -- (right-hand sides read the row as it was) they keep what the first pricing was
        first_rule = CASE WHEN f.first_entry_id IS NOT NULL AND f.first_rule IS NULL
                          THEN f.priced_rule ELSE f.first_rule END,
        first_points = CASE WHEN f.first_entry_id IS NOT NULL AND f.first_rule IS NULL
                            THEN f.points ELSE f.first_points END,
        first_unit = CASE WHEN f.first_entry_id IS NOT NULL AND f.first_rule IS NULL
                          THEN f.priced_unit ELSE f.first_unit END,
        first_members = CASE WHEN f.first_entry_id IS NOT NULL AND f.first_rule IS NULL
                             THEN f.priced_members ELSE f.first_members END
    WHERE (f.priced_rule, f.points, f.priced_unit, f.priced_members)
          IS DISTINCT FROM (EXCLUDED.priced_rule, EXCLUDED.points, EXCLUDED.priced_unit,
                            EXCLUDED.priced_members)
), lines AS (  -- stored: the changes of a fact's points after its first pricing
    INSERT INTO ledger_changes (entry_id, campaign_id, phase_id, subject_kind, subject_id,
                                points, reason, source_event_id, fact_id)
    SELECT entry_id, campaign_id, phase_id, subject_kind, subject_id, delta, rule,
           coalesce($3::text, source_event_id), fact_id
    FROM numbered WHERE NOT first_pricing ORDER BY line
), per_subject AS (  -- from the lines as written, not read back from the insert
    SELECT campaign_id, phase_id, subject_kind, subject_id,
           sum(delta) AS delta, count(*) AS changes, min(line) AS first_line,
           (array_agg(unit_id ORDER BY line DESC))[1] AS unit_id,
           (array_agg(district ORDER BY line DESC))[1] AS district,
           (array_agg(rule ORDER BY line DESC))[1] AS reason,
           (array_agg(coalesce($3::text, source_event_id) ORDER BY line DESC))[1]
               AS source_event_id
    FROM ordered
    GROUP BY campaign_id, phase_id, subject_kind, subject_id
), totals AS (
    INSERT INTO scores AS s (campaign_id, phase_id, subject_kind, subject_id, unit_id, district,
                             total_points, version)
    SELECT campaign_id, phase_id, subject_kind, subject_id, unit_id, district, delta, changes
    FROM per_subject
    ON CONFLICT (campaign_id, phase_id, subject_kind, subject_id) DO UPDATE
       SET total_points = s.total_points + EXCLUDED.total_points,
           version = s.version + EXCLUDED.version,
           unit_id = EXCLUDED.unit_id, district = EXCLUDED.district, updated_at = now()
    RETURNING campaign_id, phase_id, subject_kind, subject_id, total_points, version
), counted AS (
    INSERT INTO phase_counts (campaign_id, phase_id, counter, n)
    SELECT * FROM unnest($4::text[], $5::text[], $6::text[], $7::bigint[])
    UNION ALL
    SELECT campaign_id, phase_id, $8::text, count(*) FROM per_subject
    WHERE $8::text IS NOT NULL GROUP BY campaign_id, phase_id
)
SELECT t.campaign_id, t.phase_id, t.subject_kind, t.subject_id, p.unit_id,
       p.delta AS points_delta, t.total_points, t.version, p.reason, p.source_event_id
FROM totals AS t JOIN per_subject AS p USING (campaign_id, phase_id, subject_kind, subject_id)
ORDER BY p.first_line
"""
