"""Delay from an event's publish to its score being visible, at a steady rate.

One scoring worker (real handlers), in a process of its own as deployed, consumes a private
topic while this process publishes the realistic mix (`tests/support/scoring_mix.py`) at a
steady `--rate` events/s for `--seconds`. The worker records when each batch reached it, was
topped up, applied and committed, and which records it held (`BatchTimeline`). An event's
delay is from just before its `send` to the return of the COMMIT of the batch that applied it
(from then on every reader sees the score); events that change no score (a pledge signed, a
rejection: no ledger line) are not counted. Nothing polls the database while the clock runs:
a poller's interval and its turns in this process's event loop (which publishes) would be
added to every figure (a ledger poll every 5 ms added 9 to 40 ms on average).

The worker's schema is first brought to one in service: `--history` events (200,000 by
default) applied at the worker's own pace, then its tables vacuumed and analyzed. On an empty
schema autovacuum's thresholds, which grow with a table, are a few hundred rows, so the clock
held up to 15 vacuums of tables a few seconds old, each taking the second core (0 to 9 after
the history, most of them of `phase_counts`, which every batch appends to); and its indexes
were shallower than in service. The server is then
left WAL to recycle (`recycle_wal`), as one in service has, and this process collects no
garbage while the clock runs: either stall would be charged to the worker.

Prints p50/p99 beside the raw ceiling of the same run, the publish → consume delay of a bare
aiokafka consumer on the same topic (no decoding, no database); the delay cut into stages
(fetch and waiting behind the batch being applied, top-up, the apply's statements, COMMIT),
for all events and for the slowest 1 %; the batches' sizes and durations; then the worker's
statements per batch, by kind, with the client's wait for each.

Target: p99 < 100 ms at 1,000 events/s.

    python -m benchmarks.scoring_latency [--rate 1000] [--seconds 30] [--history 200000]
                                         [--batch 2000]

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import statistics
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from benchmarks.scoring_stream import (
    DEPLOYED_BATCH,
    WorkerProcess,
    percentile,
    private_topic,
    produce,
    summary,
)
from benchmarks.server_state import recycle_wal, server_activity, settle_tables
from contracts import encode_event
from services.devstack.infrastructure import provide_infrastructure
from services.runtime.logs import configure_logging
from services.runtime.settings import ServiceSettings
from tests.support.scoring_mix import scoring_mix

# WAL the worker writes per event of the mix (~170 MB for a run of 30,500 events).
WAL_PER_EVENT_KB = 6


async def publish_steadily(bootstrap: str, topic: str, events, rate: float,
                           sent_at: dict[str, float]) -> float:
    """Publish at `rate` events/s in 10 ms slices; return the rate achieved. The events are
    encoded before the clock starts: encoding them on the way would take this process's share
    of the machine's two cores from the worker and the broker it measures."""
    encoded = [(e.id, encode_event(e), e.partition_key().encode()) for e in events]
    # As the services' relays publish (PRODUCER_LINGER_MS): the linger is inside each delay.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap,
                                linger_ms=ServiceSettings().producer_linger_ms)
    await producer.start()
    started = time.perf_counter()
    for i, (event_id, value, key) in enumerate(encoded):
        due = started + i / rate
        if (ahead := due - time.perf_counter()) > 0:
            await asyncio.sleep(ahead)
        sent_at[event_id] = time.perf_counter()
        await producer.send(topic, value, key=key)
    await producer.flush()
    achieved = len(events) / (time.perf_counter() - started)
    await producer.stop()
    return achieved


async def scoring_events(conn: asyncpg.Connection) -> set[str]:
    """The events that changed a score: those with a line in the ledger."""
    return set(await conn.fetchval(
        "SELECT coalesce(array_agg(DISTINCT source_event_id), '{}') FROM score_entries"))


async def watch_topic(bootstrap: str, topic: str, seen_at: dict[str, float],
                      ids: dict[tuple[int, int], str], stop: asyncio.Event) -> None:
    """The ceiling: when a bare consumer of the topic gets each record."""
    from contracts import decode_event  # only the id is needed; decoded after timing
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="latest", fetch_max_wait_ms=5)
    await consumer.start()
    await consumer.seek_to_end()
    raw: list[tuple[float, ConsumerRecord]] = []
    while not stop.is_set():
        got = await consumer.getmany(timeout_ms=20)
        now = time.perf_counter()
        raw += [(now, r) for records in got.values() for r in records]
    await consumer.stop()
    for now, record in raw:
        event_id = decode_event(record.value).id
        seen_at.setdefault(event_id, now)
        ids[(record.partition, record.offset)] = event_id


