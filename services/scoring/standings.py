"""Standings as SQL: units ranked on the rule set's basis, members by points, within a scope,
from live totals or from the facts priced under any rule set (what-if). Read-only statements.

Parameters of every statement: $1 campaign, $2 phase, $3 the rule set (JSON, defaults merged
in), $4 scope kind, $5 scope id. The phase's tree is read as of its last day (`ends_on` of the
launched phase; today when the launch is unseen), so a unit ranks in the district it belonged
to during the phase.
"""

from __future__ import annotations

from .points import points_of, prices

_AS_OF = """
    SELECT coalesce(
        (SELECT (p->>'ends_on')::date FROM campaign_rules AS cr,
                jsonb_array_elements(cr.phases) AS p
         WHERE cr.campaign_id = $1 AND p->>'phase_id' = $2 LIMIT 1),
        current_date) AS as_of, $3::jsonb AS r"""



def _state_on(table: str, key: str, value: str) -> str:
    """The directory row of `value` whose state began last on or before the phase's day (it
    holds that day if its range contains it): one probe of the (id, effective_from) primary
    key, where the GiST index on (id, valid) is several times slower per row."""
    return f"""SELECT * FROM {table}
               WHERE {key} = {value} AND effective_from <= params.as_of
               ORDER BY effective_from DESC LIMIT 1"""


LIVE_UNIT_TOTALS = """
    SELECT subject_id AS unit_id, total_points FROM scores
    WHERE campaign_id = $1 AND phase_id = $2 AND subject_kind = 'unit'"""

PRICED_UNIT_TOTALS = f"""
    SELECT f.unit_id, sum({points_of("f", "pr")}) AS total_points
    FROM facts AS f CROSS JOIN (SELECT {prices("params.r")} FROM params OFFSET 0) AS pr  -- once
    WHERE f.campaign_id = $1 AND f.phase_id = $2 AND f.credit_unit
    GROUP BY f.unit_id"""

LIVE_MEMBER_TOTALS = """
    SELECT subject_id AS member_id, unit_id, total_points FROM scores
    WHERE campaign_id = $1 AND phase_id = $2 AND subject_kind = 'member'"""

PRICED_MEMBER_TOTALS = f"""
    SELECT m.member_id, (array_agg(f.unit_id ORDER BY f.occurred_at DESC))[1] AS unit_id,
           sum({points_of("f", "pr")}) AS total_points
    FROM facts AS f CROSS JOIN (SELECT {prices("params.r")} FROM params OFFSET 0) AS pr  -- once
    CROSS JOIN LATERAL unnest(f.member_ids) AS m(member_id)
    WHERE f.campaign_id = $1 AND f.phase_id = $2
    GROUP BY m.member_id"""


