"""Award eligibility, free of I/O: which titles a subject's standing qualifies it for.

Only titles decided by computable criteria (points, accepted initiatives) are evaluated here;
titles reserved to women or officers need member attributes, and titles with no criteria are
nominated by peers (bình xét) — both are decided in the approval workflow, not from scores.
Eligibility is at a title's lowest level; higher levels and quotas are decided on proposal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from contracts.events.rules import AwardRules, TitleRule
from contracts.events.scores import ScoreChanged

SubjectKey = tuple[str, str, str, str]  # campaign, phase, subject kind, subject id
# A campaign whose thidua.campaign.launched.v1 awards has not seen is evaluated under the
# published defaults (contracts/events/rules.py, citing DOMAIN-RULES.md).
DEFAULT_RULES = AwardRules()


@dataclass(frozen=True)
class Standing:
    subject_kind: str
    total_points: Decimal
    accepted_initiatives: int
    unit_id: str = ""  # the unit of the latest total


@dataclass(frozen=True)
class StandingUpdate:
    """What a batch's score changes tell about one subject."""

    subject: SubjectKey
    unit_id: str
    total_points: Decimal
    cause_id: str  # the score event that carried the total (the latest about the subject)
    version: int | None = None  # its `subject_version`; None for unversioned changes


@dataclass(frozen=True)
class Criterion:
    """One criterion of a title against a subject's standing: met, or how far short.

    `criterion` is `min_points` or `min_accepted_initiatives`; `text` says it in words, e.g.
    "12 points short (8 of 20)" or "needs 1 more accepted initiative (0 of 1)".
    """

    criterion: str
    required: Decimal
    actual: Decimal
    met: bool
    short_by: Decimal
    text: str

    def as_json(self) -> dict[str, object]:
        return {"criterion": self.criterion, "required": _number(self.required),
                "actual": _number(self.actual), "met": self.met,
                "short_by": _number(self.short_by), "text": self.text}


@dataclass(frozen=True)
class Eligibility:
    title: str
    level: str
    eligible: bool
    reason: str
    # How far each criterion is: told alongside the verdict, not part of it.
    criteria: tuple[Criterion, ...] = field(default=(), compare=False)


def _newer(version: int | None, than: int | None) -> bool:
    """Whether a change of `version` is later than one of `than`: a higher version is; an
    unversioned change is older than any versioned one."""
    return version is not None and (than is None or version > than)


def standing_updates(changes: Sequence[tuple[str, ScoreChanged]]) -> list[StandingUpdate]:
    """One update per subject from (event id, change) pairs: the total, unit and version of its
    latest change, and the latest change as the cause of what follows. A change's `reason` is
    not read: scoring coalesces a subject's changes per batch, so it names only the last
    ledger line's; accepted initiatives are counted from the initiatives' own events.

    A member's changes can arrive on several partitions (keyed by unit), so out of order: the
    change with the highest `subject_version` is the latest, whatever order they came in; a
    lower version's total is stale and ignored. Unversioned changes (recorded before versions)
    keep the old rule: while points were only ever added, the larger total is the later one.
    """
    by_subject: dict[SubjectKey, StandingUpdate] = {}
    for event_id, c in changes:
        key = (c.campaign_id, c.phase_id, c.subject_kind, c.subject_id)
        mine = StandingUpdate(key, c.unit_id, c.total_points, event_id, c.subject_version)
        seen = by_subject.get(key)
        if seen is None or _newer(c.subject_version, seen.version):
            by_subject[key] = mine
        elif c.subject_version is None and seen.version is None:
            by_subject[key] = replace(mine, total_points=max(seen.total_points, c.total_points))
        # else stale: an older version than one already seen
    return list(by_subject.values())


def is_computed(rule: TitleRule) -> bool:
    """Whether the title is evaluated provisionally from scores during the phase: it has score
    criteria and no reservation to a kind of member (other criteria — initiatives' level and
    benefit, prerequisites, member shares, exclusions — are checked in the proposal round)."""
    has_criteria = rule.min_points > 0 or rule.min_accepted_initiatives > 0
    return has_criteria and not (rule.women_only or rule.officers_only
                                 or rule.direct_workers_only)