STAGES = (
    ("publish → in a worker batch", "fetch, and waiting behind the batch being applied"),
    ("top-up wait", "the batch waiting for the fetch its delivery started"),
    ("apply's statements", "BEGIN to the statement before COMMIT, decoding and handlers too"),
    ("COMMIT", "the commit's round trip, WAL flushed"),
)


def split(batches: list[dict], ids: dict[tuple[int, int], str], sent_at: dict[str, float],
          scoring: set[str]) -> dict[str, list[float]]:
    """Each scored event's delay cut at the instants the worker recorded (ms per stage)."""
    stages: dict[str, list[float]] = {name: [] for name, _ in STAGES}
    stages["publish → committed"] = []
    for batch in batches:
        sent_commit, committed = batch["commit"]
        for n, coordinates in enumerate(batch["records"]):
            event_id = ids.get(tuple(coordinates))
            if event_id not in scoring or event_id not in sent_at:
                continue
            # A record the top-up brought arrived when the top-up returned.
            arrived = batch["delivered"] if n < batch["before"] else batch["topped"]
            marks = (sent_at[event_id], arrived, batch["started"], sent_commit, committed)
            for (name, _), start, end in zip(STAGES, marks, marks[1:], strict=False):
                stages[name].append(1000 * (end - start))
            stages["publish → committed"].append(1000 * (committed - sent_at[event_id]))
    return stages


