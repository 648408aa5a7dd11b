"""Who hears of what: each triggering event through the real consumer and PostgreSQL, its
audience resolved from notify's copy of the directory (fed by org events, as in production)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from contracts import new_event
from contracts.events.awards import AwardGranted, AwardProposed
from contracts.events.campaigns import CampaignLaunched, Phase, PhaseClosed
from contracts.events.initiatives import InitiativeAuthor, InitiativeReviewed, InitiativeSubmitted
from contracts.events.org import ClusterFormed, MemberRegistered, UnitRegistered
from contracts.events.participation import PledgeSigned, PledgeTarget
from contracts.events.scores import PhaseStandingsFinalized, ScoreChanged
from services.notify.handlers import handlers
from services.notify.member_store import put_contacts, put_preferences
from services.notify.repository import NotifyRepository
from services.runtime.directory import directory_handlers
from tests.support.handler_harness import HARNESS_NOW, ServiceUnderTest, open_harness

pytestmark = pytest.mark.integration

NOTIFY_WITH_DIRECTORY = ServiceUnderTest(
    "notify", handlers.including(directory_handlers), NotifyRepository,
    Path(__file__).parents[3] / "services" / "notify" / "migrations",
)
FROM = date(2025, 1, 1)
CITY, DISTRICT, SCHOOL, FACTORY, OTHER_DISTRICT = (
    "u-hn", "u-dongda", "u-lt", "u-dm", "u-badinh")
CAMPAIGN, PHASE = "cmp-2025-hn", "cmp-2025-hn-p1"


def unit(unit_id: str, name: str, kind: str, parent: str | None, district: str | None):
    return UnitRegistered(unit_id=unit_id, name=name, kind=kind, parent_id=parent,
                          effective_from=FROM, district_id=district, sector="education",
                          member_count=40, direct_worker_count=10)


def member(member_id: str, unit_id: str, name: str, officer: bool = False):
    return MemberRegistered(member_id=member_id, unit_id=unit_id, full_name=name,
                            gender="female", direct_worker=not officer, union_officer=officer,
                            effective_from=FROM)


TREE = [
    unit(CITY, "LĐLĐ Thành phố Hà Nội", "city_federation", None, None),
    unit(DISTRICT, "LĐLĐ quận Đống Đa", "district_federation", CITY, DISTRICT),
    unit(SCHOOL, "CĐCS Trường THCS Láng Thượng", "grassroots_union", DISTRICT, DISTRICT),
    unit(FACTORY, "CĐCS Công ty Dệt may 8/3", "grassroots_union", DISTRICT, DISTRICT),
    unit(OTHER_DISTRICT, "LĐLĐ quận Ba Đình", "district_federation", CITY, OTHER_DISTRICT),
    member("m-city-chair", CITY, "Nguyễn Văn Hùng", officer=True),
    member("m-dd-chair", DISTRICT, "Lê Thị Kim Huệ", officer=True),
    member("m-dd-staff", DISTRICT, "Phạm Minh Đức"),
    member("m-lt-chair", SCHOOL, "Trần Thị Mai", officer=True),
    member("m-lt-teacher", SCHOOL, "Lê Thu Hoa"),
    member("m-lt-teacher2", SCHOOL, "Đỗ Văn Nam"),
    member("m-dm-chair", FACTORY, "Vũ Thị Lan", officer=True),
    member("m-dm-worker", FACTORY, "Hoàng Văn Tú"),
    member("m-bd-chair", OTHER_DISTRICT, "Ngô Thị Hạnh", officer=True),
]


@pytest.fixture(scope="module")
async def notify(database_url):
    async with open_harness(database_url, NOTIFY_WITH_DIRECTORY) as harness:
        yield harness


@pytest.fixture(autouse=True)
async def tree(notify):
    await notify.reset()
    await notify.apply(*(new_event(p, source="/thidua/registration",
                                   district=getattr(p, "district_id", None) or DISTRICT,
                                   time=HARNESS_NOW) for p in TREE))
    await notify.pool.execute("TRUNCATE outbox")


def event(data, district: str = DISTRICT):
    return new_event(data, source="/thidua/registration", district=district, time=HARNESS_NOW)


async def heard(notify, template: str) -> dict[str, str]:
    """recipient → in-app subject, for the template."""
    rows = await notify.pool.fetch(
        "SELECT recipient_id, subject FROM notifications WHERE template = $1", template)
    return {r["recipient_id"]: r["subject"] for r in rows}


def launched():
    return CampaignLaunched(
        campaign_id=CAMPAIGN, organizer_unit_id=DISTRICT, year=2025,
        theme="Lao động giỏi, lao động sáng tạo", movements=["lao_dong_gioi"],
        phases=[Phase(phase_id=PHASE, name="Đợt 1", starts_on=date(2025, 1, 1),
                      ends_on=date(2025, 6, 30))],
        launched_at=datetime(2025, 1, 2, tzinfo=UTC))


def submitted(initiative_id: str = "ini-1"):
    return InitiativeSubmitted(
        initiative_id=initiative_id, campaign_id=CAMPAIGN, phase_id=PHASE, unit_id=SCHOOL,
        title="Sổ điểm điện tử cho tổ Toán", field="giáo dục",
        authors=[InitiativeAuthor(member_id="m-lt-teacher", full_name="Lê Thu Hoa",
                                  direct_worker=False),
                 InitiativeAuthor(member_id="m-lt-teacher2", full_name="Đỗ Văn Nam",
                                  direct_worker=False)],
        claimed_benefit_vnd=Decimal(120_000_000), submitted_at=HARNESS_NOW)


async def test_a_submitted_initiative_reaches_the_officers_of_the_reviewing_upper_union(
        notify):
    await notify.apply(event(launched()), event(submitted()))
    assert await heard(notify, "initiative_submitted") == {
        "m-dd-chair": "Sáng kiến mới chờ Hội đồng xét duyệt: “Sổ điểm điện tử cho tổ Toán” "
                      "(CĐCS Trường THCS Láng Thượng)"}


async def test_a_reviewed_initiative_reaches_its_authors_then_their_units_officers(notify):
    await notify.apply(event(submitted()))
    review = InitiativeReviewed(
        initiative_id="ini-1", campaign_id=CAMPAIGN, phase_id=PHASE, unit_id=SCHOOL,
        outcome="accepted", level="district", grade="A",
        recognised_benefit_vnd=Decimal(95_000_000), council_unit_id=DISTRICT,
        reviewed_at=HARNESS_NOW)
    await notify.apply(event(review))
    got = await heard(notify, "initiative_reviewed")
    assert got == {
        "m-lt-teacher": "Sáng kiến “Sổ điểm điện tử cho tổ Toán” của bạn được công nhận cấp "
                        "quận/huyện, loại A",
        "m-lt-teacher2": got["m-lt-teacher"],
        "m-lt-chair": "Sáng kiến “Sổ điểm điện tử cho tổ Toán” (CĐCS Trường THCS Láng Thượng) "
                      "được công nhận cấp quận/huyện, loại A"}
    body = await notify.pool.fetchval(
        "SELECT body FROM notifications WHERE recipient_id = 'm-lt-teacher' "
        "AND template = 'initiative_reviewed'")
    assert "95.000.000\u00a0₫" in body and "LĐLĐ quận Đống Đa đã xét" in body


async def test_a_signed_pledge_reaches_the_officers_of_both_units(notify):
    pledge = PledgeSigned(
        pledge_id="pl-1", campaign_id=CAMPAIGN, phase_id=PHASE, unit_id=SCHOOL,
        counterpart_unit_ids=[FACTORY],
        targets=[PledgeTarget(target_id="t1", description="Sáng kiến được công nhận",
                              target_value=Decimal(10), unit_of_measure="sáng kiến")],
        signed_on=date(2025, 6, 1))
    await notify.apply(event(pledge))
    got = await heard(notify, "pledge_signed")
    assert set(got) == {"m-lt-chair", "m-dm-chair"}
    assert got["m-lt-chair"] == ("CĐCS Trường THCS Láng Thượng đã ký giao ước thi đua với "
                                 "CĐCS Công ty Dệt may 8/3")


async def test_a_pledge_within_a_cluster_also_reaches_the_clusters_organizer(notify):
    formed = ClusterFormed(cluster_id="cl-1", name="Cụm thi đua số 1", organizer_unit_id=CITY,
                           member_unit_ids=[SCHOOL, FACTORY], year=2025,
                           effective_from=date(2025, 1, 1), formed_at=HARNESS_NOW)
    await notify.apply(event(formed))
    pledge = PledgeSigned(
        pledge_id="pl-2", campaign_id=CAMPAIGN, phase_id=PHASE, unit_id=SCHOOL,
        cluster_id="cl-1", counterpart_unit_ids=[FACTORY],
        targets=[PledgeTarget(target_id="t1", description="Sáng kiến được công nhận",
                              target_value=Decimal(10), unit_of_measure="sáng kiến")],
        signed_on=date(2025, 6, 1))
    await notify.apply(event(pledge))
    got = await heard(notify, "pledge_signed")
    assert set(got) == {"m-lt-chair", "m-dm-chair", "m-city-chair"}
    body = await notify.pool.fetchval(
        "SELECT body FROM notifications WHERE recipient_id = 'm-city-chair'")
    assert "với CĐCS Công ty Dệt may 8/3 trong Cụm thi đua số 1 ngày 01/06/2025" in body


async def test_a_phase_close_fans_out_to_the_officers_of_every_unit_under_the_organizer(
        notify):
    await notify.apply(event(launched()))
    closed = PhaseClosed(campaign_id=CAMPAIGN, phase_id=PHASE, closed_at=HARNESS_NOW,
                         closed_by_unit_id=DISTRICT, accepted_counts={})
    await notify.apply(event(closed))
    got = await heard(notify, "phase_closed")
    # The district and its two grassroots unions; not the city above, not Ba Đình beside.
    assert got == dict.fromkeys(("m-dd-chair", "m-lt-chair", "m-dm-chair"),
                                "Đã kết thúc Đợt 1 — Lao động giỏi, lao động sáng tạo")
    assert len(await notify.emitted("thidua.notification.delivered.v1")) == 3


async def test_a_phase_close_of_an_unknown_campaign_notifies_nobody(notify):
    closed = PhaseClosed(campaign_id="cmp-unknown", phase_id=PHASE, closed_at=HARNESS_NOW,
                         closed_by_unit_id=DISTRICT, accepted_counts={})
    await notify.apply(event(closed))
    assert await heard(notify, "phase_closed") == {}


def standings(scope_kind: str, scope_id: str):
    return PhaseStandingsFinalized(
        unit_id=DISTRICT, campaign_id=CAMPAIGN, phase_id=PHASE, scope_kind=scope_kind,
        scope_id=scope_id, entries=[], finalized_at=HARNESS_NOW)


async def test_only_the_phase_wide_standings_event_is_announced(notify):
    await notify.apply(event(launched()))
    await notify.apply(event(standings("district", DISTRICT)), event(standings("unit", SCHOOL)))
    assert await heard(notify, "standings_finalized") == {}
    await notify.apply(event(standings("phase", PHASE)))
    assert set(await heard(notify, "standings_finalized")) == {
        "m-dd-chair", "m-lt-chair", "m-dm-chair"}


async def test_an_award_proposal_reaches_the_officers_who_must_approve_it(notify):
    proposal = AwardProposed(
        unit_id=SCHOOL, campaign_id=CAMPAIGN, subject_kind="member", subject_id="m-lt-teacher",
        title="good_worker", level="district", proposal_id="pr-1", phase_id=PHASE,
        subject_name="Lê Thu Hoa", issuer_unit_id=DISTRICT, points=Decimal("87.5"), quota=3,
        quota_rank=1, proposed_at=HARNESS_NOW)
    await notify.apply(event(proposal))
    assert await heard(notify, "award_proposed") == {
        "m-dd-chair": "Đề nghị khen thưởng chờ phê duyệt: Lê Thu Hoa — “Công nhân giỏi” cấp "
                      "quận/huyện"}


async def test_a_granted_award_reaches_the_member_then_their_units_officers(notify):
    grant = AwardGranted(
        unit_id=SCHOOL, campaign_id=CAMPAIGN, subject_kind="member", subject_id="m-lt-teacher",
        title="good_worker", level="district", award_id="aw-1", subject_name="Lê Thu Hoa",
        unit_parent_id=DISTRICT, decision_number="125/QĐ-LĐLĐ",
        decision_date=date(2025, 6, 2), issuer_unit_id=DISTRICT,
        issuer_name="LĐLĐ quận Đống Đa", granted_at=HARNESS_NOW)
    await notify.apply(event(grant))
    assert await heard(notify, "award_granted") == {
        "m-lt-teacher": "Chúc mừng bạn được tặng danh hiệu “Công nhân giỏi” cấp quận/huyện",
        "m-lt-chair": "Lê Thu Hoa được tặng danh hiệu “Công nhân giỏi” cấp quận/huyện"}


async def test_events_kept_for_the_record_notify_nobody(notify):
    change = ScoreChanged(unit_id=SCHOOL, campaign_id=CAMPAIGN, phase_id=PHASE,
                          subject_kind="unit", subject_id=SCHOOL, points_delta=Decimal(5),
                          total_points=Decimal(5), reason="pledge_target_met",
                          source_event_id="e-1")
    assert change.event_type not in handlers
    assert await notify.pool.fetchval("SELECT count(*) FROM notifications") == 0


async def test_an_officer_in_two_audiences_of_one_event_hears_once(notify):
    # The chair of the school is also an author: one message, the author's.
    await notify.apply(event(submitted("ini-2").model_copy(update={"authors": [
        InitiativeAuthor(member_id="m-lt-chair", full_name="Trần Thị Mai", direct_worker=False)
    ]})))
    review = InitiativeReviewed(
        initiative_id="ini-2", campaign_id=CAMPAIGN, phase_id=PHASE, unit_id=SCHOOL,
        outcome="rejected", level="grassroots", council_unit_id=SCHOOL,
        reason="chưa áp dụng thực tế", reviewed_at=HARNESS_NOW)
    await notify.apply(event(review))
    got = await heard(notify, "initiative_reviewed")
    assert got == {"m-lt-chair": "Sáng kiến “Sổ điểm điện tử cho tổ Toán” của bạn chưa được "
                                 "công nhận"}


async def test_preferences_choose_the_channels_and_language(notify):
    await put_contacts(notify.pool, "m-lt-chair", "mai.tran@example.vn", None, "test")
    await put_preferences(notify.pool, "m-lt-chair", "en", True, False, "test")
    await put_contacts(notify.pool, "m-dm-chair", "lan.vu@example.vn", None, "test")
    await put_preferences(notify.pool, "m-dm-chair", "vi", False, True, "test")
    await notify.apply(event(launched()))
    await notify.apply(event(PhaseClosed(campaign_id=CAMPAIGN, phase_id=PHASE,
                                         closed_at=HARNESS_NOW, closed_by_unit_id=DISTRICT,
                                         accepted_counts={})))
    assert set(await heard(notify, "phase_closed")) == {"m-dd-chair", "m-dm-chair"}
    mails = await notify.pool.fetch("SELECT recipient_id, language, subject FROM deliveries")
    assert [tuple(m) for m in mails] == [
        ("m-lt-chair", "en", "Đợt 1 has closed — Lao động giỏi, lao động sáng tạo")]
