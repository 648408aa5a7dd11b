"""Commands accepted per second by registration over HTTP, against its own `/healthz` rate.

Runs registration under uvicorn in a subprocess (as ops run it) on the real broker and
database, then drives it with httpx at a fixed concurrency: first `GET /healthz` (the HTTP
stack alone), then `POST /initiatives` (validation, the command's transaction with its outbox
row). Prints both rates, their ratio, and the CPU time per request of the server and of this
client: on a small machine the client's share of the cores moves the ratio, the ratio of the
server's CPU times does not. A second, sequential phase runs registration in this process with
its database connections going through a counting proxy, and prints PostgreSQL round trips
per command. Then, in the same run, the ceiling any command stands under: single-row
transactions straight into PostgreSQL (BEGIN, one INSERT of a row the size of an initiative
with its outbox row, COMMIT) from as many connections as the HTTP concurrency, and the ratio
of accepted commands to that ceiling; and the same transactions each sending a NOTIFY, as
commands did to wake the relay before the wake-up moved after the commit.

    python -m benchmarks.command_throughput [--requests 4000] [--concurrency 32]
                                            [--role all|api] [--idempotency-keys]
                                            [--ceilings-only]

Each command comes from its unit's grassroots official with a token from a local issuer, on a
directory of 500 unions published first: the token check (cached per token) and the scope check
(the directory's cache) are part of what is measured.

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

import httpx

from contracts.events.org import UnitRegistered
from services.devstack.demo import DEMO_CAMPAIGN, DEMO_INITIATIVE
from services.devstack.infrastructure import provide_infrastructure
from services.devstack.processes import free_port
from services.devstack.topics import all_topic_specs, ensure_topics
from services.registration.app import definition
from services.registration.settings import RegistrationSettings
from services.runtime.http import create_app
from services.runtime.logs import configure_logging
from tests.support.directory import publish_tree, wait_until_projected
from tests.support.identity import ADMIN, auth_settings, bearer
from tests.support.postgres_proxy import PostgresProxy

ROUND_TRIP_COMMANDS = 200
UNITS = 500
OFFICIALS = [bearer("grassroots_official", unit=f"u-bench-{n:03d}") for n in range(UNITS)]


def bench_tree() -> list[UnitRegistered]:
    """A city, 30 district federations and 500 grassroots unions under them."""
    def unit(unit_id, kind, parent, district):
        return UnitRegistered(unit_id=unit_id, name=unit_id, kind=kind, parent_id=parent,
                              effective_from="2020-01-01", district_id=district, sector="other",
                              member_count=100, direct_worker_count=40)
    districts = [unit(f"u-bench-d{d:02d}", "district_federation", "u-bench-city",
                      f"u-bench-d{d:02d}") for d in range(30)]
    unions = [unit(f"u-bench-{n:03d}", "grassroots_union", f"u-bench-d{n % 30:02d}",
                   f"u-bench-d{n % 30:02d}") for n in range(UNITS)]
    return [unit("u-bench-city", "city_federation", None, None), *districts, *unions]


# The year's campaign, launched by the bench city so it reaches the bench's unions.
CAMPAIGN = DEMO_CAMPAIGN | {"organizer_unit_id": "u-bench-city"}


async def launch_campaign(client: httpx.AsyncClient) -> None:
    answer = await client.post("/campaigns", json=CAMPAIGN, headers=ADMIN)
    answer.raise_for_status()


def submission(n: int) -> dict:
    author = DEMO_INITIATIVE["authors"][0] | {"member_id": f"m-bench-{n % 5000:05d}"}
    return DEMO_INITIATIVE | {"authors": [author], "unit_id": f"u-bench-{n % UNITS:03d}"}


def headers(idempotency_keys: bool, n: int) -> dict[str, str]:
    keys = {"Idempotency-Key": f"bench-{uuid.uuid4()}"} if idempotency_keys else {}
    return keys | OFFICIALS[n % UNITS]


async def drive(clients: list[httpx.AsyncClient], count: int, send) -> tuple[float, int]:
    """Send `count` requests, one worker per client; return elapsed seconds and 2xx count."""
    remaining = iter(range(count))
    ok = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal ok
        for n in remaining:
            response = await send(client, n)
            ok += response.is_success

    started = time.perf_counter()
    await asyncio.gather(*(worker(client) for client in clients))
    return time.perf_counter() - started, ok


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def start_server(port: int, bootstrap: str, database_url: str, schema: str,
                 role: str = "all") -> subprocess.Popen:
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": database_url,
        "REGISTRATION_HTTP_PORT": str(port), "REGISTRATION_HTTP_HOST": "127.0.0.1",
        "REGISTRATION_DB_SCHEMA": schema, "REGISTRATION_ROLE": role, "LOG_LEVEL": "WARNING",
        # Its own group, so it reads the directory from the start of thidua.org.v1.
        "REGISTRATION_CONSUMER_GROUP": f"thidua-{schema}",
        "LOG_FORMAT": "console",
    } | {name.upper(): value for name, value in auth_settings().items()}
    return subprocess.Popen([sys.executable, "-m", "services.registration"], env=env,
                            stdin=subprocess.DEVNULL)


async def wait_ready(client: httpx.AsyncClient, server: subprocess.Popen) -> None:
    """Ready, and its directory holds the last union of the tree."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"registration exited with code {server.returncode}")
        try:
            if ((await client.get("/readyz")).status_code == 200 and (await client.get(
                    f"/directory/units/u-bench-{UNITS - 1:03d}", headers=ADMIN)).status_code
                    == 200):
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("registration was not ready within 60 s")


