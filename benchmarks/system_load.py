"""The district-scale load of the system benchmark, driven through the services' HTTP APIs as
their users would: the directory imported, the year's campaign launched, initiatives submitted
by their unions' officials, reviewed by the grassroots councils (and a share of the accepted
ones again by the district's), the phase closed by the city administrator.

A sample of the commands is followed to what it causes: the author's score in scoring and the
author's notification in notify (by the command's correlation id), each polled until seen.
"""

from __future__ import annotations

import asyncio
import csv
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from benchmarks.command_throughput import drive
from services.devstack.demo import demo_campaign
from services.runtime.access import VIETNAM
from tests.support.identity import ISSUER

TOKEN_TTL_S = 6 * 3600  # outlives the longest run
SWEEP_S = 0.2
FINAL_SWEEPS_S = 15.0  # sweeps once the system is quiet: a poll that failed is tried again
UPPER_KINDS = ("district_federation", "sector_union", "upper_level_union")

VERBS = ("Cải tiến", "Ứng dụng", "Tự động hóa", "Số hóa", "Hợp lý hóa", "Thiết kế lại",
         "Tiết kiệm", "Nâng cao hiệu quả")
OBJECTS = ("quy trình kiểm tra chất lượng sản phẩm", "dây chuyền may áo sơ mi",
           "hồ sơ học sinh", "công tác quản lý kho vật tư", "lịch trực điều dưỡng",
           "hệ thống chiếu sáng nhà xưởng", "bài giảng môn Toán lớp 9", "khâu đóng gói bánh kẹo",
           "sổ sách kế toán của phường", "quy trình tiếp nhận bệnh nhân",
           "máy ép nhựa phân xưởng 2", "công tác thu thuế hộ kinh doanh")
FIELDS = ("kỹ thuật", "quản lý", "giáo dục", "y tế", "hành chính")