def split_report(stages: dict[str, list[float]], batches: list[dict]) -> str:
    total = stages["publish → committed"]
    if not total:
        return "         (no batch timeline)"
    tail = percentile(total, 0.99)
    slow = [i for i, delay in enumerate(total) if delay >= tail]
    lines = [f"scoring  publish → score committed          {summary(total)}  (target p99 < 100 ms)",
             "         the delay by stage (ms):       mean     p50     p99   mean in the slowest 1 %"]
    for name, what in STAGES:
        values = stages[name]
        lines.append(f"           {name:<28} {statistics.fmean(values):7.1f} "
                     f"{percentile(values, 0.5):7.1f} {percentile(values, 0.99):7.1f} "
                     f"{statistics.fmean(values[i] for i in slow):9.1f}   {what}")
    sizes = [len(b["records"]) for b in batches]
    waits = [1000 * (b["topped"] - b["delivered"]) for b in batches if b["topped_up"]]
    empty = [1000 * (b["topped"] - b["delivered"]) for b in batches
             if b["topped_up"] and len(b["records"]) == b["before"]]
    applies = [1000 * (b["commit"][1] - b["started"]) for b in batches]
    gaps = [1000 * (b["delivered"] - a["ended"]) for a, b in itertools.pairwise(batches)]
    # Batches that grow, or batches that stall: the slowest batches' cost per record beside
    # all batches' says which.
    per_record = [1000 * (b["commit"][1] - b["started"]) / len(b["records"]) for b in batches]
    slowest = sorted(batches, key=lambda b: b["commit"][1] - b["started"])[
        -max(1, len(batches) // 100):]
    lines.append(
        f"         {len(batches):,} batches of {statistics.fmean(sizes):.0f} records "
        f"(p99 {percentile(sizes, 0.99):.0f}); applied in {statistics.fmean(applies):.1f} ms "
        f"(p99 {percentile(applies, 0.99):.1f}); {len(waits):,} topped up, waiting "
        f"{statistics.fmean(waits or [0]):.1f} ms each, {len(empty):,} of them for nothing "
        f"({statistics.fmean(empty or [0]):.1f} ms each); idle between batches "
        f"{statistics.fmean(gaps or [0]):.1f} ms")
    # The worker's load, and what a batch costs whatever its size against what each record
    # adds (a least-squares line through the batches' apply times): near 100 % busy, every
    # event waits for the batch in hand, and only a cheaper batch shortens the wait.
    span = batches[-1]["ended"] - batches[0]["delivered"]
    busy = sum(b["ended"] - b["delivered"] for b in batches) / span if span > 0 else 0.0
    fit = (statistics.linear_regression(sizes, applies) if len(set(sizes)) > 1 else None)
    lines.append(
        f"         the worker busy {100 * busy:.0f} % of the run (delivery to end of each "
        "batch)" + (f"; a batch costs ~{fit.intercept:.1f} ms + {fit.slope:.2f} ms per record"
                    if fit else ""))
    lines.append(
        f"         per record applied: {statistics.fmean(per_record):.2f} ms "
        f"(p50 {percentile(per_record, 0.5):.2f}); the slowest 1 % of batches: "
        f"{statistics.fmean(len(b['records']) for b in slowest):.0f} records, "
        f"{statistics.fmean(1000 * (b['commit'][1] - b['started']) / len(b['records']) for b in slowest):.2f} ms "
        f"per record")
    return "\n".join(lines)


async def run(args: argparse.Namespace, bootstrap: str, database_url: str) -> None:
    run_id = uuid.uuid4().hex[:8]
    topic = f"thidua.bench-latency-{run_id}.v1"
    await private_topic(bootstrap, topic, args.partitions)
    count = int(args.rate * args.seconds)
    units = (args.history + count) // 15 + 40  # the mix has ~17 events per unit with these settings
    mix = scoring_mix(f"cmp-latency-{run_id}", units=units, members_per_unit=40,
                      registering_members=2)
    # Before the clock: the launch, the history, then a warm-up of 500 events, applied at the
    # worker's own pace.
    warm = [mix.launch, *mix.events[:args.history + 500]]
    await produce(bootstrap, topic, warm)
    # The worker in a process of its own, as deployed: the publisher and the watchers here
    # take none of its interpreter (perf_counter is the machine's monotonic clock in both).
    worker = WorkerProcess(bootstrap, database_url, run_id, "latency", args.batch, topic)
    await worker.start()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": worker.schema})
    await worker.applied(len(warm))
    history_applied = time.perf_counter()
    await settle_tables(conn, worker.schema)
    recycled = await recycle_wal(conn, WAL_PER_EVENT_KB * count / 1024)
    settled = time.perf_counter() - history_applied
    batches = await worker.reset_statements()
    activity = await server_activity(conn, worker.schema)
    measured = mix.events[args.history + 500:args.history + 500 + count]

    sent_at: dict[str, float] = {}
    fetched_at: dict[str, float] = {}
    ids: dict[tuple[int, int], str] = {}
    stop = asyncio.Event()
    # No collection in this process while the clock runs: a full one over the prepared events
    # paused the publisher and the bare consumer for 431 ms in one run, a stall the worker
    # would be charged for. What the run allocates is freed by reference counting.
    gc.collect()
    gc.freeze()
    gc.disable()
    watcher = asyncio.create_task(watch_topic(bootstrap, topic, fetched_at, ids, stop))
    await asyncio.sleep(0.5)
    achieved = await publish_steadily(bootstrap, topic, measured, args.rate, sent_at)
    await worker.applied(len(warm) + len(measured))
    gc.enable()
    after, statements = await worker.statements()
    batches_applied = await worker.timeline()
    scoring = await scoring_events(conn)
    await asyncio.sleep(0.6)  # the statistics collector's reports
    checkpoints, vacuums, segments = (b - a for a, b in zip(activity, await server_activity(
        conn, worker.schema), strict=True))
    await asyncio.sleep(0.2)
    stop.set()
    await watcher
    await conn.close()

    ceiling = [1000 * (fetched_at[i] - t) for i, t in sent_at.items() if i in fetched_at]
    print(f"history: {args.history:,} events applied before the clock, then the worker's tables "
          f"vacuumed and analyzed and WAL left to recycle in {settled:.1f} s")
    print(f"published {len(measured):,} events at {achieved:,.0f}/s (asked {args.rate:,.0f}/s) "
          f"on {args.partitions} partitions; worker batches of up to {args.batch}")
    print(f"ceiling  publish → bare aiokafka consumer   {summary(ceiling)}")
    print(split_report(split(batches_applied, ids, sent_at, scoring), batches_applied))
    tables = ", ".join(f"{t} {n}" for t, n in vacuums.most_common() if n > 0)
    print(f"         while they were applied: {checkpoints} checkpoints, {vacuums.total()} "
          f"autovacuums and autoanalyzes of the worker's tables{f' ({tables})' if tables else ''}"
          f", {segments} WAL segments created "
          f"({recycled} made ready to recycle before the clock)")
    print(statements.report(after - batches, len(measured)))
    await worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--history", type=int, default=200_000,
                        help="events applied before the clock, as a schema in service holds "
                             "(default: 200,000; 0 for the empty schema of earlier rounds)")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--batch", type=int, default=DEPLOYED_BATCH,
                        help="max records per batch (default: the deployed worker's)")
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra:
        asyncio.run(run(args, infra.kafka_bootstrap_servers, infra.database_url))


if __name__ == "__main__":
    main()
