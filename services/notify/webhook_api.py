"""Integrators' webhook subscriptions over HTTP: subscribe, list, read, delete, rotate the
secret, list deliveries and replay a parked one. Secrets stay in notify's tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.runtime import command_runs, idempotency
from services.runtime.access import Rule, Scope
from services.runtime.caller import Role
from services.runtime.domain_errors import Conflict, NotFound
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import pages, signing, webhook_store
from .handlers import handlers

router = APIRouter(tags=["webhooks"])

WEBHOOK_KEEPERS = Rule(
    "keep-own-webhooks", {Role.INTEGRATOR, Role.CITY_ADMIN}, writes=True,
    summary="Integrators, for their own subscriptions within their subtree; the city "
            "administrator, for every subscription. Anyone else's subscription answers 404.",
)
STRICT = ConfigDict(strict=True, extra="forbid", str_strip_whitespace=True)


def _valid_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname == "127.0.0.1":
        return value
    raise ValueError("an https:// URL (http:// only on 127.0.0.1, for tests)")


def _deliverable(event_type: str) -> str:
    if event_type not in handlers:
        raise ValueError("not an event type notify delivers; one of: "
                         + ", ".join(sorted(handlers.event_types)))
    return event_type


class WebhookIn(BaseModel):
    """The body of `POST /webhooks`."""

    model_config = STRICT

    url: Annotated[str, Field(max_length=2000), AfterValidator(_valid_url)] = Field(
        description="Where events are POSTed, e.g. `https://hr.example.vn/thidua-hook`.")
    event_types: list[Annotated[str, Field(pattern=r"^thidua\.[a-z_.]+\.v[0-9]+$"),
                                AfterValidator(_deliverable)]] = Field(
        min_length=1, max_length=50,
        description="CloudEvent types notify consumes, e.g. `thidua.award.granted.v1`.")
    unit_id: Identifier = Field(description="The district (or ward) whose events are "
                                            "delivered; within the caller's scope.")


class Webhook(BaseModel):
    webhook_id: str
    url: str
    event_types: list[str]
    unit_id: str
    owner: str
    created_at: datetime
    deleted_at: datetime | None


class WebhookWithSecret(Webhook):
    secret: str = Field(description="`whsec_…`: shown once, keep it to verify signatures.")


class Secret(BaseModel):
    webhook_id: str
    secret: str = Field(description="The new `whsec_…` secret, shown once.")
    previous_valid_for_s: float = Field(description="How long the former secrets keep "
                                                    "signing beside the new one.")


class Rotation(BaseModel):
    """A rotation carries no body: its fingerprint is the route and the caller."""


class Delivery(BaseModel):
    delivery_id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "parked"]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class WebhookNotFound(NotFound):
    def __init__(self, webhook_id: str) -> None:
        super().__init__("webhook_not_found", f"no webhook {webhook_id}")


class WebhookDeleted(Conflict):
    """A deleted subscription signs and sends nothing any more: nothing to rotate or replay."""

    def __init__(self, webhook_id: str) -> None:
        super().__init__("webhook_deleted", f"webhook {webhook_id} is deleted")


class DeliveryNotFound(NotFound):
    def __init__(self, delivery_id: str) -> None:
        super().__init__("delivery_not_found", f"no delivery {delivery_id}")


def _webhook(row: dict) -> Webhook:
    return Webhook(webhook_id=row["webhook_id"], url=row["url"],
                   event_types=list(row["event_types"]), unit_id=row["district"],
                   owner=row["owner"], created_at=row["created_at"],
                   deleted_at=row["deleted_at"])


async def _mine(scope: Scope, row: dict) -> bool:
    c = scope.caller
    if c.role is Role.CITY_ADMIN:
        return True
    return row["owner"] == c.subject and await scope.holds_unit(row["district"])


async def _owned(request: Request, scope: Scope, webhook_id: str) -> dict:
    """The subscription, deleted or not, if it is the caller's; else 404."""
    row = await webhook_store.webhook(request.app.state.runtime.pool, webhook_id,
                                   with_deleted=True)
    if row is None or not await _mine(scope, row):
        raise WebhookNotFound(webhook_id)
    return row


async def _once(request: Request, key: str | None, fingerprint: str, status_code: int,
                work) -> Response:
    """Run a command once per `Idempotency-Key`: a repeat answers the first answer."""
    return await command_runs.run(request.app.state.runtime.pool, key, fingerprint, status_code,
                                  work)


@router.post("/webhooks", status_code=201, response_model=WebhookWithSecret,
             responses=problem_responses(401, 403, 404, 413, 422, 503))
