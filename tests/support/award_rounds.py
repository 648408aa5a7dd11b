"""Award rounds on the real broker for end-to-end tests: a campaign's rule set, initiatives,
score changes and the phase-wide final standings published on Kafka, then the proposals awards
stored; approvals and granted events read back."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from contracts import decode_event, new_event
from contracts.events.campaigns import CampaignLaunched, Phase
from contracts.events.initiatives import InitiativeAuthor, InitiativeReviewed, InitiativeSubmitted
from contracts.events.rules import AwardRules
from contracts.events.scores import PhaseStandingsFinalized, ScoreChanged
from contracts.topics import AWARDS
from services.devstack.demo_directory import CITY, SCHOOL, TEACHER, WARD_LANG, publish_org_events
from tests.support.kafka_log import read_topic, wait_for

CHAIR = "m-lt-0012"
SIGNED = {"signatory": "Trần Văn Minh, Chủ tịch công đoàn"}


async def round_of(system, infrastructure, rules: AwardRules,
                   initiative_authors: list[str] = (), year: int = 2025) -> str:
    """A campaign with these rules, the teacher and the chair scored 30 and 25, an accepted
    initiative (district level, 90 M VND) for each of `initiative_authors`, and the phase
    finalized; returns the campaign id once its proposals are stored."""
    campaign_id = f"c-e2e-{uuid.uuid4().hex[:10]}"
    phase_id = f"{campaign_id}-p1"
    now = datetime.now(UTC)
    bootstrap = infrastructure.kafka_bootstrap_servers
    pool = system["awards"].state.runtime.pool
    launched = CampaignLaunched(
        campaign_id=campaign_id, organizer_unit_id=CITY, year=year, theme="Lao động giỏi",
        phases=[Phase(phase_id=phase_id, name="Đợt 1", starts_on=date(2025, 1, 1),
                      ends_on=date(2025, 12, 31))], awards=rules, launched_at=now)
    facts = [new_event(launched, source="/thidua/registration", district=None)]
    for author in initiative_authors:
        initiative_id = f"ini-{uuid.uuid4().hex[:10]}"
        facts.append(new_event(InitiativeSubmitted(
            initiative_id=initiative_id, campaign_id=campaign_id, phase_id=phase_id,
            unit_id=SCHOOL, title="Chấm bài trực tuyến", field="giáo dục",
            authors=[InitiativeAuthor(member_id=author, full_name="Tác giả", direct_worker=False)],
            claimed_benefit_vnd=90_000_000, submitted_at=now),
            source="/thidua/registration", district=WARD_LANG))
        facts.append(new_event(InitiativeReviewed(
            initiative_id=initiative_id, campaign_id=campaign_id, phase_id=phase_id,
            unit_id=SCHOOL, outcome="accepted", level="district", grade="A",
            recognised_benefit_vnd=90_000_000, council_unit_id=WARD_LANG, reviewed_at=now),
            source="/thidua/registration", district=WARD_LANG))
    await publish_org_events(bootstrap, facts)

    async def facts_known():
        known = await pool.fetchval(
            """SELECT (SELECT count(*) FROM campaigns WHERE campaign_id = $1)
                    + (SELECT count(*) FROM initiatives WHERE campaign_id = $1
                       AND accepted_level IS NOT NULL)""", campaign_id)
        return known == 1 + len(initiative_authors) or None

    await wait_for(facts_known, timeout=60)
    scores = [new_event(ScoreChanged(
        unit_id=SCHOOL, campaign_id=campaign_id, phase_id=phase_id, subject_kind="member",
        subject_id=member, points_delta=Decimal(total), total_points=Decimal(total),
        reason="pledge_target_met", source_event_id=f"src-{uuid.uuid4().hex[:8]}",
        subject_version=1), source="/thidua/scoring", district=WARD_LANG)
        for member, total in ((TEACHER, 30), (CHAIR, 25))]
    final = new_event(PhaseStandingsFinalized(
        unit_id=CITY, campaign_id=campaign_id, phase_id=phase_id, scope_kind="phase",
        scope_id=phase_id, entries=[], finalized_at=now, score_changed_count=2),
        source="/thidua/scoring", district=None)
    await publish_org_events(bootstrap, [final, *scores])  # the barrier waits for the scores

    async def proposed():
        return await pool.fetchval(
            "SELECT count(*) FROM proposals WHERE campaign_id = $1", campaign_id) or None

    await wait_for(proposed, timeout=60)
    return campaign_id


async def proposal(clients, campaign_id: str, member: str, level: str,
                   title: str = "good_worker") -> dict:
    answer = await clients["awards"].get(
        "/proposals", params={"campaign_id": campaign_id, "subject_id": member,
                              "level": level, "title": title})
    assert answer.status_code == 200, answer.text
    [found] = answer.json()["items"]
    return found


async def approve(clients, proposal_id: str, headers: dict, **extra):
    return await clients["awards"].post(f"/proposals/{proposal_id}/approval",
                                        json=SIGNED, headers=headers | extra)


def code(answer) -> str:
    return answer.json()["errors"][0]["code"]


async def granted(infrastructure, proposal_id: str, expect: int = 1) -> list:
    async def found():
        events = []
        for record in await read_topic(infrastructure.kafka_bootstrap_servers, AWARDS.name):
            event = decode_event(record.value)
            if event.type == "thidua.award.granted.v1" and event.data.proposal_id == proposal_id:
                events.append(event)
        return events if len(events) >= expect else None

    return await wait_for(found)
