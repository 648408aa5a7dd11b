"""An outbox relay in its own process, so a test can kill it with SIGKILL mid-batch.

`--hang-after N` lets N batches complete, then publishes batch N+1 and hangs before deleting
its rows (printing "hanging"): exactly the window in which a crash leaves published rows behind.
"""

from __future__ import annotations

import argparse
import asyncio

from services.runtime.kafka import create_producer
from services.runtime.relay import OutboxRelay
from services.runtime.settings import ServiceSettings


class HangingRelay(OutboxRelay):
    def __init__(self, *args, hang_after: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._hang_after = hang_after

    async def _delete_published(self, conn, seqs) -> None:
        if self.stats.batches >= self._hang_after:
            print("hanging", flush=True)
            await asyncio.Event().wait()
        await super()._delete_published(conn, seqs)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kafka", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--hang-after", type=int, default=3)
    args = parser.parse_args()
    settings = ServiceSettings(kafka_bootstrap_servers=args.kafka, service_name="relay-under-test")
    producer = create_producer(settings)
    await producer.start()
    relay = HangingRelay(args.database_url, args.schema, producer, batch_size=args.batch_size,
                         hang_after=args.hang_after)
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main())