async def create_webhook(body: WebhookIn, request: Request,
                         scope: Annotated[Scope, Depends(WEBHOOK_KEEPERS)],
                         idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Subscribe a URL to event types of a district: events of the unit and of every unit
    below it (on the event's date) are delivered. The answer holds the signing secret, shown
    this once (a retry with the same `Idempotency-Key` shows the same one)."""
    await scope.require_unit(body.unit_id)

    async def work(conn) -> bytes:
        secret = signing.new_secret()
        row = await webhook_store.create_webhook(
            conn, f"wh-{uuid.uuid4().hex}", scope.caller.subject, body.url,
            list(dict.fromkeys(body.event_types)), body.unit_id, secret)
        created = WebhookWithSecret(**_webhook(row).model_dump(), secret=secret)
        return created.__pydantic_serializer__.to_json(created)

    fingerprint = idempotency.fingerprint("POST", "/webhooks", body, scope.caller.subject)
    return await _once(request, idempotency_key, fingerprint, 201, work)


@router.get("/webhooks", responses=problem_responses(401, 403, 422, 503))
async def list_webhooks(request: Request,
                        scope: Annotated[Scope, Depends(WEBHOOK_KEEPERS)]) -> list[Webhook]:
    """The caller's live subscriptions (every one for the city administrator)."""
    owner = None if scope.caller.role is Role.CITY_ADMIN else scope.caller.subject
    rows = await webhook_store.webhooks_of(request.app.state.runtime.pool, owner)
    return [_webhook(r) for r in rows if await _mine(scope, r)]


@router.get("/webhooks/{webhook_id}", responses=problem_responses(401, 403, 404, 422, 503))
async def get_webhook(webhook_id: Identifier, request: Request,
                      scope: Annotated[Scope, Depends(WEBHOOK_KEEPERS)]) -> Webhook:
    """One subscription (a deleted one shows when it was deleted)."""
    return _webhook(await _owned(request, scope, webhook_id))


@router.post("/webhooks/{webhook_id}/secrets", response_model=Secret,
             responses=problem_responses(401, 403, 404, 413, 422, 503))
async def rotate_webhook_secret(webhook_id: Identifier, request: Request,
                                scope: Annotated[Scope, Depends(WEBHOOK_KEEPERS)],
                                idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """A new secret, shown once; the former ones keep signing beside it for
    `NOTIFY_WEBHOOK_SECRET_OVERLAP_S`, so the receiver can switch without a gap. A retry with
    the same `Idempotency-Key` answers the same secret instead of rotating again. A deleted
    subscription answers 409 `webhook_deleted`: it signs nothing any more."""
    await _owned(request, scope, webhook_id)
    overlap = request.app.state.runtime.definition.settings.webhook_secret_overlap_s

    async def work(conn) -> bytes:
        secret = signing.new_secret()
        if not await webhook_store.rotate_secret(conn, webhook_id, secret, overlap):
            raise WebhookDeleted(webhook_id)
        rotated = Secret(webhook_id=webhook_id, secret=secret, previous_valid_for_s=overlap)
        return rotated.__pydantic_serializer__.to_json(rotated)

    fingerprint = idempotency.fingerprint("POST", f"/webhooks/{webhook_id}/secrets",
                                          Rotation(), scope.caller.subject)
    return await _once(request, idempotency_key, fingerprint, 200, work)


@router.get("/webhooks/{webhook_id}/deliveries",
            responses=problem_responses(401, 403, 404, 422, 503))
async def list_deliveries(
    webhook_id: Identifier, request: Request, response: Response,
    scope: Annotated[Scope, Depends(WEBHOOK_KEEPERS)],
    status: Literal["pending", "delivered", "parked"] | None = None,
    event_type: Annotated[str | None, Query(max_length=100,
                                            pattern=r"^thidua\.[a-z_.]+\.v[0-9]+$")] = None,
    limit: int = Query(50, ge=1, le=500),
    cursor: pages.Cursor = None,
) -> list[Delivery]:
    """The subscription's deliveries, newest first; `?status=parked` for those given up. When
    there is more, the `Link` header holds the next page."""
    await _owned(request, scope, webhook_id)
    rows = await webhook_store.webhook_deliveries(request.app.state.runtime.pool, webhook_id,
                                               status, limit + 1, event_type=event_type,
                                               before=pages.after(cursor))
    return [Delivery.model_validate(r)
            for r in pages.page(rows, limit, "delivery_id", request, response)]


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
             responses=problem_responses(401, 403, 404, 413, 422, 503))
async def replay_delivery(webhook_id: Identifier, delivery_id: Identifier, request: Request,
                          scope: Annotated[Scope, Depends(WEBHOOK_KEEPERS)]) -> Delivery:
    """Send a parked delivery again, with a fresh set of attempts. One pending or delivered
    already is answered as it stands (nothing is sent twice by replaying). A deleted
    subscription's deliveries are not sent again: 409 `webhook_deleted`."""
    if (await _owned(request, scope, webhook_id))["deleted_at"] is not None:
        raise WebhookDeleted(webhook_id)
    pool = request.app.state.runtime.pool
    row = await webhook_store.replay_delivery(pool, webhook_id, delivery_id)
    if row is None:
        row = await webhook_store.webhook_delivery(pool, webhook_id, delivery_id)
    if row is None:
        raise DeliveryNotFound(delivery_id)
    return Delivery.model_validate(row)


@router.delete("/webhooks/{webhook_id}",
               responses=problem_responses(401, 403, 404, 422, 503))
async def delete_webhook(webhook_id: Identifier, request: Request,
                         scope: Annotated[Scope, Depends(WEBHOOK_KEEPERS)]) -> Webhook:
    """Stop the subscription: nothing more is queued, what was pending is parked. It stays
    readable, with its deliveries; deleting it again changes nothing."""
    await _owned(request, scope, webhook_id)
    pool = request.app.state.runtime.pool
    await webhook_store.delete_webhook(pool, webhook_id)
    return _webhook(await webhook_store.webhook(pool, webhook_id, with_deleted=True))