def token(role: str, unit: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {ISSUER.mint(role=role, unit=unit, ttl_seconds=TOKEN_TTL_S)}"}


@dataclass
class District:
    """What the load needs to know of the imported directory."""

    units: dict[str, dict[str, str]]  # unit_id -> its row of the units file
    members: list[tuple[str, str, str]]  # (member_id, unit_id, full_name)

    @classmethod
    def read(cls, units_csv: Path, members_csv: Path) -> District:
        with units_csv.open(encoding="utf-8") as f:
            units = {row["unit_id"]: row for row in csv.DictReader(f)}
        with members_csv.open(encoding="utf-8") as f:
            members = [(r["member_id"], r["unit_id"], r["full_name"]) for r in csv.DictReader(f)]
        return cls(units, members)

    @property
    def city(self) -> str:
        return next(u for u, row in self.units.items() if row["kind"] == "city_federation")

    def last_unit(self) -> str:
        return next(reversed(self.units))

    def upper_council(self, unit_id: str) -> str | None:
        """The unit whose council reviews at district level: the union's parent, when it is a
        district-level federation."""
        parent = self.units[unit_id]["parent_id"]
        return parent if parent and self.units[parent]["kind"] in UPPER_KINDS else None


@dataclass
class Followed:
    """One sampled command and when its effects were seen (seconds after its acceptance)."""

    kind: str
    accepted_at: float
    member_id: str
    fact_id: str
    event_id: str
    correlation_id: str
    notified: bool  # whether the command notifies the member
    scored: bool = True  # whether it changes the member's score (a higher level's rejection
    # keeps the lower acceptance's points and event)
    to_score: float | None = None
    to_notification: float | None = None
    # Events that priced the fact again after this one (a higher council's acceptance): the
    # breakdown shows a fact's latest event only, and scoring may apply both in one batch.
    later_event_ids: list[str] = field(default_factory=list)

    def done(self) -> bool:
        return ((not self.scored or self.to_score is not None)
                and (not self.notified or self.to_notification is not None))


@dataclass
class Follower:
    """Polls scoring and notify for the sampled commands, `workers` requests at a time and a
    sweep over the pending ones at most every `SWEEP_S`, while the load runs; a sample not seen within `timeout_s` is given up and counted as missing."""

    scoring: str
    notify: str
    campaign_id: str
    phase_id: str
    workers: int = 4
    timeout_s: float = 900.0
    pending: list[Followed] = field(default_factory=list)  # not seen yet
    finished: list[Followed] = field(default_factory=list)
    missing: list[Followed] = field(default_factory=list)
    poll_errors: int = 0

    def follow(self, sample: Followed) -> None:
        self.pending.append(sample)

    def priced_again(self, fact_id: str, event_id: str) -> None:
        """`event_id` priced `fact_id` after the samples of it still waiting for their score:
        each is seen once the fact shows its own event or this one (its delay is then an
        upper bound), not given up as missing because the later event overtook it."""
        for sample in self.pending:
            if sample.fact_id == fact_id and sample.to_score is None:
                sample.later_event_ids.append(event_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set, then for `FINAL_SWEEPS_S` more: `stop` is set when the system
        has gone quiet, so a sample not seen by then (a poll that failed included) never will
        be, and counts as missing."""
        admin = token("city_admin")
        async with httpx.AsyncClient(timeout=30, headers=admin) as client:
            ends_at = float("inf")
            while True:
                if stop.is_set() and ends_at == float("inf"):
                    ends_at = time.perf_counter() + FINAL_SWEEPS_S
                last = time.perf_counter() >= ends_at
                sweep_started = time.perf_counter()
                batch = list(self.pending)
                await asyncio.gather(*(self._sweep(client, queue)
                                       for queue in [iter(batch)] for _ in range(self.workers)))
                now = time.perf_counter()
                for sample in batch:
                    if sample.done():
                        self.pending.remove(sample)
                        self.finished.append(sample)
                    elif last or now - sample.accepted_at > self.timeout_s:
                        self.pending.remove(sample)
                        self.missing.append(sample)
                if last or (stop.is_set() and not self.pending):
                    return
                # A sweep at most every SWEEP_S: the polls take a share of the machine they
                # measure, and that share stays small.
                await asyncio.sleep(max(0.01, SWEEP_S - (time.perf_counter() - sweep_started)))

    async def _sweep(self, client: httpx.AsyncClient, queue) -> None:
        for sample in queue:  # the workers share one iterator: each sample polled once a sweep
            await self._check(client, sample)

    async def _check(self, client: httpx.AsyncClient, sample: Followed) -> None:
        try:
            if sample.scored and sample.to_score is None:
                answer = await client.get(
                    f"{self.scoring}/scores/member/{sample.member_id}/breakdown",
                    params={"campaign_id": self.campaign_id, "phase_id": self.phase_id,
                            "limit": 500})
                events = {sample.event_id, *sample.later_event_ids}
                if answer.status_code == 200 and any(
                        f["fact_id"] == sample.fact_id and f["source_event_id"] in events
                        for f in answer.json()["facts"]):
                    sample.to_score = time.perf_counter() - sample.accepted_at
            if sample.notified and sample.to_notification is None:
                answer = await client.get(
                    f"{self.notify}/members/{sample.member_id}/notifications",
                    params={"correlation_id": sample.correlation_id, "limit": 10})
                if answer.status_code == 200 and any(
                        n.get("correlation_id") == sample.correlation_id for n in answer.json()):
                    sample.to_notification = time.perf_counter() - sample.accepted_at
        except (httpx.HTTPError, ValueError):
            self.poll_errors += 1  # polled again in the next sweep


@dataclass
class CommandRun:
    """How one kind of command fared: accepted, refused (by status), seconds."""

    kind: str
    sent: int = 0
    accepted: int = 0
    refused: dict[int, int] = field(default_factory=dict)
    first_refusals: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def per_s(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def record(self, answer: httpx.Response) -> bool:
        self.sent += 1
        if answer.is_success:
            self.accepted += 1
            return True
        self.refused[answer.status_code] = self.refused.get(answer.status_code, 0) + 1
        if len(self.first_refusals) < 5:
            self.first_refusals.append(f"{answer.status_code} {answer.text[:300]}")
        return False

    def as_dict(self) -> dict:
        return {"sent": self.sent, "accepted": self.accepted, "refused": self.refused,
                "seconds": round(self.seconds, 3), "accepted_per_s": self.per_s,
                "first_refusals": self.first_refusals}


def campaign_for(city: str, run_id: str) -> dict:
    """The city federation's year campaign (one phase, the whole year), unique to the run."""
    campaign = demo_campaign(datetime.now(VIETNAM).year)  # phases follow Vietnam's calendar
    campaign_id = f"{campaign['campaign_id']}-sysbench-{run_id}"
    phase = campaign["phases"][0] | {"phase_id": f"{campaign_id}-ca-nam"}
    return campaign | {"campaign_id": campaign_id, "organizer_unit_id": city, "phases": [phase]}


@dataclass
class Load:
    """The commands of one run, with their tokens, sent at `concurrency`."""

    registration: str
    district: District
    campaign: dict
    concurrency: int
    follower: Follower
    sample_every: int
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    _tokens: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def official(self, role: str, unit: str) -> dict[str, str]:
        if (role, unit) not in self._tokens:
            self._tokens[(role, unit)] = token(role, unit)
        return self._tokens[(role, unit)]

    async def send_all(self, run: CommandRun, count: int,
                       send: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]],
                       ) -> None:
        """`count` commands, one worker per connection, with progress every 10 %."""
        clients = [httpx.AsyncClient(base_url=self.registration, timeout=120,
                                     limits=httpx.Limits(max_connections=1))
                   for _ in range(self.concurrency)]
        step = max(1, count // 10)

        async def counted(client: httpx.AsyncClient, n: int) -> httpx.Response:
            answer = await send(client, n)
            run.record(answer)
            if run.sent % step == 0:
                print(f"  {run.kind}: {run.sent:,}/{count:,} sent, {run.accepted:,} accepted",
                      flush=True)
            return answer

        try:
            run.seconds, _ = await drive(clients, count, counted)
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))

    async def submit(self, count: int) -> tuple[CommandRun, list[dict]]:
        """`count` initiatives, each by a member picked at random (large unions submit more),
        sent by an official of the member's union with an Idempotency-Key."""
        run = CommandRun("POST /initiatives")
        phase_id = self.campaign["phases"][0]["phase_id"]
        bodies = []
        for n in range(count):
            member_id, unit_id, full_name = self.rng.choice(self.district.members)
            benefit = self.rng.choice((0, 5, 20, 35, 80, 120, 300)) * 1_000_000
            bodies.append({
                "initiative_id": f"ini-{self.campaign['campaign_id']}-{n:06d}",
                "campaign_id": self.campaign["campaign_id"], "phase_id": phase_id,
                "unit_id": unit_id,
                "title": f"{self.rng.choice(VERBS)} {self.rng.choice(OBJECTS)} "
                         f"({self.district.units[unit_id]['name']}, số {n})",
                "field": self.rng.choice(FIELDS),
                "authors": [{"member_id": member_id, "full_name": full_name,
                             "direct_worker": False}],
                "claimed_benefit_vnd": benefit})

        async def send(client: httpx.AsyncClient, n: int) -> httpx.Response:
            body = bodies[n]
            sent_at = time.perf_counter()
            answer = await client.post("/initiatives", json=body, headers={
                "Idempotency-Key": f"sysbench-{uuid.uuid4()}",
                **self.official("grassroots_official", body["unit_id"])})
            if answer.is_success and n % self.sample_every == 0:
                accepted = answer.json()
                # The submission notifies the reviewing council's officers, not the author.
                self.follower.follow(Followed(
                    "submission", sent_at, body["authors"][0]["member_id"],
                    f"submission:{body['initiative_id']}", accepted["event_id"],
                    accepted["correlation_id"], notified=False))
            return answer

        await self.send_all(run, count, send)
        return run, bodies

    async def review(self, kind: str, bodies: list[dict], level: str,
                     council_of: Callable[[dict], str]) -> tuple[CommandRun, list[dict]]:
        """One review of each initiative in `bodies` by the council of `council_of(body)`'s
        unit, as its council reviewer: accepted (grade and benefit) for most, else rejected.
        Returns the run and the initiatives accepted."""
        run = CommandRun(kind)
        decisions = []
        for body in bodies:
            if self.rng.random() < 0.85:
                benefit = body["claimed_benefit_vnd"] * self.rng.choice((1, 1, 0.8, 0.5)) // 1
                decisions.append({"outcome": "accepted", "level": level,
                                  "grade": self.rng.choice("ABBCC"),
                                  "recognised_benefit_vnd": int(benefit),
                                  "comment": "Hội đồng sáng kiến công nhận"})
            else:
                decisions.append({"outcome": "rejected", "level": level,
                                  "comment": "Chưa chứng minh được hiệu quả"})

        async def send(client: httpx.AsyncClient, n: int) -> httpx.Response:
            body, decision = bodies[n], decisions[n]
            sent_at = time.perf_counter()
            answer = await client.post(
                f"/initiatives/{body['initiative_id']}/reviews", json=decision,
                headers={"Idempotency-Key": f"sysbench-{uuid.uuid4()}",
                         **self.official("council_reviewer", council_of(body))})
            if answer.is_success and level != "grassroots" and decision["outcome"] == "accepted":
                self.follower.priced_again(f"initiative:{body['initiative_id']}",
                                           answer.json()["event_id"])
            if answer.is_success and n % self.sample_every == 0:
                recorded = answer.json()
                self.follower.follow(Followed(
                    kind, sent_at, body["authors"][0]["member_id"],
                    f"initiative:{body['initiative_id']}", recorded["event_id"],
                    recorded["correlation_id"], notified=True,
                    scored=decision["outcome"] == "accepted" or level == "grassroots"))
            return answer

        await self.send_all(run, len(bodies), send)
        accepted = [b for b, d in zip(bodies, decisions, strict=True)
                    if d["outcome"] == "accepted"]
        return run, accepted
