"""The four services as separate OS processes for the system benchmark, and what is read from
them while it runs: `/stats` counters, consumer-group lag, peak RSS.

Each run gets its own schemas and consumer groups, so a run against a shared broker and
database (`KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL`) starts from empty tables and reads the
topics from their beginning.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from benchmarks.directory_import import peak_rss_mb
from services import registry
from services.devstack.infrastructure import Infrastructure
from services.devstack.processes import die_with_parent, free_port
from services.devstack.supervisor import (
    ServiceDied,
    ServiceProcess,
    raise_if_any_died,
    service_command,
    service_env,
    stop_services,
    wait_until_ready,
)
from services.ops.status import group_lag
from tests.support.identity import auth_settings


def schema_of(name: str, run_id: str) -> str:
    return f"sysbench_{run_id}_{name}"


def group_of(name: str, run_id: str) -> str:
    return f"thidua-{name}-sysbench-{run_id}"


def start_stack(infra: Infrastructure, run_id: str, ready_timeout_s: float = 180.0,
                ) -> list[ServiceProcess]:
    """Every service of the registry in its own process (role `all`: API, consumer and relay),
    on free ports; returns once each answers `/readyz`."""
    identity = {name.upper(): value for name, value in auth_settings().items()}
    started: list[ServiceProcess] = []
    try:
        for entry in registry.SERVICES:
            port = free_port()
            base = dict(os.environ) | {
                f"{entry.env_prefix}DB_SCHEMA": schema_of(entry.name, run_id),
                f"{entry.env_prefix}CONSUMER_GROUP": group_of(entry.name, run_id),
                f"{entry.env_prefix}ROLE": "all",
                "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
            }
            env = service_env(entry.name, port, infra, base, identity)
            process = subprocess.Popen(service_command(entry.name), env=env,
                                       stdin=subprocess.DEVNULL, start_new_session=True,
                                       preexec_fn=die_with_parent)  # noqa: PLW1509 (prctl only)
            started.append(ServiceProcess(entry.name, port, process))
        wait_until_ready(started, ready_timeout_s)
    except BaseException:
        stop_services(started)
        raise
    return started


def peak_rss(services: list[ServiceProcess]) -> dict[str, float]:
    """VmHWM of each service's process in MB (read while it still runs)."""
    return {s.name: peak_rss_mb(s.process.pid) for s in services}


def consumed_topics() -> dict[str, list[str]]:
    """The topics each service's consumer reads, from its definition."""
    topics = {}
    for entry in registry.SERVICES:
        definition = importlib.import_module(entry.app_module).definition()
        topics[entry.name] = sorted(t.name for t in definition.consumes)
    return topics


@dataclass
class Sample:
    at: float  # seconds since the sampler started
    applied: dict[str, int]  # consumer events applied, per service
    published: dict[str, int]  # outbox events published by the relay, per service
    backlog: dict[str, int]  # outbox rows waiting, per service


