"""The org directory's commands over HTTP: units and members registered and changed from a
date. Every command emits its org event through the outbox, in its transaction; the tree is
read through `org_queries.py`."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import asyncpg
import structlog
from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field

from services.runtime import command_runs, idempotency
from services.runtime.access import Rule, Scope, UnitNotFound
from services.runtime.caller import Role
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import org_domain as domain
from . import org_repository as repository
from .org_queries import own_scope

log = structlog.get_logger()
router = APIRouter(tags=["org directory"])

RECORDERS = Rule(
    "record-org", {Role.CITY_ADMIN, Role.UPPER_OFFICIAL, Role.GRASSROOTS_OFFICIAL}, writes=True,
    summary="A city administrator anywhere; an official inside their subtree as the tree stands "
            "today (a new unit's parent, a moved unit and its new parent, a member's unit and "
            "the unit they transfer to).",
)
class Recorded(BaseModel):
    """What a command recorded: the id, the date its state holds from, and its event."""

    id: str = Field(description="The unit's or member's id.")
    effective_from: date
    event_type: str
    event_id: str
    correlation_id: str
    changed: list[str] = Field(description="Fields that changed (empty for a registration).")


async def _run(request: Request, scope: Scope, route: str, command: BaseModel,
               key: str | None, status_code: int, work) -> Response:
    fingerprint = idempotency.fingerprint("POST", route, command, caller=scope.caller.subject)
    return await command_runs.run(request.app.state.runtime.pool, key, fingerprint, status_code,
                                  work)


def _answer(event, item_id: str, changed: list[str]) -> bytes:
    recorded = Recorded(id=item_id, effective_from=event.data.effective_from,
                        event_type=event.type, event_id=event.id,
                        correlation_id=event.correlationid, changed=changed)
    return recorded.__pydantic_serializer__.to_json(recorded)


async def _parent_on(conn: asyncpg.Connection, parent_id: str, day: date,
                     field: str = "parent_id"):
    parent = await repository.active_from(conn, parent_id, day)
    if parent is None:
        raise domain.NotActiveOn(parent_id, day, field)
    return parent


@router.post("/units", status_code=status.HTTP_201_CREATED, response_model=Recorded,
             responses=problem_responses(401, 403, 404, 409, 413, 422, 503))
async def register_unit(command: domain.RegisterUnit, request: Request,
                        scope: Annotated[Scope, Depends(RECORDERS)],
                        idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Register a unit under its parent from `effective_from`; emits
    `thidua.unit.registered.v1`. Safe to retry with an `Idempotency-Key`."""
    runtime = request.app.state.runtime

    async def work(conn: asyncpg.Connection) -> bytes:
        own = own_scope(scope, conn)
        district = command.district_id
        if command.parent_id is None:
            if scope.caller.role is not Role.CITY_ADMIN:
                raise domain.RootNeedsCityAdmin()
        else:
            await own.require_acting_on(command.parent_id, field="parent_id")
            if command.parent_id == command.unit_id:
                raise domain.Cycle(command.unit_id, command.parent_id)
        # A registered unit answers 409 whatever became of its parent since: a repeated
        # registration is told the unit is there, not that the parent is gone.
        if not await repository.claim_unit(conn, command.unit_id):
            raise domain.UnitExists(command.unit_id)
        if command.parent_id is not None:
            parent = await _parent_on(conn, command.parent_id, command.effective_from)
            if "district_id" not in command.model_fields_set:
                district = parent.district_id
        data = domain.unit_registered(command, district, scope.actor)
        event = runtime.envelopes.for_command(
            data, district=district, correlation_id=request.state.correlation_id,
            subject=data.unit_id)
        await repository.record_unit_state(conn, event)
        log.info("unit_registered", unit_id=data.unit_id, parent_id=data.parent_id,
                 event_id=event.id)
        return _answer(event, data.unit_id, [])

    return await _run(request, scope, "/units", command, idempotency_key, 201, work)


@router.post("/units/{unit_id}/changes", status_code=status.HTTP_201_CREATED,
             response_model=Recorded, responses=problem_responses(401, 403, 404, 409, 413, 422, 503))
