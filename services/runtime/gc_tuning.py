"""Garbage collection tuned for a service that decodes thousands of events per batch.

CPython's full collections traverse every tracked object. A service carries a few hundred
thousand long-lived ones (FastStream, pydantic schemas, asyncpg, FastAPI), and a batch keeps a
few thousand decoded events alive at once, which triggers full collections over and over:
decoding 2,000 events while keeping them measured 24,000 events/s with the defaults and 43,000
with the start-up objects frozen out of collection and a larger first generation.
"""

from __future__ import annotations

import gc

# Objects allocated before a young collection (CPython's default is 700).
YOUNG_GENERATION_THRESHOLD = 10_000


def freeze_startup_objects() -> None:
    """Move everything alive now out of the collector's sight; collect less often.

    Call once the service has started: what exists then lives as long as the process.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)