def unit_standings(totals: str) -> str:
    """Units of the scope, ranked. Bases (`unit_score_basis`):

    - `total`: points;
    - `per_100_members`: 100 * points / members;
    - `shrunk_per_100_members`: 100 * (points + k * mean) / (members + k), k =
      `shrinkage_members`, mean = the phase's points per member over every scored unit of
      known size (city-wide, whatever the scope);
    - `beat_pledge`: units that pledged targets and met them all come first, by accepted
      initiatives; the others follow, by the same count.

    Equal ranking points share a rank; the listing order is then more points, then unit id.
    """
    return f"""
WITH params AS ({_AS_OF}),
totals AS MATERIALIZED ({totals}),
placed AS MATERIALIZED (
    SELECT t.unit_id, t.total_points, d.name, d.member_count, d.district_id, d.sector
    FROM totals AS t CROSS JOIN params
    LEFT JOIN LATERAL ({_state_on("directory_units", "unit_id", "t.unit_id")}) AS d
           ON d.valid @> params.as_of
),
mean AS MATERIALIZED (
    SELECT coalesce(sum(total_points) / nullif(sum(member_count), 0), 0) AS rate
    FROM placed WHERE member_count > 0
),
in_scope AS (
    SELECT * FROM placed WHERE CASE $4::text
        WHEN 'city' THEN true
        WHEN 'district' THEN district_id = $5
        WHEN 'sector' THEN sector = $5
        WHEN 'cluster' THEN unit_id = ANY(
            SELECT unnest(member_unit_ids) FROM directory_clusters WHERE cluster_id = $5)
        ELSE false END
),
scored AS (
    SELECT s.*, c.accepted AS accepted_initiatives,
           c.pledged AS targets_pledged, c.met AS targets_met,
           c.pledged > 0 AND c.met = c.pledged AS beat_pledge,
           params.r->>'unit_score_basis' AS basis,
           round(CASE params.r->>'unit_score_basis'
               WHEN 'total' THEN s.total_points
               WHEN 'per_100_members' THEN 100 * s.total_points / nullif(s.member_count, 0)
               WHEN 'shrunk_per_100_members' THEN
                   100 * (s.total_points + (params.r->>'shrinkage_members')::numeric * mean.rate)
                   / nullif(coalesce(s.member_count, 0)
                            + (params.r->>'shrinkage_members')::numeric, 0)
               WHEN 'beat_pledge' THEN c.accepted
           END, 4) AS ranking_points
    FROM in_scope AS s CROSS JOIN params CROSS JOIN mean
    -- each unit's counts by a probe of its facts (facts_by_phase): a join of per-unit
    -- aggregates may be planned as a nested loop over both, n² for the city's units
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE f.rule IN ('pledge_target_pending', 'pledge_target_met',
                                                 'pledge_target_missed')) AS pledged,
               count(*) FILTER (WHERE f.rule = 'pledge_target_met') AS met,
               count(*) FILTER (WHERE f.rule = 'initiative_accepted') AS accepted
        FROM facts AS f
        WHERE f.campaign_id = $1 AND f.phase_id = $2 AND f.unit_id = s.unit_id) AS c
), ordered AS (
    SELECT *, basis <> 'beat_pledge' OR beat_pledge AS qualified FROM scored
)
SELECT rank() OVER (ORDER BY qualified DESC, ranking_points DESC NULLS LAST) AS rank,
       row_number() OVER (ORDER BY qualified DESC, ranking_points DESC NULLS LAST,
                          total_points DESC, unit_id) AS position,
       'unit' AS subject_kind, unit_id AS subject_id, name, total_points, ranking_points,
       member_count, district_id, sector, accepted_initiatives, targets_pledged, targets_met,
       beat_pledge, NULL::boolean AS direct_worker, unit_id
FROM ordered"""


def member_standings(totals: str) -> str:
    """Members of a unit, of a district, or of the city, ranked by points."""
    return f"""
WITH params AS ({_AS_OF}),
totals AS MATERIALIZED ({totals}),
placed AS MATERIALIZED (
    SELECT t.member_id, t.total_points, dm.full_name, dm.direct_worker,
           coalesce(dm.unit_id, t.unit_id) AS unit_id, du.district_id
    FROM totals AS t CROSS JOIN params
    LEFT JOIN LATERAL ({_state_on("directory_members", "member_id", "t.member_id")}) AS dm
           ON dm.valid @> params.as_of
    LEFT JOIN LATERAL ({_state_on("directory_units", "unit_id", "coalesce(dm.unit_id, t.unit_id)")})
           AS du ON du.valid @> params.as_of
),
in_scope AS (
    SELECT * FROM placed WHERE CASE $4::text
        WHEN 'city' THEN true
        WHEN 'district' THEN district_id = $5
        WHEN 'unit' THEN unit_id = $5
        ELSE false END
)
SELECT rank() OVER (ORDER BY total_points DESC) AS rank,
       row_number() OVER (ORDER BY total_points DESC, member_id) AS position,
       'member' AS subject_kind, member_id AS subject_id, full_name AS name, total_points,
       total_points AS ranking_points, NULL::integer AS member_count, district_id,
       NULL::text AS sector, NULL::bigint AS accepted_initiatives,
       NULL::bigint AS targets_pledged, NULL::bigint AS targets_met,
       NULL::boolean AS beat_pledge, direct_worker, unit_id
FROM in_scope"""


def page(standings: str) -> str:
    """A page of standings: positions after $6, at most $7."""
    return f"SELECT * FROM ({standings}) AS s WHERE position > $6 ORDER BY position LIMIT $7"