async def change_unit(unit_id: Identifier, command: domain.ChangeUnit, request: Request,
                      scope: Annotated[Scope, Depends(RECORDERS)],
                      idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Record a dated change of a unit — a move (`parent_id`), a new district, counts or name,
    or `status: dissolved` — from `effective_from` on; emits `thidua.unit.updated.v1`. The
    change must be dated after the unit's latest change (409 `change_not_after_latest`)."""
    runtime = request.app.state.runtime

    async def work(conn: asyncpg.Connection) -> bytes:
        own = own_scope(scope, conn)
        await own.require_acting_on(unit_id)
        moving = command.parent_id is not None
        if moving:
            await own.require_acting_on(command.parent_id, field="parent_id")
            await repository.lock_for_move(conn)
        current = await repository.lock_unit(conn, unit_id)
        if current is None:
            raise UnitNotFound(unit_id)
        day = command.effective_from
        domain.check_after_latest(f"unit {unit_id}", current["effective_from"], day)
        data = domain.unit_updated(unit_id, current, command, scope.actor)
        if "parent_id" in data.changed:
            if await repository.is_ancestor_from(conn, unit_id, command.parent_id, day):
                raise domain.Cycle(unit_id, command.parent_id)
            await _parent_on(conn, command.parent_id, day)
        if "status" in data.changed and await repository.has_children_from(conn, unit_id, day):
            raise domain.HasChildren(unit_id, day)
        event = runtime.envelopes.for_command(
            data, district=data.district_id, correlation_id=request.state.correlation_id,
            subject=unit_id)
        await repository.record_unit_state(conn, event)
        log.info("unit_changed", unit_id=unit_id, changed=data.changed, event_id=event.id)
        return _answer(event, unit_id, data.changed)

    return await _run(request, scope, f"/units/{unit_id}/changes", command, idempotency_key,
                      201, work)


@router.post("/members", status_code=status.HTTP_201_CREATED, response_model=Recorded,
             responses=problem_responses(401, 403, 404, 409, 413, 422, 503))
async def register_member(command: domain.RegisterMember, request: Request,
                          scope: Annotated[Scope, Depends(RECORDERS)],
                          idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Register a member in their unit from `effective_from`; emits
    `thidua.member.registered.v1` (its district is the unit's)."""
    runtime = request.app.state.runtime

    async def work(conn: asyncpg.Connection) -> bytes:
        own = own_scope(scope, conn)
        await own.require_acting_on(command.unit_id)
        unit = await _parent_on(conn, command.unit_id, command.effective_from, "unit_id")
        if not await repository.claim_member(conn, command.member_id):
            raise domain.MemberExists(command.member_id)
        data = domain.member_registered(command, scope.actor)
        event = runtime.envelopes.for_command(
            data, district=unit.district_id, correlation_id=request.state.correlation_id,
            subject=data.member_id)
        await repository.record_member_state(conn, event)
        log.info("member_registered", member_id=data.member_id, unit_id=data.unit_id,
                 event_id=event.id)
        return _answer(event, data.member_id, [])

    return await _run(request, scope, "/members", command, idempotency_key, 201, work)


@router.post("/members/{member_id}/changes", status_code=status.HTTP_201_CREATED,
             response_model=Recorded, responses=problem_responses(401, 403, 404, 409, 413, 422, 503))
async def change_member(member_id: Identifier, command: domain.ChangeMember, request: Request,
                        scope: Annotated[Scope, Depends(RECORDERS)],
                        idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Record a dated change of a member — a transfer (`unit_id`), an update, or
    `status: left` — from `effective_from` on; emits `thidua.member.updated.v1`."""
    runtime = request.app.state.runtime

    async def work(conn: asyncpg.Connection) -> bytes:
        own = own_scope(scope, conn)
        current = await repository.lock_member(conn, member_id)
        if current is None:
            raise domain.OrgMemberNotFound(member_id)
        try:
            await own.require_acting_on(current["unit_id"])
        except UnitNotFound:
            raise domain.OrgMemberNotFound(member_id) from None
        if command.unit_id is not None and command.unit_id != current["unit_id"]:
            await own.require_acting_on(command.unit_id)
        day = command.effective_from
        domain.check_after_latest(f"member {member_id}", current["effective_from"], day)
        data = domain.member_updated(member_id, current, command, scope.actor)
        unit = await _parent_on(conn, data.unit_id, day, "unit_id")
        event = runtime.envelopes.for_command(
            data, district=unit.district_id, correlation_id=request.state.correlation_id,
            subject=member_id)
        await repository.record_member_state(conn, event)
        log.info("member_changed", member_id=member_id, changed=data.changed, event_id=event.id)
        return _answer(event, member_id, data.changed)

    return await _run(request, scope, f"/members/{member_id}/changes", command,
                      idempotency_key, 201, work)
