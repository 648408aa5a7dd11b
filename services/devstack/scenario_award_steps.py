"""The scenario's steps after the close: waiting for the final standings, approving the
proposals level by level into numbered decisions, and waiting for the notifications to settle."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .scenario_client import ScenarioClient, ScenarioFailed

if TYPE_CHECKING:
    from .scenario_run import Outcome

LEVEL_ORDER = ("grassroots", "district", "city", "national")
SIGNATORY = "Thay mặt Ban Thường vụ, Chủ tịch"


class AwardSteps(ScenarioClient):
    """Needs `campaign` and `phase` (the scenario's), set by `Scenario`."""

    campaign: dict
    phase: dict

    def await_standings(self) -> None:
        cid, pid = self.campaign["campaign_id"], self.phase["phase_id"]
        self.until(lambda: self.get(self.urls.scoring,
                                     f"/campaigns/{cid}/phases/{pid}/barrier").get("finalized_at"),
                    "scoring to finalize the standings")

    def proposals(self) -> list[dict]:
        items, cursor = [], None
        while True:
            params = {"campaign_id": self.campaign["campaign_id"],
                      "phase_id": self.phase["phase_id"], "limit": 500}
            page = self.get(self.urls.awards, "/proposals", **(params | (
                {"cursor": cursor} if cursor else {})))
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def approve_proposals(self, outcome: Outcome) -> None:
        """Once the round has placed its candidates, each level's proposals within quota are
        approved in bulk, lowest level first (a level needs the one below approved)."""
        found = self.until(self.proposals, "awards to place its candidates")
        placed = {p["status"] for p in found}
        self.progress(f"    {len(found)} placements: " + ", ".join(
            f"{s} {sum(1 for p in found if p['status'] == s)}" for s in sorted(placed)))
        for level in LEVEL_ORDER:
            ids = [p["proposal_id"] for p in found if p["level"] == level
                   and p["status"] == "proposed"]
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                answer = self.post(self.urls.awards, "/proposals/approvals", self.admin(),
                                   {"proposal_ids": chunk, "signatory": SIGNATORY},
                                   f"approvals:{self.phase['phase_id']}:{level}:{start}").json()
                refused = [i for i in answer["items"] if i["outcome"] == "refused"
                           and i["code"] != "proposal_already_decided"]
                if refused:
                    raise ScenarioFailed(f"approvals at {level} refused: {refused[:5]}")
                outcome.decisions |= {i["decision_id"]: i["decision_number"]
                                      for i in answer["items"] if i.get("decision_id")}
        if outcome.decisions:
            self.progress(f"    {len(outcome.decisions)} decisions numbered "
                          + ", ".join(sorted(set(outcome.decisions.values()))))

    def await_notifications(self, quiet_s: float = 2.0) -> None:
        """Until nothing is pending on any channel and the counts have held still a moment."""
        last, since = None, time.monotonic()
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            channels = self.get(self.urls.notify, "/statistics/notifications")["channels"]
            now = tuple((c["channel"], c["delivered"], c["pending"]) for c in channels)
            if now != last:
                last, since = now, time.monotonic()
            elif all(c["pending"] == 0 for c in channels) and time.monotonic() - since > quiet_s:
                return
            time.sleep(0.3)
        raise ScenarioFailed(f"notifications still moving after {self.timeout_s:.0f} s: {last}")
