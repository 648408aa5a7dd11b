"""The scenario played over the services' public HTTP APIs, step by step, each by the role that
does it in the field, with tokens from the local issuer; nothing is written to a table.

Every command carries an `Idempotency-Key` and its own ids, so a run repeated on the same
database replays or finds what is done (`DONE` codes) and goes on. A phase already closed is
not acted in again: the run goes straight to the proposals, decisions and the report. Between
steps `between(step)` is called (the end-to-end test stops and restarts a service there).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from services.runtime.vietnamese import VIETNAM

from .demo_directory import CITY, directory_commands
from .scenario_award_steps import LEVEL_ORDER, AwardSteps
from .scenario_campaign import phase_holding, scenario_campaign
from .scenario_client import (
    ScenarioFailed,
    Urls,
    codes,
)
from .scenario_directory import (
    member_units,
    members_csv,
    scenario_members,
    scenario_tree,
    ward_of,
)
from .scenario_initiatives import (
    EXCLUDED,
    INITIATIVES,
    WORKS,
    council,
    member_names,
    registered_members,
    review_body,
    submission_body,
    work_body,
)
from .scenario_participation import (
    cluster_bodies,
    member_registration,
    pledge_bodies,
    result_bodies,
    unit_registrations,
)


@dataclass
class Outcome:
    campaign_id: str
    phase_id: str
    phase_name: str
    acted: bool  # False when an earlier run had closed the phase already
    decisions: dict[str, str] = field(default_factory=dict)  # decision id: its number
    webhook_id: str | None = None


class Scenario(AwardSteps):
    """The year played step by step; `run` says which steps a repeated run skips."""

    def __init__(self, urls: Urls, issuer, *, today: date | None = None,
                 progress: Callable[[str], None] = print,
                 between: Callable[[str], None] | None = None, webhook=None,
                 timeout_s: float = 120.0) -> None:
        super().__init__(urls, issuer, timeout_s=timeout_s)
        self.today = today or datetime.now(VIETNAM).date()
        self.year = self.today.year
        self.campaign = scenario_campaign(self.year)
        self.phase = phase_holding(self.campaign["phases"], self.today)
        self.progress, self.between, self.webhook = progress, between or (lambda step: None), webhook

    # --- the run ------------------------------------------------------------------------

    def run(self) -> Outcome:
        p = self.phase
        outcome = Outcome(self.campaign["campaign_id"], p["phase_id"], p["name"], acted=False)
        self._steps([("directory", self.record_directory), ("campaign", self.launch_campaign),
                     ("channels", lambda: self.open_channels(outcome))])
        if not self.phase_closed():
            outcome.acted = True
            self._steps([("participation", self.take_part),
                         ("initiatives", self.submit_initiatives),
                         ("reviews", self.review_initiatives), ("works", self.plaque_works),
                         ("exclusions", self.record_exclusion), ("close", self.close_phase)])
        else:
            self.progress(f"phase {p['phase_id']} was closed by an earlier run: on to the awards")
        self._steps([("standings", self.await_standings),
                     ("proposals", lambda: self.approve_proposals(outcome)),
                     ("notifications", self.await_notifications)])
        return outcome

    def _steps(self, steps: list[tuple[str, Callable[[], None]]]) -> None:
        for name, step in steps:
            started = time.monotonic()
            step()
            self.progress(f"  ✓ {name} ({time.monotonic() - started:.1f} s)")
            self.between(name)

    def record_directory(self) -> None:
        """The union tree through the org commands, then the members as one import file."""
        reg, admin = self.urls.registration, self.admin()
        commands = directory_commands(scenario_tree())
        for n, (path, body) in enumerate(commands, 1):
            self.org_command(path, body, admin)
            if n % 25 == 0 or n == len(commands):
                self.progress(f"    union tree: {n}/{len(commands)} commands")
        rows = scenario_members()
        job = self.call("POST", f"{reg}/imports/members", admin, key="demo:import-members",
                        content=members_csv(rows), headers={"Content-Type": "text/csv"},
                        params={"filename": "doan-vien.csv"}).json()
        shown = None
        while job["status"] not in ("succeeded", "refused", "failed"):
            time.sleep(0.3)
            job = self.get(reg, f"/imports/{job['job_id']}")
            if (job["status"], job.get("rows_read")) != shown:
                shown = (job["status"], job.get("rows_read"))
                self.progress(f"    members import: {job['status']}, "
                              f"{job.get('rows_read') or 0}/{len(rows)} rows read")
        if job["status"] != "succeeded":
            raise ScenarioFailed(f"members import {job['status']}: {job.get('errors')}")
        self.progress(f"    members import: {job['registered']} registered, "
                      f"{job['unchanged']} already there")
        last = rows[-1]
        for base in (self.urls.registration, self.urls.scoring, self.urls.awards,
                     self.urls.notify):
            self.get(base, f"/directory/units/{last.unit_id}")  # retried until projected

    def org_command(self, path: str, body: dict, token: str) -> None:
        key = f"demo:org:{path}:{body.get('member_id') or body.get('unit_id')}:{body['effective_from']}"
        self.call("POST", f"{self.urls.registration}{path}", token, key=key, json=body, ok=(201,))

    def launch_campaign(self) -> None:
        self.post(self.urls.registration, "/campaigns", self.admin(), self.campaign,
                  f"campaign:{self.campaign['campaign_id']}")
        for cluster in cluster_bodies(self.year):
            self.post(self.urls.registration, "/clusters", self.token("upper_official", CITY),
                      cluster, f"cluster:{cluster['cluster_id']}")

    def open_channels(self, outcome: Outcome) -> None:
        """E-mail addresses of the authors and union chairs, and the integrator's webhook."""
        chairs = [r for r in scenario_members() if r.member_id.endswith("-0001")]
        authors = {m for i in INITIATIVES for m in i.author_ids}
        lines = ["member_id,email,phone"] + [
            f"{m},{m.removeprefix('m-')}@congdoan.hanoi.vn," for m in sorted(
                authors | {r.member_id for r in chairs})]
        self.call("POST", f"{self.urls.notify}/units/{CITY}/contacts/import",
                  self.token("upper_official", CITY), key="demo:contacts",
                  content="\n".join(lines).encode(), headers={"Content-Type": "text/csv"})
        if self.webhook is not None:
            # An earlier run's receiver is gone with its process: its subscription goes too.
            for old in self.get(self.urls.notify, "/webhooks"):
                if old["url"] != self.webhook.url and old["url"].startswith("http://127.0.0.1:"):
                    self.call("DELETE", f"{self.urls.notify}/webhooks/{old['webhook_id']}",
                              self.admin())
            made = self.post(self.urls.notify, "/webhooks", self.admin(), {
                "url": self.webhook.url, "unit_id": CITY,
                "event_types": ["thidua.award.proposed.v1", "thidua.award.granted.v1",
                                "thidua.phase.standings_finalized.v1"]},
                f"webhook:{self.webhook.url}").json()
            self.webhook.secret, outcome.webhook_id = made["secret"], made["webhook_id"]

    def phase_closed(self) -> bool:
        found = self.get(self.urls.registration, f"/campaigns/{self.campaign['campaign_id']}")
        phase = next(x for x in found["phases"] if x["phase_id"] == self.phase["phase_id"])
        return phase.get("status") == "closed"

    def take_part(self) -> None:
        reg, cid, pid = self.urls.registration, self.campaign["campaign_id"], self.phase["phase_id"]
        for body in unit_registrations(cid, pid):
            self.post(reg, "/registrations", self.token("grassroots_official", body["subject_id"]),
                      body, f"reg:{body['registration_id']}")
        names, units = member_names(), member_units()
        for member in registered_members():
            body = member_registration(cid, pid, member, names[member][1])
            self.post(reg, "/registrations", self.token("grassroots_official", units[member]),
                      body, f"reg:{body['registration_id']}")
        for body in pledge_bodies(self.year, cid, pid):
            self.post(reg, "/pledges", self.token("upper_official", CITY), body,
                      f"pledge:{body['pledge_id']}")
        for pledge, body in result_bodies(pid):
            self.post(reg, f"/pledges/{pledge}/results",
                      self.token("grassroots_official", body["unit_id"]), body,
                      f"result:{pledge}:{body['unit_id']}")

    def submit_initiatives(self) -> None:
        cid, pid = self.campaign["campaign_id"], self.phase["phase_id"]
        for initiative in INITIATIVES:
            answer = self.post(self.urls.registration, "/initiatives",
                               self.token("grassroots_official", initiative.unit_id),
                               submission_body(initiative, cid, pid),
                               f"initiative:{initiative.initiative_id(pid)}").json()
            for candidate in answer.get("duplicate_candidates") or ():
                self.progress(f"    “{initiative.title}” looks like “{candidate['title']}” "
                              f"(similarity {candidate['similarity']:.2f}): for its council")

    def review_initiatives(self) -> None:
        """Level by level, each council as the official of its union (the city's by the
        federation's administrator)."""
        pid, wards = self.phase["phase_id"], ward_of()
        for level in LEVEL_ORDER:
            for initiative in INITIATIVES:
                for review in initiative.reviews:
                    if review[0] != level:
                        continue
                    unit = council(level, initiative.unit_id, wards[initiative.unit_id])
                    role = {"grassroots": "grassroots_official", "district": "upper_official"}
                    token = self.token(role[level], unit) if level in role else self.admin()
                    iid = initiative.initiative_id(pid)
                    self.post(self.urls.registration, f"/initiatives/{iid}/reviews", token,
                              review_body(review, unit, initiative.comment),
                              f"review:{iid}:{level}")

    def plaque_works(self) -> None:
        cid, pid = self.campaign["campaign_id"], self.phase["phase_id"]
        for work in WORKS:
            wid = work.work_id(pid)
            self.post(self.urls.registration, "/works",
                      self.token("grassroots_official", work.unit_id),
                      work_body(work, cid, pid, self.year), f"work:{wid}")
            approver = (self.admin() if work.approving_unit_id == CITY
                        else self.token("upper_official", work.approving_unit_id))
            self.post(self.urls.registration, f"/works/{wid}/approval", approver,
                      {"approving_unit_id": work.approving_unit_id}, f"work-approval:{wid}")

    def record_exclusion(self) -> None:
        member, kind, source = EXCLUDED
        self.post(self.urls.awards, f"/members/{member}/exclusions",
                  self.token("upper_official", CITY),
                  {"year": self.year, "kind": kind, "source": f"{source} {self.year}",
                   "note": "Nghỉ ốm dài ngày 46 ngày"}, f"exclusion:{member}:{self.year}")

    def close_phase(self) -> None:
        cid, pid = self.campaign["campaign_id"], self.phase["phase_id"]
        answer = self.call("POST", f"{self.urls.registration}/campaigns/{cid}/phases/{pid}/close",
                           self.admin(), key=f"demo:close:{pid}", ok=(200, 409))
        if answer.status_code == 409 and codes(answer) != {"phase_closed"}:
            raise ScenarioFailed(f"closing {pid}: {answer.text[:600]}")
        counts = answer.json().get("accepted_counts") if answer.status_code == 200 else None
        if counts:
            self.progress("    accepted for the phase: " + ", ".join(
                f"{k.removeprefix('thidua.').removesuffix('.v1')} {v}"
                for k, v in sorted(counts.items())))