def not_computed_because(rule: TitleRule) -> str:
    """Why a title is not decided from scores, in words, for a member's path to it."""
    if rule.computed and not rule.women_only and not rule.officers_only:
        needs = []
        if rule.min_initiative_level:
            needs.append(f"an initiative accepted at {rule.min_initiative_level} level")
        if rule.min_recognised_benefit_vnd:
            needs.append(f"{rule.min_recognised_benefit_vnd:,} VND of recognised benefit")
        needs += [f"{r.title} at {r.level} level" + (
            f" {r.consecutive_years} consecutive years" if r.consecutive_years > 1 else "")
            for r in rule.requires]
        if rule.direct_workers_only:
            needs.append("being a direct-production worker")
        return "decided in the proposal round at the phase's end: needs " + ", ".join(needs)
    if rule.women_only:
        return "reserved to women members: decided on nomination (bình xét)"
    if rule.officers_only:
        return "reserved to union officers: decided on nomination (bình xét)"
    return "no score criteria: decided on nomination by peers (bình xét)"


def _number(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _plural(n: Decimal, one: str, many: str) -> str:
    return one if n == 1 else many


def criteria_of(standing: Standing, rule: TitleRule) -> tuple[Criterion, ...]:
    """Each computable criterion of the title, met or missing and by how much."""
    out = []
    if rule.min_points > 0:
        have, need = standing.total_points, rule.min_points
        short = max(need - have, Decimal(0))
        of = f"({_number(have)} of {_number(need)})"
        text = (f"points reached {of}" if not short
                else f"{_number(short)} {_plural(short, 'point', 'points')} short {of}")
        out.append(Criterion("min_points", need, have, not short, short, text))
    if rule.min_accepted_initiatives > 0:
        have, need = (Decimal(standing.accepted_initiatives),
                      Decimal(rule.min_accepted_initiatives))
        short = max(need - have, Decimal(0))
        of = f"({_number(have)} of {_number(need)})"
        text = (f"accepted initiatives reached {of}" if not short
                else f"needs {_number(short)} more accepted "
                     f"{_plural(short, 'initiative', 'initiatives')} {of}")
        out.append(Criterion("min_accepted_initiatives", need, have, not short, short, text))
    return tuple(out)


def evaluate(standing: Standing, rules: AwardRules) -> list[Eligibility]:
    results = []
    for rule in rules.titles:
        if rule.subject_kind != standing.subject_kind or not is_computed(rule):
            continue
        criteria = criteria_of(standing, rule)
        missing = [c.criterion for c in criteria if not c.met]
        if "min_points" in missing:
            eligible, reason = False, "min_points_not_reached"
        elif "min_accepted_initiatives" in missing:
            eligible, reason = False, "accepted_initiatives_missing"
        else:
            eligible, reason = True, "criteria_met"
        results.append(Eligibility(rule.title, rule.levels[0], eligible, reason, criteria))
    return results


def changed(previous: dict[tuple[str, str], bool], current: list[Eligibility]) -> list[Eligibility]:
    """The evaluations that differ from what was last announced (or were never announced)."""
    return [e for e in current if previous.get((e.title, e.level)) != e.eligible]


@dataclass(frozen=True)
class TitlePath:
    """What remains between a member and one title in one campaign phase."""

    campaign_id: str
    phase_id: str
    title: str
    level: str
    eligible: bool | None  # None: not decided from scores
    remaining: tuple[str, ...]  # the unmet criteria in words, or why scores do not decide it
    criteria: tuple[dict, ...]  # every criterion as stored (`Criterion.as_json`)


def path_to_titles(evaluated: Sequence[dict], subject_kind: str,
                   rules: AwardRules) -> list[TitlePath]:
    """Per campaign phase the subject was evaluated in, each title of its kind in the rules'
    order: for a computed title its last evaluation (eligible, criteria, the unmet ones in
    words); for the others why scores do not decide them. `evaluated` are stored evaluations:
    `campaign_id`, `phase_id`, `title`, `level`, `eligible`, `criteria`."""
    by_phase: dict[tuple[str, str], dict[str, dict]] = {}
    for row in evaluated:
        by_phase.setdefault((row["campaign_id"], row["phase_id"]), {})[row["title"]] = row
    out = []
    for (campaign_id, phase_id), titles in by_phase.items():
        for rule in rules.titles:
            if rule.subject_kind != subject_kind:
                continue
            row = titles.get(rule.title)
            if row is None:
                reason = ("not evaluated yet" if is_computed(rule)
                          else not_computed_because(rule))
                out.append(TitlePath(campaign_id, phase_id, rule.title, rule.levels[0], None,
                                     (reason,), ()))
                continue
            criteria = tuple(row["criteria"])
            remaining = tuple(c["text"] for c in criteria if not c["met"])
            out.append(TitlePath(campaign_id, phase_id, rule.title, row["level"],
                                 row["eligible"], remaining, criteria))
    return out
