"""The consumer's repository: what a batch of events reads and writes, on the batch's
transaction. The HTTP side's SQL is in `inbox_store.py`, `member_store.py` and
`webhook_store.py`."""

from __future__ import annotations

import asyncpg

from .facts_store import FactsStore
from .fanout_store import FanoutStore, Written, anchor_unit

__all__ = ["NotifyRepository", "Written", "anchor_unit"]


class NotifyRepository(FactsStore, FanoutStore):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