async def throughput(args: argparse.Namespace, bootstrap: str, database_url: str) -> float:
    port = free_port()
    server = start_server(port, bootstrap, database_url, f"cmdbench_{uuid.uuid4().hex[:8]}",
                          args.role)
    # One client with one connection per worker: httpcore scans its whole pool on every
    # request, which at 32 connections costs the client more CPU than the server spends.
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                 limits=httpx.Limits(max_connections=1))
               for _ in range(args.concurrency)]
    try:
        await wait_ready(clients[0], server)
        await launch_campaign(clients[0])

        async def healthz(c, n):
            return await c.get("/healthz")

        async def submit(c, n):
            return await c.post("/initiatives", json=submission(n),
                                headers=headers(args.idempotency_keys, n))

        await drive(clients, args.warmup, healthz)
        await drive(clients, args.warmup, submit)
        cpu, own = cpu_seconds(server.pid), time.process_time()
        health_s, health_ok = await drive(clients, args.requests, healthz)
        health_cpu, health_own = cpu_seconds(server.pid) - cpu, time.process_time() - own
        cpu, own = cpu_seconds(server.pid), time.process_time()
        submit_s, accepted = await drive(clients, args.requests, submit)
        submit_cpu, submit_own = cpu_seconds(server.pid) - cpu, time.process_time() - own
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
        server.terminate()
        server.wait(30)
    health_rate, command_rate = health_ok / health_s, accepted / submit_s
    per_request = 1000 / args.requests
    print(f"GET /healthz:      {health_rate:8,.0f} req/s  ({health_ok}/{args.requests} ok; CPU "
          f"per request: server {health_cpu * per_request:.2f} ms, client "
          f"{health_own * per_request:.2f} ms)")
    print(f"POST /initiatives: {command_rate:8,.0f} accepted/s  ({accepted}/{args.requests} "
          f"accepted; CPU per command: server {submit_cpu * per_request:.2f} ms, client "
          f"{submit_own * per_request:.2f} ms)")
    print(f"ratio commands / healthz at concurrency {args.concurrency}, role {args.role}: "
          f"{command_rate / health_rate:.2f} (by server CPU per request: "
          f"{health_cpu / submit_cpu:.2f}, the ratio when the server's core is the bottleneck)")
    return command_rate


