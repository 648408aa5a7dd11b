"""The closing report filled from the services' read APIs: scoring's standings per cluster and
per ward or commune union and its initiative totals, awards' statistics (the pyramid of
approved titles), notify's counts per channel. Nothing is computed here beyond folding the
wards back into the districts they belonged to until 30 Jun 2025.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from services.notify.domain import TITLE_NAMES

from .demo_report import (
    ChannelDeliveries,
    DemoReport,
    DistrictInitiatives,
    Leaderboard,
    PyramidStep,
    Ranked,
)
from .scenario_directory import district_names, former_district_of_ward, scenario_units
from .scenario_participation import CLUSTERS, cluster_id
from .scenario_run import Outcome, Scenario


def _board(scenario: Scenario, outcome: Outcome, scope: str, scope_id: str, name: str,
           limit: int = 15) -> Leaderboard:
    found = scenario.get(
        scenario.urls.scoring,
        f"/campaigns/{outcome.campaign_id}/phases/{outcome.phase_id}/standings",
        subject="unit", scope=scope, scope_id=scope_id, limit=limit)
    units = scenario_units()
    entries = tuple(
        Ranked(rank=s["rank"], name=s["name"] or units.get(s["subject_id"]).name,
               total_points=Decimal(s["total_points"]),
               ranking_points=Decimal(s["ranking_points"] or s["total_points"]),
               members=s["member_count"])
        for s in found["standings"])
    return Leaderboard(scope=scope, name=name, entries=entries)


def collect(scenario: Scenario, outcome: Outcome) -> DemoReport:
    units = scenario_units()
    boards = [_board(scenario, outcome, "cluster", cluster_id(scenario.year, key),
                     name.removeprefix("Cụm thi đua "))
              for key, (name, _) in CLUSTERS.items()]
    wards = former_district_of_ward()
    names = district_names()
    boards += [_board(scenario, outcome, "district", ward,
                      f"{units[ward].name} (đến 30/6/2025: {names[district]})")
               for ward, district in wards.items()]

    totals = scenario.get(scenario.urls.scoring, "/initiative-totals", group_by="district",
                          campaign_id=outcome.campaign_id, limit=500)["totals"]
    per_district: dict[str, list] = defaultdict(lambda: [0, 0, Decimal(0)])
    for row in totals:
        district = names.get(wards.get(row["key"], row["key"]), row["key"])
        per_district[district][0] += row["submitted"]
        per_district[district][1] += row["accepted"]
        per_district[district][2] += Decimal(row["recognised_benefit_vnd"])
    initiatives = tuple(DistrictInitiatives(d, s, a, b)
                        for d, (s, a, b) in sorted(per_district.items()))

    stats = scenario.get(scenario.urls.awards, "/statistics/awards", year=scenario.year)
    pyramid = tuple(PyramidStep(TITLE_NAMES.get(s["title"], s["title"]), s["level"],
                                s["approved"])
                    for s in stats["pyramid"] if s["approved"] or s["within_quota"])

    channels = scenario.get(scenario.urls.notify, "/statistics/notifications")["channels"]
    notifications = tuple(ChannelDeliveries(c["channel"], c["delivered"], c["failed"])
                          for c in channels)
    placed = sum(s["within_quota"] for s in stats["pyramid"])
    beyond = sum(s["beyond_quota"] for s in stats["pyramid"])
    notes = (f"Đề nghị khen thưởng — Proposals: {placed} trong chỉ tiêu (within quota), "
             f"{beyond} vượt chỉ tiêu (beyond quota); "
             f"{len(outcome.decisions)} quyết định (decisions).",)
    return DemoReport(campaign=scenario.campaign["theme"], phase=outcome.phase_name,
                      generated_at=datetime.now(UTC), leaderboards=tuple(boards),
                      initiatives=initiatives, pyramid=pyramid, notifications=notifications,
                      notes=notes)
