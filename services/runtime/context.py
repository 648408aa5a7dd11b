"""What a handler works with: the batch's transaction, its repository, a clock and `emit`.

Events a handler emits are derived from the event that caused them (source, district,
correlation id, causation id: `Envelopes.caused_by`), so no handler builds an envelope by hand
and none can forget the causation id. They are collected for the whole batch and written to the
outbox in one statement, in the batch's transaction, just before it commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

import asyncpg

from contracts import CloudEvent, EventData, new_event

RepoT = TypeVar("RepoT")
DataT = TypeVar("DataT", bound=EventData)
Clock = Callable[[], datetime]

_UNSET = object()


def system_clock() -> datetime:
    return datetime.now(UTC)


class Envelopes:
    """Builds a service's events: its CloudEvents `source` is written here once."""

    def __init__(self, service: str, clock: Clock = system_clock) -> None:
        self.source = f"/thidua/{service}"
        self._clock = clock

    def caused_by(
        self, cause: CloudEvent, data: EventData, *, subject: str | None = None,
        district: str | object | None = _UNSET,
    ) -> CloudEvent:
        """An event that follows from `cause`: same flow (correlation), same district by default."""
        return new_event(
            data, source=self.source,
            district=cause.district if district is _UNSET else district,  # type: ignore[arg-type]
            correlation_id=cause.correlationid, causation_id=cause.id, subject=subject,
            time=self._clock(),
        )

    def for_command(
        self, data: EventData, *, district: str | None, correlation_id: str | None,
        subject: str | None = None, causation_id: str | None = None,
    ) -> CloudEvent:
        """An event announcing a command's change (the first of its flow, unless correlated)."""
        return new_event(
            data, source=self.source, district=district, correlation_id=correlation_id,
            causation_id=causation_id, subject=subject, time=self._clock(),
        )


@dataclass(slots=True)
class _Staged:
    """A coalesced event not built yet: its envelope is made once, when the batch drains."""

    cause: CloudEvent
    data: EventData
    subject: str | None
    district: str | object | None


class Emissions:
    """The events one batch emits, in order; coalesced ones keep one slot per key."""

    def __init__(self, envelopes: Envelopes) -> None:
        self._envelopes = envelopes
        self._entries: list[CloudEvent | _Staged] = []
        self._slot_of: dict[Hashable, int] = {}
        self._at_end: dict[Hashable, Callable[[], Awaitable[None]]] = {}

    def at_end(self, key: Hashable, fn: Callable[[], Awaitable[None]]) -> None:
        self._at_end.setdefault(key, fn)

    async def run_at_end(self) -> None:
        """Run what handlers left for the end of the batch, in order, each once (including
        what those leave in turn)."""
        done: set[Hashable] = set()
        while pending := [k for k in self._at_end if k not in done]:
            for key in pending:
                done.add(key)
                await self._at_end[key]()
        self._at_end.clear()

    def add(self, event: CloudEvent) -> None:
        self._entries.append(event)

    def coalesce(
        self, key: Hashable, staged: _Staged,
        merge: Callable[[EventData, EventData], EventData] | None,
    ) -> None:
        slot = self._slot_of.get(key)
        if slot is None:
            self._slot_of[key] = len(self._entries)
            self._entries.append(staged)
            return
        previous = self._entries[slot]
        assert isinstance(previous, _Staged)
        if merge is not None:
            staged.data = merge(previous.data, staged.data)
        self._entries[slot] = staged

    def drain(self) -> list[CloudEvent]:
        events = [
            entry if not isinstance(entry, _Staged)
            else self._envelopes.caused_by(entry.cause, entry.data, subject=entry.subject,
                                           district=entry.district)
            for entry in self._entries
        ]
        self._entries.clear()
        self._slot_of.clear()
        return events

    def __len__(self) -> int:
        return len(self._entries)


class Context(Generic[RepoT]):
    """A handler's view of the batch being applied.

    `conn` is the batch's open transaction; `repo` the service's repository bound to it;
    `event` the event being handled (per-event handlers) or None (batch handlers, which name the
    cause of each event they emit).
    """

    __slots__ = ("_emissions", "_envelopes", "clock", "conn", "event", "repo")

    def __init__(
        self, conn: asyncpg.Connection, repo: RepoT, envelopes: Envelopes, emissions: Emissions,
        clock: Clock = system_clock, event: CloudEvent | None = None,
    ) -> None:
        self.conn = conn
        self.repo = repo
        self.clock = clock
        self.event = event
        self._envelopes = envelopes
        self._emissions = emissions

    def for_event(self, event: CloudEvent) -> Context[RepoT]:
        return Context(self.conn, self.repo, self._envelopes, self._emissions, self.clock, event)

    def now(self) -> datetime:
        return self.clock()

    def emit(
        self, data: EventData, *, subject: str | None = None, cause: CloudEvent | None = None,
        district: str | object | None = _UNSET,
    ) -> CloudEvent:
        """Stage an event caused by `cause` (default: the event being handled)."""
        event = self._envelopes.caused_by(
            self._cause(cause), data, subject=subject, district=district
        )
        self._emissions.add(event)
        return event

    def emit_coalesced(
        self, key: Hashable, data: EventData, *, subject: str | None = None,
        cause: CloudEvent | None = None,
        merge: Callable[[EventData, EventData], EventData] | None = None,
        district: str | object | None = _UNSET,
    ) -> None:
        """Stage at most one event per `key` for the whole batch.

        A later call with the same key replaces the staged payload and cause (keeping its place
        in the order), or combines the payloads with `merge(staged, new)` — e.g. to sum deltas —
        so a batch holding 300 events of one unit announces its new score once. The envelope is
        built when the batch drains, caused by the last cause given for the key.
        """
        self._emissions.coalesce(key, _Staged(self._cause(cause), data, subject, district), merge)

    def at_batch_end(self, key: Hashable, fn: Callable[[], Awaitable[None]]) -> None:
        """Run `fn` once, after every handler of the batch has run, in the batch's transaction
        and before what the batch emitted is written (a later call with the same key changes
        nothing). A batch of mixed types reaches its handlers as many runs of one type each;
        a service whose derivation does not depend on the order of types within a batch
        records what each run brings and derives once, set-based, at the end."""
        self._emissions.at_end(key, fn)

    def _cause(self, cause: CloudEvent | None) -> CloudEvent:
        cause = cause or self.event
        if cause is None:
            raise ValueError("a batch handler must name the cause of each event it emits")
        return cause
