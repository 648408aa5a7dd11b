"""The directory's handlers: every org event of `thidua.org.v1` into the service's own tables.

Every service runs them (`ServiceDefinition.all_handlers` adds them to the service's own), so
each keeps its copy of the tree in its schema and reads no other service's. They emit nothing.
"""

from __future__ import annotations

from typing import Any

from contracts import CloudEvent
from contracts.events.org import (
    ClusterFormed,
    MemberRegistered,
    MemberUpdated,
    UnitRegistered,
    UnitUpdated,
)
from services.runtime.context import Context
from services.runtime.handlers import Handlers

from . import store

directory_handlers = Handlers()


@directory_handlers.batch
async def on_units_registered(
    ctx: Context[Any], events: list[CloudEvent[UnitRegistered]]
) -> None:
    await store.record_units(ctx.conn, events)


@directory_handlers.batch
async def on_units_updated(ctx: Context[Any], events: list[CloudEvent[UnitUpdated]]) -> None:
    await store.record_units(ctx.conn, events)


@directory_handlers.batch
async def on_members_registered(
    ctx: Context[Any], events: list[CloudEvent[MemberRegistered]]
) -> None:
    await store.record_members(ctx.conn, events)


@directory_handlers.batch
async def on_members_updated(
    ctx: Context[Any], events: list[CloudEvent[MemberUpdated]]
) -> None:
    await store.record_members(ctx.conn, events)


@directory_handlers.batch
async def on_clusters_formed(
    ctx: Context[Any], events: list[CloudEvent[ClusterFormed]]
) -> None:
    await store.record_clusters(ctx.conn, events)
