"""A bounded in-process cache whose entries expire: for the directory's hot reads.

API processes read the directory but consume no events, so nothing tells them a unit moved;
an answer is kept for `seconds` at most, which bounds how stale it can be. At most `size`
entries are kept, the least recently used leaving first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Final

MISSING: Final = object()
"""What `get` returns for a key not cached (or expired); `None` is a value that can be cached."""


class TtlCache:
    __slots__ = ("_clock", "_entries", "seconds", "size")

    def __init__(self, seconds: float, size: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.seconds > 0 and self.size > 0

    def get(self, key: Hashable) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return MISSING
        expires_at, value = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return MISSING
        self._entries.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        if not self.enabled:
            return
        self._entries[key] = (self._clock() + self.seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
