"""Officials' bulk import of their members' contact points: a CSV or .xlsx sheet, checked row
by row, applied for the rows that pass, answered with a row/column/reason report."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, Field

from services.runtime import command_runs, idempotency
from services.runtime.access import Rule, Scope
from services.runtime.caller import Role
from services.runtime.domain_errors import Invalid
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import contact_points, member_store

log = structlog.get_logger()
router = APIRouter(tags=["contacts"])

CONTACT_IMPORTERS = Rule(
    "import-unit-contacts", {Role.GRASSROOTS_OFFICIAL, Role.UPPER_OFFICIAL}, writes=True,
    summary="Officials of the unit or of a unit above it, for the members of its subtree "
            "today. A unit outside the caller's subtree answers 404.",
)


class RowRefused(BaseModel):
    row: int = Field(description="Row as the spreadsheet numbers it (the header is row 1).")
    column: Literal["member_id", "email", "phone"]
    reason: str


class ImportReport(BaseModel):
    unit_id: str
    dry_run: bool
    rows: int = Field(description="Rows read (blank rows not counted).")
    accepted: int = Field(description="Rows that passed every check.")
    changed: int = Field(description="Members whose kept contact points changed (0 on a dry "
                                     "run).")
    refused: list[RowRefused]


class UnreadableSheet(Invalid):
    def __init__(self, reason: str) -> None:
        super().__init__("unreadable_sheet", reason, field="body")


@router.post("/units/{unit_id}/contacts/import", response_model=ImportReport,
             responses=problem_responses(401, 403, 404, 413, 422, 503),
             openapi_extra={"requestBody": {"required": True, "content": {
                 contact_points.CSV: {"schema": {"type": "string"}},
                 contact_points.XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
async def import_contacts(
    unit_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(CONTACT_IMPORTERS)],
    content_type: Annotated[str, Header(alias="Content-Type")] = "",
    dry_run: bool = Query(False, description="Check only: report, change nothing."),
    idempotency_key: idempotency.IdempotencyKey = None,
) -> Response:
    """Set the contact points of members of the unit's subtree from a sheet (`text/csv`,
    UTF-8, or `.xlsx`; header `member_id,email,phone`). Rows that pass are applied together;
    each refused cell is reported by row, column and reason (a member outside the subtree, a
    repeated member, a bad address, a phone stored as a number). An empty cell leaves what is
    kept. Safe to retry with an `Idempotency-Key`."""
    await scope.require_acting_on(unit_id)
    body = await request.body()
    kind = content_type.split(";")[0].strip().lower()
    settings = request.app.state.runtime.definition.settings
    try:
        checked = contact_points.check_sheet(kind, body, settings.contacts_import_max_rows)
    except contact_points.SheetError as exc:
        raise UnreadableSheet(str(exc)) from None
    refused = list(checked.refused)

    async def work(conn) -> bytes:
        inside = await member_store.members_inside(conn, unit_id, list(checked.contacts),
                                                 scope.today)
        apply = []
        for member_id, (row, email, phone) in checked.contacts.items():
            if member_id in inside:
                apply.append((member_id, email, phone))
            else:
                refused.append(contact_points.Refusal(
                    row, "member_id", "not a member of this unit or a unit below it"))
        changed = 0 if dry_run else await member_store.import_contacts(
            conn, apply, scope.caller.subject)
        report = ImportReport(
            unit_id=unit_id, dry_run=dry_run, rows=checked.rows, accepted=len(apply),
            changed=changed,
            refused=[RowRefused(row=r.row, column=r.column, reason=r.reason)
                     for r in sorted(refused, key=lambda r: (r.row, r.column))])
        log.info("contacts_imported", unit_id=unit_id, rows=checked.rows, accepted=len(apply),
                 changed=changed, refused=len(report.refused), dry_run=dry_run)
        return report.__pydantic_serializer__.to_json(report)

    fingerprint = hashlib.sha256(
        f"POST /units/{unit_id}/contacts/import {scope.caller.subject} {kind} {dry_run}\n"
        .encode() + body).hexdigest()
    return await command_runs.run(request.app.state.runtime.pool, idempotency_key, fingerprint,
                                  200, work)