@dataclass
class StatsSampler:
    """Polls every service's `/stats` once a second in the background; the series gives
    events applied per second per service, and tells when the system has gone quiet."""

    services: list[ServiceProcess]
    interval_s: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    _task: asyncio.Task | None = None
    _started: float = 0.0

    async def __aenter__(self) -> StatsSampler:
        self._started = time.perf_counter()
        self._client = httpx.AsyncClient(timeout=10)
        await self.sample()
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._client.aclose()

    def now(self) -> float:
        return time.perf_counter() - self._started

    async def sample(self) -> Sample:
        raise_if_any_died(self.services)  # ServiceDied names it: no wait runs on to its timeout
        answers = await asyncio.gather(*(self._client.get(f"{s.url}/stats")
                                         for s in self.services))
        stats = {s.name: a.raise_for_status().json() for s, a in
                 zip(self.services, answers, strict=True)}
        sample = Sample(
            self.now(),
            {n: (v.get("consumer") or {}).get("applied", 0) for n, v in stats.items()},
            {n: (v.get("relay") or {}).get("published", 0) for n, v in stats.items()},
            {n: (v.get("relay") or {}).get("backlog_rows", 0)
             + (v.get("relay") or {}).get("in_flight", 0) for n, v in stats.items()})
        self.samples.append(sample)
        return sample

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.sample()
            except httpx.HTTPError:
                pass  # a slow answer under load: the next sample covers it
            except ServiceDied:
                return  # the load's next wait or command reports it

    def rates(self, since: float = 0.0, until: float = float("inf"),
              ) -> dict[str, dict[str, float]]:
        """Per service: events applied between `since` and `until`, the seconds from the first
        to the last sample where the count moved, their mean rate, and the best 5-second
        window."""
        window = [s for s in self.samples if since <= s.at <= until]
        answer = {}
        for name in (s.name for s in self.services):
            moved = [b for a, b in itertools.pairwise(window)
                     if b.applied[name] != a.applied[name]]
            total = window[-1].applied[name] - window[0].applied[name] if window else 0
            if not moved:
                answer[name] = {"applied": total, "active_s": 0.0, "mean_per_s": 0.0,
                                "peak_5s_per_s": 0.0}
                continue
            first = window[window.index(moved[0]) - 1]
            active = moved[-1].at - first.at
            peak = 0.0
            for i, start in enumerate(window):
                end = next((s for s in window[i:] if s.at - start.at >= 5.0), None)
                if end is None:
                    break
                peak = max(peak, (end.applied[name] - start.applied[name]) / (end.at - start.at))
            mean = total / active if active else 0.0
            # Over a span shorter than 5 s, the best 5 s are the mean.
            answer[name] = {"applied": total, "active_s": round(active, 2), "mean_per_s": mean,
                            "peak_5s_per_s": peak if active >= 5.0 else mean}
        return answer


async def total_lag(bootstrap: str, run_id: str, topics: Mapping[str, list[str]]) -> int:
    """Records on the services' topics not yet committed by their groups (as `thidua status`)."""
    lags = await asyncio.gather(*(group_lag(bootstrap, name, group_of(name, run_id), names)
                                  for name, names in topics.items()))
    return sum(t.lag for per_service in lags for t in per_service)


async def wait_until_quiet(sampler: StatsSampler, bootstrap: str, run_id: str,
                           topics: Mapping[str, list[str]], timeout_s: float,
                           what: str) -> float:
    """Wait until every consumer group has committed the end of its topics, no outbox holds a
    row and no counter moved for a second; return the seconds waited. A clear error at
    `timeout_s`, with what was left.

    The lag (as `thidua status` reads it, a few seconds on the embedded broker) is asked only
    once the counters stood still: a consumer between two fetches moves none of them."""
    started = time.perf_counter()
    deadline = started + timeout_s
    last_print, lag = started, None
    before = await sampler.sample()
    while True:
        await asyncio.sleep(1.0)
        after = await sampler.sample()
        still = (after.applied == before.applied and after.published == before.published
                 and not any(after.backlog.values()))
        if still:
            lag = await total_lag(bootstrap, run_id, topics)
            latest = await sampler.sample()
            if lag == 0 and latest.applied == after.applied and not any(latest.backlog.values()):
                return time.perf_counter() - started
            after = latest
        before = after
        now = time.perf_counter()
        left = (f"{'unknown' if lag is None else f'{lag:,}'} records not consumed at the last "
                f"look, {sum(after.backlog.values()):,} outbox rows")
        if now > deadline:
            raise TimeoutError(f"{what}: the services were still busy after {timeout_s:.0f} s "
                               f"({left}; applied so far {after.applied})")
        if now - last_print > 15:
            print(f"  ... {what}: {left} ({now - started:.0f} s)", flush=True)
            last_print = now


def stop_stack(services: list[ServiceProcess]) -> None:
    stop_services(services, grace_s=15.0)
