"""Who hears of what, free of I/O: each triggering event becomes notices, each naming a
template, an audience (resolved later against notify's copy of the directory) and what the
templates are filled with in each language.

Audiences are members: a unit "hears" through its union officers (`union_officer` in the
directory) on the event's date. Events kept only for the record (score changes, registrations,
pledge results, works registered, org changes) notify nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from contracts import CloudEvent
from contracts.events.awards import AwardEligibilityChanged, AwardGranted, AwardProposed
from contracts.events.campaigns import PhaseClosed
from contracts.events.initiatives import InitiativeReviewed, InitiativeSubmitted
from contracts.events.participation import PledgeSigned
from contracts.events.scores import PhaseStandingsFinalized
from services.runtime.vietnamese import vietnam_date

from . import domain


@dataclass(frozen=True)
class Audience:
    """Members to notify on a date: named ones, the officers of some units, and the officers
    of a unit and every unit under it (a fan-out to thousands)."""

    on: date
    members: tuple[str, ...] = ()
    officials_of: tuple[str, ...] = ()
    officials_below: str | None = None


@dataclass(frozen=True)
class Notice:
    event: CloudEvent
    template: str
    audience: Audience
    # The template context in a language ("vi", "en"); `audience` there says how they are
    # concerned: `self`, `official`, `council`, `approver`.
    context: Callable[[str], dict[str, Any]]
    # Fixed in-app wording (Vietnamese subject, body); None: the rendered Vietnamese e-mail's.
    in_app: tuple[str, str] | None = None


@dataclass(frozen=True)
class Campaign:
    organizer_unit_id: str
    theme: str
    phases: dict[str, str] = field(default_factory=dict)  # phase id → name


@dataclass(frozen=True)
class Names:
    """Names the wording needs, looked up before the notices are made."""

    units: dict[str, str] = field(default_factory=dict)
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    initiatives: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    clusters: dict[str, tuple[str, str]] = field(default_factory=dict)  # id → (name, organizer)

    def unit(self, unit_id: str) -> str:
        return self.units.get(unit_id, unit_id)

    def campaign(self, campaign_id: str) -> str:
        found = self.campaigns.get(campaign_id)
        return found.theme if found else campaign_id

    def phase(self, campaign_id: str, phase_id: str | None) -> str:
        if phase_id is None:
            return "—"
        found = self.campaigns.get(campaign_id)
        return found.phases.get(phase_id, phase_id) if found else phase_id


def _title(code: str, language: str) -> str:
    return (domain.TITLE_NAMES_EN if language == "en" else domain.TITLE_NAMES).get(code, code)


def _level(code: str, language: str) -> str:
    return (domain.LEVEL_NAMES_EN if language == "en" else domain.LEVEL_NAMES).get(code, code)


def _day(event: CloudEvent) -> date:
    return vietnam_date(event.time)


def eligibility_changed(event: CloudEvent[AwardEligibilityChanged], names: Names) -> list[Notice]:
    """The member concerned (a unit's eligibility is for its officials' records)."""
    change = event.data
    [message] = domain.eligibility_messages(event.id, change) or [None]
    if message is None:
        return []
    return [Notice(event, "award_eligibility_changed",
                   Audience(_day(event), members=(change.subject_id,)),
                   lambda lang: domain.eligibility_email_context(change, event.time, lang),
                   in_app=(message.subject, message.body))]


def initiative_submitted(event: CloudEvent[InitiativeSubmitted], names: Names,
                         council_unit_id: str | None) -> list[Notice]:
    """The officers of the upper-level union, whose council must review it."""
    i = event.data
    if council_unit_id is None:
        return []

    def context(lang: str) -> dict:
        return {"audience": "council", "initiative_title": i.title, "field": i.field,
                "unit_name": names.unit(i.unit_id),
                "authors": [a.full_name for a in i.authors],
                "claimed_benefit_vnd": i.claimed_benefit_vnd,
                "campaign": names.campaign(i.campaign_id),
                "phase": names.phase(i.campaign_id, i.phase_id), "submitted_at": i.submitted_at}
    return [Notice(event, "initiative_submitted",
                   Audience(_day(event), officials_of=(council_unit_id,)), context)]


def initiative_reviewed(event: CloudEvent[InitiativeReviewed], names: Names) -> list[Notice]:
    """Its authors, then the officers of the unit that submitted it."""
    r = event.data
    title, authors = names.initiatives.get(r.initiative_id, (r.initiative_id, ()))

    def context(audience: str) -> Callable[[str], dict]:
        return lambda lang: {
            "audience": audience, "initiative_title": title, "accepted": r.outcome == "accepted",
            "level": _level(r.level, lang), "grade": r.grade,
            "recognised_benefit_vnd": r.recognised_benefit_vnd, "reason": r.reason,
            "unit_name": names.unit(r.unit_id), "council": names.unit(r.council_unit_id),
            "reviewed_at": r.reviewed_at}
    day = _day(event)
    notices = [Notice(event, "initiative_reviewed", Audience(day, members=authors),
                      context("self"))] if authors else []
    notices.append(Notice(event, "initiative_reviewed",
                          Audience(day, officials_of=(r.unit_id,)), context("official")))
    return notices


def pledge_signed(event: CloudEvent[PledgeSigned], names: Names) -> list[Notice]:
    """The officers of the pledging unit, of each counterpart it pledged with and, for a pledge
    signed within a cluster, of the cluster's organizing union."""
    p = event.data
    cluster = names.clusters.get(p.cluster_id) if p.cluster_id else None

    def context(lang: str) -> dict:
        return {"audience": "official", "unit_name": names.unit(p.unit_id),
                "counterparts": [names.unit(u) for u in p.counterpart_unit_ids],
                "targets": [{"description": t.description, "value": t.target_value,
                             "unit": t.unit_of_measure} for t in p.targets],
                "cluster": cluster[0] if cluster else None,
                "campaign": names.campaign(p.campaign_id),
                "phase": names.phase(p.campaign_id, p.phase_id), "signed_on": p.signed_on}
    units = tuple(dict.fromkeys((p.unit_id, *p.counterpart_unit_ids,
                                 *([cluster[1]] if cluster else []))))
    return [Notice(event, "pledge_signed", Audience(_day(event), officials_of=units), context)]


