"""Emulation registrations (đăng ký thi đua) over HTTP: a unit, or a member, registers for
titles in a phase; each passes its phase's gate (`phase_gate.py`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel

from contracts.events.base import Actor
from contracts.events.common import SubjectKind
from services.runtime import command_runs, idempotency
from services.runtime.access import ALL_ROLES, MemberNotFound, Rule, Scope
from services.runtime.caller import Role
from services.runtime.domain_errors import NotFound
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import participation_domain as domain
from . import participation_repository as repository
from . import phase_gate
from .answers import Recorded, recorded
from .list_scope import listed_units
from .org_queries import BadCursor, Cursor, Limit
from .org_repository import decode_cursor, encode_cursor

log = structlog.get_logger()
router = APIRouter(tags=["participation"])

REGISTRANTS = Rule(
    "register-emulation",
    {Role.CITY_ADMIN, Role.UPPER_OFFICIAL, Role.GRASSROOTS_OFFICIAL, Role.MEMBER}, writes=True,
    summary="An official for a unit, or a member of a unit, in their subtree as the tree stands "
            "today; a member for themself.",
)
REGISTRATION_READERS = Rule(
    "read-registrations", ALL_ROLES,
    summary="Anyone, for the units in their subtree today; a member, their own registrations; "
            "city-wide roles all.",
)
class RegistrationView(BaseModel):
    registration_id: str
    campaign_id: str
    phase_id: str
    unit_id: str
    subject_kind: str
    subject_id: str
    titles: list[str]
    target_level: str
    registered_at: datetime
    event_id: str
    registered_by: Actor


class RegistrationPage(BaseModel):
    items: list[RegistrationView]
    next_cursor: str | None


async def _subject_unit(scope: Scope, command: domain.RegisterForEmulation):
    """The unit registering, or the member's unit today, in the caller's acting scope; and the
    member's gender (for titles reserved to women)."""
    if command.subject_kind == "unit":
        return await scope.require_acting_on(command.subject_id, field="subject_id"), None
    caller = scope.caller
    member = await scope.directory.member(command.subject_id, scope.today)
    if member is None or member.status != "active" or (
            caller.role is Role.MEMBER and caller.member_id != command.subject_id):
        raise MemberNotFound(command.subject_id)
    try:
        unit = await scope.require_acting_on(member.unit_id)
    except NotFound:
        raise MemberNotFound(command.subject_id) from None
    return unit, member.gender


@router.post("/registrations", status_code=status.HTTP_201_CREATED, response_model=Recorded,
             responses=problem_responses(401, 403, 404, 409, 413, 422, 503))
async def register_for_emulation(command: domain.RegisterForEmulation, request: Request,
                                 scope: Annotated[Scope, Depends(REGISTRANTS)],
                                 idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Register a unit or a member for titles in a phase; emits
    `thidua.emulation.registered.v1` (key: the unit, a member's unit). One registration per
    subject and phase (409 `already_registered`)."""
    runtime = request.app.state.runtime
    unit, gender = await _subject_unit(scope, command)
    domain.check_titles(command, gender)
    reach, _ = await phase_gate.admit(request, scope, command.campaign_id, command.phase_id,
                                      unit.unit_id, "entries",
                                      field="subject_id")
    data = domain.emulation_registered(command, unit.unit_id, datetime.now(UTC), scope.actor)

    async def work(conn) -> bytes:
        await phase_gate.enter(conn, reach, command.phase_id, scope.today, "entries")
        event = runtime.envelopes.for_command(data, district=unit.district_id,
                                              correlation_id=request.state.correlation_id,
                                              subject=data.subject_id)
        await repository.record_registration(conn, event)
        log.info("emulation_registered", registration_id=data.registration_id,
                 unit_id=data.unit_id, subject_kind=data.subject_kind, event_id=event.id)
        return recorded(data.registration_id, [event])

    return await command_runs.run(
        request.app.state.runtime.pool, idempotency_key,
        idempotency.fingerprint("POST", "/registrations", command,
                                caller=scope.caller.subject),
        201, work)


@router.get("/registrations", response_model=RegistrationPage,
            responses=problem_responses(401, 403, 422, 503))
async def list_registrations(
    request: Request, scope: Annotated[Scope, Depends(REGISTRATION_READERS)],
    campaign_id: Annotated[Identifier | None, Query()] = None,
    phase_id: Annotated[Identifier | None, Query()] = None,
    unit_id: Annotated[Identifier | None, Query()] = None,
    subject_kind: Annotated[SubjectKind | None, Query()] = None,
    cursor: Cursor = None, limit: Limit = 100,
) -> RegistrationPage:
    """Registrations the caller sees, by id, filtered by campaign, phase, unit and kind."""
    after = decode_cursor(cursor)
    if after is None:
        raise BadCursor()
    among, member = await listed_units(scope)
    items = await repository.registrations(
        request.app.state.runtime.pool, campaign=campaign_id, phase=phase_id, unit=unit_id,
        kind=subject_kind, among=among, member=member, after=after, limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return RegistrationPage(
        items=[RegistrationView.model_validate(i) for i in items],
        next_cursor=encode_cursor(items[-1]["registration_id"]) if more else None)
