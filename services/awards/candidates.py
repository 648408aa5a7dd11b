"""What a proposal round knows of each candidate, and each title's criteria checked against it.

Free of I/O: the repository gathers the facts (standings, directory attributes, accepted
initiatives not yet consumed, exclusions, title history) and this module says, per title, whether
a candidate qualifies and, if not, why — in words a member can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from contracts.events.common import LEVELS
from contracts.events.rules import AwardRules, TitleRule

LEVEL_RANK = {level: i for i, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class Initiative:
    """An accepted initiative a member authored, at the highest level it was recognised."""

    initiative_id: str
    level: str
    recognised_benefit_vnd: int


@dataclass(frozen=True)
class Candidate:
    subject_kind: str
    subject_id: str
    name: str
    unit_id: str  # the member's unit, or the unit itself
    points: Decimal  # ranking points: a member's total; a unit's per its campaign's basis
    accepted_initiatives: int = 0
    direct_worker: bool = False
    woman: bool = False
    officer: bool = False
    unit_members: int = 0  # members of the candidate's unit (small collectives)
    reached_at: datetime | None = None  # when the standing last changed ("earliest")
    initiatives: tuple[Initiative, ...] = ()
    exclusions: tuple[tuple[str, str], ...] = ()  # (kind, source) recorded for the year
    history: frozenset[tuple[str, str, int]] = frozenset()  # (title, level, year) held
    issuers: dict[str, str] = field(default_factory=dict)  # level → issuing unit id
    clusters: tuple[str, ...] = ()  # a unit's emulation clusters of the year


@dataclass(frozen=True)
class Verdict:
    qualifies: bool
    missing: tuple[str, ...]  # the unmet criteria in words
    initiative_ids: tuple[str, ...] = ()  # the initiatives the title would rest on


class Round:
    """What is already proposed in this round (earlier titles), for same-round prerequisites
    and collectives' member shares."""

    def __init__(self) -> None:
        self.proposed: dict[tuple[str, str], set[str]] = {}
        # (title, unit) → members proposed for it at any level: a member counts once per title
        self._members: dict[tuple[str, str], set[str]] = {}

    def record(self, title: str, level: str, kind: str, winners: list[Candidate]) -> None:
        self.proposed.setdefault((title, level), set()).update(c.subject_id for c in winners)
        if kind == "member":
            for c in winners:
                self._members.setdefault((title, c.unit_id), set()).add(c.subject_id)

    def holds(self, title: str, level: str, subject_id: str) -> bool:
        return subject_id in self.proposed.get((title, level), ())

    def members_of(self, title: str, unit_id: str) -> int:
        return len(self._members.get((title, unit_id), ()))


def excluded_by(candidate: Candidate, rules: AwardRules) -> tuple[str, ...]:
    """The disqualifiers named by the rule set that are recorded against the candidate."""
    if candidate.subject_kind != "member":
        return ()
    named = set(rules.exclusions)
    return tuple(f"excluded: {kind} (source: {source})"
                 for kind, source in candidate.exclusions if kind in named)


def _vnd(amount: int) -> str:
    return f"{amount:,} VND".replace(",", ".")


def _consecutive(c: Candidate, rule_title: str, level: str, years: int, year: int,
                 this_round: bool) -> int:
    """How many consecutive years ending with `year` the candidate holds the title."""
    held = 0
    for y in range(year, year - years, -1):
        if (rule_title, level, y) in c.history or (y == year and this_round):
            held += 1
        else:
            break
    return held


def check(rule: TitleRule, c: Candidate, year: int, rnd: Round) -> Verdict:
    """Every criterion of the title at its lowest level: met, or what is missing."""
    missing: list[str] = []
    if rule.women_only and not c.woman:
        missing.append("reserved to women members")
    if rule.officers_only and not c.officer:
        missing.append("reserved to union officers")
    if rule.direct_workers_only and not c.direct_worker:
        missing.append("reserved to direct-production workers")
    if rule.min_points > 0 and c.points < rule.min_points:
        short = rule.min_points - c.points
        missing.append(f"{short.normalize():f} points short ({c.points.normalize():f} of "
                       f"{rule.min_points.normalize():f})")
    if c.accepted_initiatives < rule.min_accepted_initiatives:
        missing.append(f"needs {rule.min_accepted_initiatives - c.accepted_initiatives} more "
                       f"accepted initiative(s)")
    rests_on: list[Initiative] = []
    if rule.min_initiative_level is not None:
        need = LEVEL_RANK[rule.min_initiative_level]
        reached = [i for i in c.initiatives if LEVEL_RANK[i.level] >= need]
        if reached:
            rests_on.append(max(reached, key=lambda i: (LEVEL_RANK[i.level], i.initiative_id)))
        else:
            missing.append(f"needs one initiative accepted at {rule.min_initiative_level} "
                           "level or higher, not used for another award")
    if rule.min_recognised_benefit_vnd:
        total = sum(i.recognised_benefit_vnd for i in c.initiatives)
        if total < rule.min_recognised_benefit_vnd:
            missing.append(f"recognised benefit {_vnd(rule.min_recognised_benefit_vnd - total)} "
                           f"short ({_vnd(total)} of {_vnd(rule.min_recognised_benefit_vnd)})")
        else:
            rests_on = list(c.initiatives)
    for req in rule.requires:
        if req.same_round:
            if not rnd.holds(req.title, req.level, c.subject_id):
                missing.append(f"needs {req.title} at {req.level} level in this round")
            continue
        held = _consecutive(c, req.title, req.level, req.consecutive_years, year,
                            rnd.holds(req.title, req.level, c.subject_id))
        if held < req.consecutive_years:
            missing.append(f"needs {req.title} at {req.level} level {req.consecutive_years} "
                           f"consecutive years to {year} ({held} held)")
    for share in rule.member_shares:
        have = rnd.members_of(share.title, c.subject_id)
        need_pct = share.min_percent * c.unit_members / 100
        if have < share.min_count or Decimal(have) < need_pct:
            missing.append(f"needs {share.min_percent.normalize():f} % and at least "
                           f"{share.min_count} of its {c.unit_members} members as "
                           f"{share.title} ({have} proposed)")
    ids = tuple(sorted({i.initiative_id for i in rests_on})) if rule.consumes_initiatives else ()
    return Verdict(not missing, tuple(missing), ids)