async def transaction_ceiling(database_url: str, concurrency: int, count: int,
                              notify: bool = False) -> float:
    """Single-row transactions per second at `concurrency` connections, with no HTTP, no
    checks and no outbox: what PostgreSQL commits on this machine in this run. With `notify`,
    each transaction also sends a NOTIFY, as every command did to wake the relay before the
    wake-up moved after the commit (PostgreSQL serialises the commits of notifying
    transactions)."""
    import asyncpg

    table = f"ceiling_{uuid.uuid4().hex[:8]}"
    payload = json.dumps(submission(0)).encode() * 2  # an initiative and its outbox event
    pool = await asyncpg.create_pool(database_url, min_size=concurrency, max_size=concurrency)
    try:
        await pool.execute(f"CREATE TABLE {table} (id text PRIMARY KEY, payload bytea NOT NULL)")
        remaining = iter(range(count))

        async def worker() -> None:
            async with pool.acquire() as conn:
                for n in remaining:
                    async with conn.transaction():
                        await conn.execute(f"INSERT INTO {table} VALUES ($1, $2)", f"r{n}",
                                           payload)
                        if notify:
                            await conn.execute(f"NOTIFY {table}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        await pool.execute(f"DROP TABLE {table}")
    finally:
        await pool.close()
    return count / elapsed


async def round_trips(bootstrap: str, database_url: str, idempotency_keys: bool) -> None:
    counter = PostgresProxy(database_url)
    proxied = await counter.start()
    schema = f"cmdbench_{uuid.uuid4().hex[:8]}"
    settings = RegistrationSettings(kafka_bootstrap_servers=bootstrap, database_url=proxied,
                                    db_schema=schema, log_format="console", log_level="WARNING",
                                    consumer_group=f"thidua-{schema}", **auth_settings())
    app = create_app(definition(settings))
    runtime = app.state.runtime
    await runtime.start()
    await wait_until_projected([runtime.directory], bench_tree())
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registration") as client:
            await launch_campaign(client)
            for n in range(UNITS):  # statements prepared, connections opened, cache warm
                await client.post("/initiatives", json=submission(n),
                                  headers=headers(idempotency_keys, n))

            async def count(forget: bool) -> float:
                before = counter.round_trips[f"thidua-{schema}"]
                for n in range(ROUND_TRIP_COMMANDS):
                    if forget:  # as if each unit were seen for the first time in 5 s
                        runtime.directory.forget()
                    response = await client.post("/initiatives", json=submission(n),
                                                 headers=headers(idempotency_keys, n))
                    response.raise_for_status()
                return (counter.round_trips[f"thidua-{schema}"] - before) / ROUND_TRIP_COMMANDS

            warm, cold = await count(forget=False), await count(forget=True)
    finally:
        await runtime.stop()
        await counter.stop()
    print(f"PostgreSQL round trips per command: {warm:.2f} with the directory's cache warm, "
          f"{cold:.2f} with it cold (the scope check's reads); pool connections, "
          f"{ROUND_TRIP_COMMANDS} sequential commands each")


def ceilings(database_url: str, args: argparse.Namespace, command_rate: float | None) -> None:
    ceiling = asyncio.run(transaction_ceiling(database_url, args.concurrency, args.requests))
    notifying = asyncio.run(transaction_ceiling(database_url, args.concurrency, args.requests,
                                                notify=True))
    against = ("" if command_rate is None
               else f"; commands accepted / that ceiling: {command_rate / ceiling:.2f}")
    print(f"single-row transactions straight into PostgreSQL at concurrency "
          f"{args.concurrency}: {ceiling:8,.0f}/s{against}")
    print(f"the same, each with a NOTIFY (how commands woke the relay before): "
          f"{notifying:8,.0f}/s ({notifying / ceiling:.2f} of it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per measured phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--role", choices=("all", "api"), default="all",
                        help="registration's ROLE: with all the outbox relay runs in the "
                             "measured process; api is meant to leave it to a worker (as soon "
                             "as the runtime starts its parts by role)")
    parser.add_argument("--idempotency-keys", action="store_true",
                        help="send a fresh Idempotency-Key with every command")
    parser.add_argument("--ceilings-only", action="store_true",
                        help="measure only PostgreSQL's single-row transaction rates")
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra:
        if args.ceilings_only:
            ceilings(infra.database_url, args, None)
            return
        asyncio.run(ensure_topics(infra.kafka_bootstrap_servers, all_topic_specs()))
        asyncio.run(publish_tree(infra.kafka_bootstrap_servers, bench_tree()))
        command_rate = asyncio.run(throughput(args, infra.kafka_bootstrap_servers,
                                              infra.database_url))
        ceilings(infra.database_url, args, command_rate)
        # Bounded: a broker or database that dies under the run must not hang it.
        asyncio.run(asyncio.wait_for(round_trips(infra.kafka_bootstrap_servers,
                                                 infra.database_url, args.idempotency_keys), 300))


if __name__ == "__main__":
    main()
