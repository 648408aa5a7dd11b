"""Scoring's score changes fed to awards out of order, as several partitions deliver them.

A member credited by two units has score changes keyed by each unit, so on two partitions;
awards must end on the latest total and never contradict an eligibility it announced.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from contracts import new_event
from contracts.events.initiatives import InitiativeAuthor, InitiativeSubmitted
from services.awards.handlers import handlers as awards_handlers
from services.awards.repository import AwardsRepository
from services.scoring.handlers import handlers as scoring_handlers
from services.scoring.repository import ScoringRepository
from tests.support.handler_harness import ServiceUnderTest, open_harness

pytestmark = pytest.mark.integration

SERVICES = Path(__file__).parents[3] / "services"
SCORING = ServiceUnderTest("scoring", scoring_handlers, ScoringRepository,
                           SERVICES / "scoring" / "migrations")
AWARDS = ServiceUnderTest("awards", awards_handlers, AwardsRepository,
                          SERVICES / "awards" / "migrations")


def submitted(unit_id: str, n: int):
    data = InitiativeSubmitted(
        initiative_id=f"ini-{n}", campaign_id="cmp", phase_id="cmp-p1", unit_id=unit_id,
        title=f"Sáng kiến {n}", field="kỹ thuật",
        authors=[InitiativeAuthor(member_id="m-7", full_name="Tác giả", direct_worker=True)],
        claimed_benefit_vnd=1_000_000, submitted_at=datetime(2025, 6, 1, tzinfo=UTC),
    )
    return new_event(data, source="/thidua/registration", district="d-dongda")


async def test_a_members_changes_from_two_units_delivered_out_of_order_never_flip_back(
    database_url,
):
    async with open_harness(database_url, SCORING) as scoring, \
            open_harness(database_url, AWARDS) as awards:
        # Twelve submissions, alternately of two units, each its own batch: 2 points each.
        for n in range(12):
            await scoring.apply(submitted("u-a" if n % 2 else "u-b", n))
        changes = [e for e in await scoring.emitted() if e.data.subject_id == "m-7"]
        assert [c.data.subject_version for c in changes] == list(range(1, 13))
        by_unit = {unit: [c for c in changes if c.data.unit_id == unit] for unit in ("u-a", "u-b")}
        # u-a's partition delivers all its changes first, one batch each; u-b's come late.
        for change in by_unit["u-a"]:
            await awards.apply(awards.record(change, partition=1))
        for change in by_unit["u-b"]:
            await awards.apply(awards.record(change, partition=2))
        total = await awards.pool.fetchval(
            "SELECT total_points FROM subject_standings WHERE subject_id = 'm-7'")
        assert total == Decimal(24)
        verdicts = [e.data.eligible for e in await awards.emitted()
                    if e.data.title == "good_worker"]
        assert verdicts == [False, True]  # eligible at version 10 (20 points), never taken back
