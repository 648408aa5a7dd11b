"""An outbox relay in its own process, so a test can kill it with SIGKILL mid-pipeline.

`--hang-after N` lets the relay delete N batches' worth of acknowledged rows, then hangs at
its next delete (printing "hanging"): the rows it was about to delete are on the broker but
still in the outbox, and later batches may be in flight. That is the window in which a crash
leaves published rows behind.
"""

from __future__ import annotations

import argparse
import asyncio

from services.runtime.kafka import create_producer
from services.runtime.relay import OutboxRelay
from services.runtime.settings import ServiceSettings


class HangingRelay(OutboxRelay):
    def __init__(self, *args, hang_after_rows: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._hang_after_rows = hang_after_rows
        self._deleted = 0

    async def _delete_and_select(self, conn, cursor, acknowledged, limit):
        if acknowledged and self._deleted >= self._hang_after_rows:
            print("hanging", flush=True)
            await asyncio.Event().wait()
        selected = await super()._delete_and_select(conn, cursor, acknowledged, limit)
        self._deleted += len(acknowledged)
        return selected


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kafka", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--hang-after", type=int, default=3, help="batches deleted before")
    args = parser.parse_args()
    settings = ServiceSettings(kafka_bootstrap_servers=args.kafka, service_name="relay-under-test")
    producer = create_producer(settings)
    await producer.start()
    relay = HangingRelay(
        args.database_url, args.schema, producer, batch_size=args.batch_size,
        max_in_flight_batches=args.in_flight, hang_after_rows=args.hang_after * args.batch_size,
    )
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main())
