"""A phase's proposal round placed, stored and announced by PostgreSQL: set-based SQL, title by
title, level by level.

The rules are those of `proposal_round` (the pure reference, which the tests hold this module
to on random inputs), written as statements over temporary tables of the round's transaction
(`round_tables`): per title, one statement keeps who meets its criteria and one stores the
excluded (`round_criteria`); per level, one statement ranks the rest against the quotas, stores
every placement in `proposals` and writes each proposal within quota into the outbox as
`thidua.award.proposed.v1` (`round_ranking`, `round_records`). Nothing is written twice: no
staging table of placements, no second pass over them.

A round is a fixed number of statements whatever the number of candidates: the cost is
PostgreSQL's sorting and writing, not round trips.
"""

from __future__ import annotations

from datetime import date

import asyncpg

from contracts.events.rules import AwardRules

from .round_criteria import excluded, qualifying
from .round_ranking import level_statement
from .round_records import RoundStamp
from .round_tables import stage


async def place(conn: asyncpg.Connection, stamp: RoundStamp, rules: AwardRules, on: date,
                unit_basis: str) -> tuple[int, int]:
    """Place every candidate of the round as `proposal_round.propose` would, store each
    placement in `proposals` and announce those within quota; give (placements, announced).
    The relay is woken at commit."""
    await stage(conn, stamp.campaign_id, stamp.phase_id, rules, stamp.year, on, unit_basis)
    placements = announced = 0
    for rule in rules.titles:
        if not rule.levels or not rule.computed:
            continue  # nominated by peers
        await conn.execute("TRUNCATE round_qualified")
        sql, args = qualifying(rule, stamp.year)
        await conn.execute(sql, *args)
        sql, args = excluded(rule, stamp)
        placements += int((await conn.execute(sql, *args)).split()[-1])
        for index, level in enumerate(rule.levels):
            below = rule.levels[index - 1] if index and rules.higher_level_requires_lower else None
            sql, args = level_statement(rule, level, below, rules, stamp)
            row = await conn.fetchrow(sql, *args)
            placements, announced = placements + row[0], announced + row[1]
    if announced:
        await conn.execute("SELECT pg_notify(current_schema() || '_outbox', '')")
    return placements, announced
