"""The whole system under a district-scale load through its HTTP APIs, beside the raw ceilings of
the broker and PostgreSQL measured in the same run.

Starts the four services as separate processes (as `thidua up` does: role `all`, each with its
own schema and consumer group) on the real broker and database, then, as their users would:

1. imports the directory — 1,000 units, 100,000 members (Vietnamese names, realistic union
   sizes) — through registration's bulk import, and waits until every service has it;
2. launches the city federation's year campaign;
3. submits 50,000 initiatives, each by an official of its author's union;
4. has every one reviewed by its union's council (85 % accepted with a grade and benefit), then
   a tenth of the accepted ones again by the district-level council above;
5. waits until every consumer group has read its topics to the end and every outbox is empty;
6. closes the phase as the city administrator and times it to the standings being final in
   scoring, to the award proposals being visible in awards, and to every
   `thidua.award.proposed.v1` being on the topic.

One command in `--sample-every` (default: about 300 a kind) is followed while the load runs:
from its accepted answer to the author's score showing the fact in scoring, and (reviews) to
the author's notification in notify carrying the command's correlation id. Each service's
`/stats` is sampled every second for events applied per second, and each process's `VmHWM`
is read at the end.

Before the services start, the ceilings: a bare aiokafka producer (the services' producer
options) and consumer on a topic of their own, PostgreSQL COPY of the members file, batched
(`unnest`, 500 a transaction) and one-round-trip-a-row upserts, and single-row transactions at
the load's concurrency. The table prints each throughput beside its ceiling and their ratio;
the results go to `system-benchmark.json` and a chart to `system-benchmark.svg` in `--out`.

    python -m benchmarks.system [--members 100000] [--units 1000] [--initiatives 50000]
                                [--concurrency 16] [--scale 1.0] [--out DIR]

`--scale 0.1` runs a tenth of members, units (at least 10) and initiatives. Every wait has a
timeout (`--timeout`, per step) that stops the run with what was still pending.
Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path

import httpx

from benchmarks import system_ceilings, system_report
from benchmarks.command_throughput import drive
from benchmarks.directory_import import generate, upload
from benchmarks.system_load import (
    CommandRun,
    District,
    Follower,
    Load,
    campaign_for,
    token,
)
from benchmarks.system_stack import (
    StatsSampler,
    consumed_topics,
    peak_rss,
    start_stack,
    stop_stack,
    wait_until_quiet,
)
from contracts.topics import AWARDS
from services.devstack.infrastructure import Infrastructure, provide_infrastructure
from services.devstack.supervisor import ServiceDied, ServiceProcess
from services.devstack.topics import all_topic_specs, ensure_topics
from services.ops.topic_reader import reading
from services.runtime.logs import configure_logging

DISTRICT_REVIEW_SHARE = 0.1
SAMPLES_PER_KIND = 300


class BenchmarkFailed(RuntimeError):
    pass


STARTED = time.perf_counter()


def say(text: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {text}", flush=True)


async def poll(what: str, timeout_s: float, check, interval_s: float = 0.2):
    """Call `check()` until it answers something truthy; `BenchmarkFailed` naming `what` and
    the last answer at the timeout."""
    deadline = time.perf_counter() + timeout_s
    last = None
    while time.perf_counter() < deadline:
        try:
            found, last = await check()
            if found:
                return found
        except httpx.HTTPError as exc:
            last = repr(exc)
        await asyncio.sleep(interval_s)
    raise BenchmarkFailed(f"{what}: not within {timeout_s:.0f} s (last answer: {last})")


async def award_proposed_on_topic(bootstrap: str, campaign_id: str) -> int:
    """`thidua.award.proposed.v1` records of the campaign on the awards topic, read to its end."""
    found = 0
    async with reading(bootstrap, AWARDS.name, from_beginning=True,
                       client_id="thidua-system-benchmark") as reader:
        while not await reader.at_end():
            for record in await reader.poll():
                event = json.loads(record.value)
                found += (event.get("type") == "thidua.award.proposed.v1"
                          and event.get("data", {}).get("campaign_id") == campaign_id)
    return found


async def count_proposals(client: httpx.AsyncClient, awards: str, campaign: dict) -> int:
    params = {"campaign_id": campaign["campaign_id"], "phase_id": campaign["phases"][0]["phase_id"],
              "status": "proposed", "limit": 500}
    total, cursor = 0, None
    while True:
        page = (await client.get(f"{awards}/proposals", params=params | (
            {"cursor": cursor} if cursor else {}))).raise_for_status().json()
        total += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return total


def sizes(args: argparse.Namespace) -> tuple[int, int, int]:
    members = max(50, round(args.members * args.scale))
    units = max(10, round(args.units * args.scale))
    initiatives = max(20, round(args.initiatives * args.scale))
    return members, units, initiatives


async def measure_http_ceiling(url: str, concurrency: int, count: int) -> float:
    """`GET /healthz` per second from registration at the load's concurrency: its HTTP stack
    alone, the most any command could reach through it."""
    clients = [httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=1))
               for _ in range(concurrency)]
    try:
        async def healthz(client, n):
            return await client.get("/healthz")

        await drive(clients, min(200, count), healthz)
        seconds, ok = await drive(clients, count, healthz)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    return ok / seconds


async def load(args: argparse.Namespace, infra: Infrastructure, run_id: str,
               services: list[ServiceProcess], files: tuple[Path, Path],
               initiatives: int) -> dict:
    url = {s.name: s.url for s in services}
    district = District.read(*files)
    topics = consumed_topics()
    admin = token("city_admin")
    marks: list[dict] = []
    commands: dict[str, CommandRun] = {}
    timeout = args.timeout
    bootstrap = infra.kafka_bootstrap_servers

    async with StatsSampler(services) as sampler, httpx.AsyncClient(
            timeout=120, headers=admin) as client:
        async def mark(label: str) -> None:
            # A sample at each mark: a step shorter than the sampling interval (a tiny import)
            # still has its counts at both ends.
            marks.append({"at": (await sampler.sample()).at, "label": label})

        http_ceiling = await measure_http_ceiling(url["registration"], args.concurrency,
                                                  max(100, min(2 * initiatives, 2_000)))
        say(f"registration GET /healthz at concurrency {args.concurrency}: "
            f"{http_ceiling:,.0f}/s (its HTTP stack alone)")

        await mark("import")
        say(f"importing {len(district.units):,} units and {len(district.members):,} members ...")
        client.base_url = url["registration"]
        units_job, units_s = await asyncio.wait_for(upload(client, "units", files[0]), timeout)
        members_job, members_s = await asyncio.wait_for(upload(client, "members", files[1]),
                                                        timeout)
        for job in (units_job, members_job):
            if job["status"] != "succeeded":
                raise BenchmarkFailed(f"import {job['kind']} ended {job['status']}: {job}")
        say(f"  units {units_s:.1f} s, members {members_s:.1f} s "
            f"({len(district.members) / members_s:,.0f} rows/s)")
        last = district.last_unit()
        for service in services:
            await poll(f"{service.name}'s directory showing {last}", timeout, lambda s=service: (
                _status_is(client, f"{s.url}/directory/units/{last}", 200)))
        waited = await wait_until_quiet(sampler, bootstrap, run_id, topics, timeout,
                                        "directory reaching every service")
        say(f"  every service holds the directory; their consumers went quiet {waited:.1f} s "
            "after it showed")

        campaign = campaign_for(district.city, run_id)
        launched = await client.post(f"{url['registration']}/campaigns", json=campaign,
                                     headers={"Idempotency-Key": f"sysbench-{run_id}"})
        if launched.status_code != 201:
            raise BenchmarkFailed(f"POST /campaigns answered {launched.status_code}: "
                                  f"{launched.text}")
        phase_id = campaign["phases"][0]["phase_id"]
        follower = Follower(url["scoring"], url["notify"], campaign["campaign_id"], phase_id,
                            timeout_s=timeout)
        sample_every = args.sample_every or max(1, initiatives // SAMPLES_PER_KIND)
        work = Load(url["registration"], district, campaign, args.concurrency, follower,
                    sample_every)
        stop_following = asyncio.Event()
        following = asyncio.create_task(follower.run(stop_following))

        await mark("submissions")
        say(f"submitting {initiatives:,} initiatives at concurrency {args.concurrency} ...")
        submitted, bodies = await work.submit(initiatives)
        commands[submitted.kind] = submitted
        accepted_ids = {b["initiative_id"] for b in bodies}  # refused ones are never reviewed
        if submitted.refused:
            raise BenchmarkFailed(f"{sum(submitted.refused.values())} submissions refused: "
                                  f"{submitted.first_refusals}")
        await mark("grassroots reviews")
        say(f"reviewing {len(accepted_ids):,} initiatives at grassroots ...")
        grassroots, accepted = await work.review(
            "POST /initiatives/{id}/reviews (grassroots)", bodies, "grassroots",
            lambda body: body["unit_id"])
        commands[grassroots.kind] = grassroots
        upper = [b for b in accepted if district.upper_council(b["unit_id"])]
        upper = upper[:max(1, round(len(upper) * DISTRICT_REVIEW_SHARE))]
        await mark("district reviews")
        say(f"reviewing {len(upper):,} of them again at district level ...")
        district_run, _ = await work.review(
            "POST /initiatives/{id}/reviews (district)", upper, "district",
            lambda body: district.upper_council(body["unit_id"]))
        commands[district_run.kind] = district_run
        for run in (grassroots, district_run):
            if run.refused:
                raise BenchmarkFailed(f"{run.kind}: {sum(run.refused.values())} refused: "
                                      f"{run.first_refusals}")

        await mark("drain")
        say("waiting for every consumer and outbox to catch up ...")
        drain_s = await wait_until_quiet(sampler, bootstrap, run_id, topics, timeout,
                                         "the load's events reaching every service")
        say(f"  caught up {drain_s:.1f} s after the last review")
        stop_following.set()
        await asyncio.wait_for(following, timeout)

        await mark("phase close")
        say("closing the phase ...")
        close_path = f"/campaigns/{campaign['campaign_id']}/phases/{phase_id}/close"
        started = time.perf_counter()
        closed = await client.post(f"{url['registration']}{close_path}",
                                   headers={"Idempotency-Key": f"sysbench-close-{run_id}"})
        close_s = time.perf_counter() - started
        if closed.status_code != 200:
            raise BenchmarkFailed(f"closing the phase answered {closed.status_code}: "
                                  f"{closed.text[:2000]}")
        barrier = f"{url['scoring']}/campaigns/{campaign['campaign_id']}/phases/{phase_id}/barrier"
        await poll("scoring finalizing the phase's standings", timeout,
                   lambda: _json_field(client, barrier, "finalized_at"), interval_s=0.05)
        to_final = time.perf_counter() - started
        first = {"campaign_id": campaign["campaign_id"], "phase_id": phase_id, "limit": 1}
        await poll("awards storing the proposal round", timeout,
                   lambda: _has_items(client, f"{url['awards']}/proposals", first),
                   interval_s=0.05)
        to_visible = time.perf_counter() - started
        proposals = await count_proposals(client, url["awards"], campaign)
        on_topic = await poll(f"{proposals:,} award.proposed events on {AWARDS.name}", timeout,
                              lambda: _events_reach(bootstrap, campaign["campaign_id"],
                                                    proposals), interval_s=0.5)
        to_published = time.perf_counter() - started
        say(f"  close answered in {close_s:.2f} s; standings final after {to_final:.1f} s; "
            f"{proposals:,} proposals visible after {to_visible:.1f} s, all on the topic "
            f"after {to_published:.1f} s")
        await mark("end")
        rss = peak_rss(services)
        at = {m["label"]: m["at"] for m in marks}
        rates = {"directory import": sampler.rates(at["import"], at["submissions"]),
                 "commands and phase close": sampler.rates(at["submissions"])}

    delays = {}
    for kind, what, attribute in (
            ("submission", "submission accepted -> author's score visible", "to_score"),
            ("POST /initiatives/{id}/reviews (grassroots)",
             "grassroots review accepted -> author's score visible", "to_score"),
            ("POST /initiatives/{id}/reviews (grassroots)",
             "grassroots review accepted -> author's notification delivered",
             "to_notification"),
            ("POST /initiatives/{id}/reviews (district)",
             "district review accepted -> author's score visible", "to_score"),
            ("POST /initiatives/{id}/reviews (district)",
             "district review accepted -> author's notification delivered",
             "to_notification")):
        wanted = [s for s in follower.finished + follower.missing if s.kind == kind
                  and (s.scored if attribute == "to_score" else s.notified)]
        seen = [getattr(s, attribute) for s in wanted if getattr(s, attribute) is not None]
        missing = len(wanted) - len(seen)
        delays[what] = system_report.percentiles(seen) | {"missing": missing}
    return {
        "import": {"units": units_job["registered"], "members": members_job["registered"],
                   "units_s": units_s, "members_s": members_s,
                   "members_rows_per_s": members_job["registered"] / members_s},
        "commands": {kind: run.as_dict() for kind, run in commands.items()},
        "events_applied": rates,
        "delays": delays,
        "drain_s": drain_s,
        "phase_close": {"close_s": close_s, "to_standings_final_s": to_final,
                        "to_proposals_visible_s": to_visible,
                        "to_proposals_published_s": to_published, "proposals": proposals,
                        "award_proposed_events": on_topic,
                        "accepted_counts": closed.json()["accepted_counts"]},
        "peak_rss_mb": rss,
        "http_healthz_per_s": http_ceiling,
        "sample_every": sample_every,
        "missing_samples": [asdict(s) for s in follower.missing],
        "poll_errors": follower.poll_errors,
        "marks": marks,
        "timeline": [asdict(s) for s in sampler.samples],
    }


async def _status_is(client: httpx.AsyncClient, url: str, status: int):
    answer = await client.get(url)
    return answer.status_code == status, answer.status_code


async def _json_field(client: httpx.AsyncClient, url: str, name: str):
    answer = await client.get(url)
    if answer.status_code != 200:
        return False, f"HTTP {answer.status_code}"
    return answer.json().get(name), answer.json()


async def _has_items(client: httpx.AsyncClient, url: str, params: dict):
    answer = await client.get(url, params=params)
    if answer.status_code != 200:
        return False, f"HTTP {answer.status_code}: {answer.text[:200]}"
    return bool(answer.json()["items"]), "no proposal yet"


async def _events_reach(bootstrap: str, campaign_id: str, expected: int):
    """The records found once they are as many as the proposals (at least one)."""
    found = await award_proposed_on_topic(bootstrap, campaign_id)
    return (found if found >= max(1, expected) else 0), f"{found:,} of {expected:,}"


def run(args: argparse.Namespace, infra: Infrastructure, work: Path) -> dict:
    members, units, initiatives = sizes(args)
    run_id = uuid.uuid4().hex[:8]
    label = (f"{members:,} members, {units:,} units, {initiatives:,} initiatives, "
             f"concurrency {args.concurrency}")
    say(f"system benchmark: {label} (run {run_id})")
    asyncio.run(ensure_topics(infra.kafka_bootstrap_servers, all_topic_specs()))
    started = time.perf_counter()
    files = generate(work, units, members)
    say(f"generated the directory in {time.perf_counter() - started:.1f} s")
    say("measuring the ceilings (broker, PostgreSQL) ...")
    ceilings = asyncio.run(system_ceilings.measure(
        infra.kafka_bootstrap_servers, infra.database_url, run_id, files[1],
        max(2_000, min(2 * initiatives, 50_000)), args.concurrency))
    for name, value in ceilings.items():
        say(f"  {name}: {value:,.0f}")
    say("starting registration, scoring, awards and notify as separate processes ...")
    services = start_stack(infra, run_id)  # from the main thread: children die with it
    try:
        results = asyncio.run(load(args, infra, run_id, services, files, initiatives))
    finally:
        stop_stack(services)
    results["ceilings"] = ceilings | {"http_healthz_per_s": results.pop("http_healthz_per_s")}
    results["options"] = {"members": members, "units": units, "initiatives": initiatives,
                          "concurrency": args.concurrency, "scale": args.scale,
                          "label": label, "run_id": run_id,
                          "command": " ".join(["python -m benchmarks.system", *sys.argv[1:]])}
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=1_000)
    parser.add_argument("--initiatives", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=16,
                        help="commands in flight at once (one connection each)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of members, units and initiatives, for quick runs")
    parser.add_argument("--sample-every", type=int, default=0,
                        help="follow one command in N (default: about 300 of each kind)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds any one step may take before the run stops")
    parser.add_argument("--out", type=Path,
                        default=Path(tempfile.gettempdir()) / "thidua-system-benchmark",
                        help="directory for system-benchmark.json and .svg")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1 or args.concurrency < 1:
        parser.error("--scale must lie in (0, 1] and --concurrency be at least 1")
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra, tempfile.TemporaryDirectory() as work:
        try:
            results = run(args, infra, Path(work))
        except (BenchmarkFailed, TimeoutError, ServiceDied, httpx.TransportError) as exc:
            raise SystemExit(f"system benchmark stopped: {type(exc).__name__}: {exc}") from exc
    table = system_report.markdown_table(results)
    json_path, svg_path = system_report.write(results, args.out)
    print(f"\n{results['options']['command']}\n{results['options']['label']}\n\n{table}\n")
    print(f"results: {json_path.resolve()}\nchart:   {svg_path.resolve()}", flush=True)
    return results


if __name__ == "__main__":
    main()