def phase_closed(event: CloudEvent[PhaseClosed], names: Names) -> list[Notice]:
    """The officers of every unit under the campaign's organizer: the whole movement."""
    c = event.data
    campaign = names.campaigns.get(c.campaign_id)
    if campaign is None:
        return []  # launched before notify kept campaigns: nobody to name

    def context(lang: str) -> dict:
        return {"audience": "official", "campaign": campaign.theme,
                "phase": names.phase(c.campaign_id, c.phase_id), "closed_at": c.closed_at,
                "closed_by": names.unit(c.closed_by_unit_id)}
    return [Notice(event, "phase_closed",
                   Audience(vietnam_date(c.closed_at),
                            officials_below=campaign.organizer_unit_id), context)]


def standings_finalized(event: CloudEvent[PhaseStandingsFinalized],
                        names: Names) -> list[Notice]:
    """Only the phase-wide event: the officers of every unit under the organizer. The
    per-scope chunks before it are for the record (and for awards)."""
    s = event.data
    if s.scope_kind != "phase":
        return []

    def context(lang: str) -> dict:
        return {"audience": "official", "campaign": names.campaign(s.campaign_id),
                "phase": names.phase(s.campaign_id, s.phase_id), "finalized_at": s.finalized_at}
    return [Notice(event, "standings_finalized",
                   Audience(vietnam_date(s.finalized_at), officials_below=s.unit_id), context)]


def award_proposed(event: CloudEvent[AwardProposed], names: Names) -> list[Notice]:
    """The officers of the issuing unit, who must approve it within their quota."""
    p = event.data

    def context(lang: str) -> dict:
        return {"audience": "approver", "subject_name": p.subject_name,
                "unit_name": names.unit(p.unit_id), "title": _title(p.title, lang),
                "level": _level(p.level, lang), "points": p.points, "quota": p.quota,
                "quota_rank": p.quota_rank, "campaign": names.campaign(p.campaign_id),
                "phase": names.phase(p.campaign_id, p.phase_id), "proposed_at": p.proposed_at}
    return [Notice(event, "award_proposed",
                   Audience(_day(event), officials_of=(p.issuer_unit_id,)), context)]


def award_granted(event: CloudEvent[AwardGranted], names: Names) -> list[Notice]:
    """A member awarded, then the officers of the unit concerned (the awarded unit, or the
    member's)."""
    g = event.data

    def context(audience: str) -> Callable[[str], dict]:
        return lambda lang: {
            "audience": audience, "subject_name": g.subject_name,
            "title": _title(g.title, lang), "level": _level(g.level, lang),
            "decision_number": g.decision_number, "decision_date": g.decision_date,
            "issuer_name": g.issuer_name, "campaign": names.campaign(g.campaign_id)}
    day = _day(event)
    notices = []
    if g.subject_kind == "member":
        notices.append(Notice(event, "award_granted", Audience(day, members=(g.subject_id,)),
                              context("self")))
    notices.append(Notice(event, "award_granted", Audience(day, officials_of=(g.unit_id,)),
                          context("official")))
    return notices
