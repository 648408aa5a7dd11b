"""The scenario played over the services' public HTTP APIs, step by step, each by the role that
does it in the field, with tokens from the local issuer; nothing is written to a table.

Every command carries an `Idempotency-Key` and its own ids, so a run repeated on the same
database replays or finds what is done (`DONE` codes) and goes on. A phase already closed is
not acted in again: the run goes straight to the proposals, decisions and the report. Between
steps `between(step)` is called (the end-to-end test stops and restarts a service there).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import httpx

from services.runtime.vietnamese import VIETNAM

from .demo_directory import CITY, RECORDER, directory_commands
from .scenario_campaign import phase_holding, scenario_campaign
from .scenario_directory import (
    demo_members,
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

# What a command answers when its step was recorded by an earlier run.
DONE = {"unit_exists", "member_exists", "change_not_after_latest", "campaign_exists",
        "cluster_exists", "already_registered", "registration_exists", "pledge_exists",
        "results_already_reported", "initiative_exists", "already_reviewed_at_level",
        "work_exists", "work_already_approved", "exclusion_exists"}
# Answers that mean "not yet": a projection still filling, a service restarting.
RETRY_STATUS = {404, 502, 503, 504}
LEVEL_ORDER = ("grassroots", "district", "city", "national")
SIGNATORY = "Thay mặt Ban Thường vụ, Chủ tịch"


class ScenarioFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Urls:
    registration: str
    scoring: str
    awards: str
    notify: str


@dataclass
class Outcome:
    campaign_id: str
    phase_id: str
    phase_name: str
    acted: bool  # False when an earlier run had closed the phase already
    decisions: dict[str, str] = field(default_factory=dict)  # decision id: its number
    webhook_id: str | None = None


class Scenario:
    def __init__(self, urls: Urls, issuer, *, today: date | None = None,
                 progress: Callable[[str], None] = print,
                 between: Callable[[str], None] | None = None, webhook=None,
                 timeout_s: float = 120.0) -> None:
        self.urls, self.issuer = urls, issuer
        self.today = today or datetime.now(VIETNAM).date()
        self.year = self.today.year
        self.campaign = scenario_campaign(self.year)
        self.phase = phase_holding(self.campaign["phases"], self.today)
        self.progress, self.between, self.webhook = progress, between or (lambda step: None), webhook
        self.timeout_s = timeout_s
        self.http = httpx.Client(timeout=30.0)
        self._tokens: dict[tuple, str] = {}

    # --- who acts -----------------------------------------------------------------------

    def token(self, role: str, unit: str | None = None, member: str | None = None) -> str:
        key = (role, unit, member)
        if key not in self._tokens:
            subject = f"local:demo:{role}:{unit or member or 'city'}"
            name = RECORDER.name if role == "city_admin" else None
            self._tokens[key] = self.issuer.mint(role=role, unit=unit, member=member,
                                                 subject=subject, name=name,
                                                 ttl_seconds=4 * 3600)
        return self._tokens[key]

    def admin(self) -> str:
        return self.token("city_admin")

    # --- HTTP ---------------------------------------------------------------------------

    def call(self, method: str, url: str, token: str, *, key: str | None = None,
             json=None, content: bytes | None = None, params=None,
             headers: dict | None = None, ok=(200, 201, 202)) -> httpx.Response:
        """One request, retried while the answer means "not yet" (a projection filling, a
        service restarting) until the run's deadline; a `DONE` conflict counts as done."""
        hdrs = {"Authorization": f"Bearer {token}"} | (headers or {})
        if key:
            hdrs["Idempotency-Key"] = idempotency_key(key)
        deadline = time.monotonic() + self.timeout_s
        last = "no answer"
        while True:
            try:
                answer = self.http.request(method, url, headers=hdrs, json=json, content=content,
                                           params=params)
                if answer.status_code in ok or (answer.status_code == 409 and _codes(answer) & DONE):
                    return answer
                last = f"{answer.status_code} {answer.text[:600]}"
                if answer.status_code not in RETRY_STATUS:
                    raise ScenarioFailed(f"{method} {url} answered {last}")
            except httpx.TransportError as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise ScenarioFailed(f"{method} {url}: still {last}")
            time.sleep(0.25)

    def post(self, base: str, path: str, token: str, body, key: str) -> httpx.Response:
        return self.call("POST", f"{base}{path}", token, key=f"demo:{key}", json=body)

    def get(self, base: str, path: str, token: str | None = None, **params):
        return self.call("GET", f"{base}{path}", token or self.admin(), params=params).json()

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
        answer = self.call("POST", f"{self.urls.registration}{path}", token, key=key, json=body,
                           ok=(201, 422))
        if answer.status_code == 422:
            # A unit registered by an earlier run under a parent dissolved since: it is there.
            unit = body.get("unit_id")
            if _codes(answer) == {"unit_not_active"} and path == "/units" and unit:
                held = self.http.get(f"{self.urls.registration}/units/{unit}",
                                     params={"as_of": body["effective_from"]},
                                     headers={"Authorization": f"Bearer {token}"})
                if held.status_code == 200:
                    return
            raise ScenarioFailed(f"POST {path} answered 422: {answer.text[:600]}")

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
        if answer.status_code == 409 and _codes(answer) != {"phase_closed"}:
            raise ScenarioFailed(f"closing {pid}: {answer.text[:600]}")
        counts = answer.json().get("accepted_counts") if answer.status_code == 200 else None
        if counts:
            self.progress("    accepted for the phase: " + ", ".join(
                f"{k.removeprefix('thidua.').removesuffix('.v1')} {v}"
                for k, v in sorted(counts.items())))

    def await_standings(self) -> None:
        cid, pid = self.campaign["campaign_id"], self.phase["phase_id"]
        self._until(lambda: self.get(self.urls.scoring,
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
        found = self._until(self.proposals, "awards to place its candidates")
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

    def _until(self, probe: Callable, what: str):
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if found := probe():
                return found
            time.sleep(0.3)
        raise ScenarioFailed(f"waited {self.timeout_s:.0f} s for {what}")


def member_units() -> dict[str, str]:
    """Each scenario member's unit."""
    units = {r.member_id: r.unit_id for r in scenario_members()}
    return units | {e.member_id: e.unit_id for e in demo_members()}


def idempotency_key(text: str) -> str:
    """The header allows `A-Z a-z 0-9 . _ : -`, at most 128: other characters become dots, a
    longer key keeps its start and a digest of the whole."""
    key = re.sub(r"[^A-Za-z0-9._:-]", ".", text)
    if len(key) <= 128:
        return key
    return key[:100] + ":" + hashlib.sha256(text.encode()).hexdigest()[:27]


def _codes(answer: httpx.Response) -> set[str]:
    try:
        return {e.get("code") for e in answer.json().get("errors", [])}
    except (ValueError, AttributeError):
        return set()
