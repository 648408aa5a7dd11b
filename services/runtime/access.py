"""Who may call each route: one declared `Rule` per route, checked as a FastAPI dependency.

A route declares its rule where it is defined, as the dependency that gives it its `Scope`:

    READERS = Rule("read", roles=ALL_ROLES, summary="anyone whose scope holds the initiative")

    @router.get("/initiatives/{initiative_id}")
    async def get_initiative(initiative_id: str, scope: Scope = Depends(READERS)): ...

The rule authenticates the bearer token (401 when it is missing or not valid), refuses a role
it does not list (403), and hands the route a `Scope`, with which the route checks the objects
it touches (OWASP API1): an object outside the caller's scope answers exactly as one that does
not exist (404), so nobody learns what another district holds. `create_app` refuses to start a
service with a route that declares no rule, and the OpenAPI document shows each route's rule
under `x-thidua-access`.

Scope is the subtree of the caller's unit on the effective-dated tree. Acting (writes) uses the
tree as of today; reading also admits what lay in the caller's subtree on the object's own date,
so history stays readable to those it belonged to after a reorganisation.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from contracts.events.base import Actor

from .caller import OFFICIALS, Caller, ClaimsRefused, Role
from .directory.queries import Directory, UnitOnDate
from .domain_errors import DomainError, Forbidden, NotFound, Unauthenticated
from .failures import DependencyUnavailable
from .tokens import KeysUnavailable, TokenRejected

# Effective dates are Vietnamese calendar dates: a move "from 1 Jul" starts at 00:00 ICT.
VIETNAM = timezone(timedelta(hours=7), "ICT")

ALL_ROLES = frozenset(Role)
# Everyone who may act on a unit's records (not integrators and auditors, who only read).
UNIT_ACTORS = OFFICIALS

bearer = HTTPBearer(
    auto_error=False, scheme_name="bearer", bearerFormat="JWT",
    description="A JWT from the deployment's OpenID Connect issuer; locally "
                "`thidua token mint --role ... --unit ...`.",
)


def today_in_vietnam(now: datetime) -> date:
    return now.astimezone(VIETNAM).date()


class Rule:
    """Who may call one route: the roles admitted, whether it changes state, and in words."""

    def __init__(self, name: str, roles: Iterable[Role], *, summary: str,
                 writes: bool = False) -> None:
        self.name = name
        self.roles = frozenset(roles)
        self.summary = summary
        self.writes = writes

    async def __call__(
        self, request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Scope:
        runtime = request.app.state.runtime
        caller = await authenticate(request.app.state.tokens, credentials)
        if caller.role not in self.roles:
            raise Forbidden("role_not_allowed",
                            f"the role {caller.role} may not call this route; "
                            f"it admits {', '.join(sorted(self.roles))}")
        structlog.contextvars.bind_contextvars(caller=caller.subject, caller_role=caller.role)
        return Scope(caller, runtime.directory, today_in_vietnam(runtime.definition.clock()))

    def describe(self) -> dict[str, Any]:
        return {"rule": self.name, "roles": sorted(self.roles), "writes": self.writes,
                "summary": self.summary}


class Public(Rule):
    """A route anyone may call: probes, metrics and the API's own documents."""

    def __init__(self, summary: str) -> None:
        super().__init__("public", (), summary=summary)

    async def __call__(self) -> None:  # type: ignore[override]
        return None

    def describe(self) -> dict[str, Any]:
        return {"rule": "public", "roles": [], "writes": False, "summary": self.summary}


PUBLIC = Public("anyone, without a token: probes and metrics")


async def authenticate(tokens, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("token_missing", "send `Authorization: Bearer <token>`",
                              token_sent=False)
    try:
        claims = await tokens.verify(credentials.credentials)
    except KeysUnavailable as exc:  # our fault, not the token's: 503 and retry
        raise DependencyUnavailable(exc.detail) from None
    except TokenRejected as exc:
        raise Unauthenticated(f"token_{exc.reason}", exc.detail, token_sent=True) from None
    try:
        return Caller.from_claims(claims)
    except ClaimsRefused as exc:
        raise Unauthenticated("token_missing_claim", str(exc), token_sent=True) from None


class Scope:
    """What one authenticated caller may see and change, checked against the dated tree."""

    def __init__(self, caller: Caller, directory: Directory, today: date) -> None:
        self.caller = caller
        self.directory = directory
        self.today = today

    @staticmethod
    def local_date(moment: datetime) -> date:
        """The Vietnamese calendar date of a moment, the date its record is checked on."""
        return today_in_vietnam(moment)

    @property
    def actor(self) -> Actor:
        c = self.caller
        return Actor(subject=c.subject, role=c.role.value, unit_id=c.unit_id,
                     member_id=c.member_id, name=c.name)

    async def holds_unit(self, unit_id: str, *, on: date | None = None,
                         members: Collection[str] = ()) -> bool:
        """Whether the caller may read records of `unit_id` dated `on` (or today), or — for a
        member — records about one of `members`."""
        c = self.caller
        if c.role is Role.MEMBER:
            return c.member_id in members
        if c.city_wide:
            return True
        if await self.directory.inside(unit_id, c.unit_id, self.today):
            return True
        return on is not None and on != self.today and await self.directory.inside(
            unit_id, c.unit_id, on)

    async def require_unit(self, unit_id: str, *, on: date | None = None,
                           members: Collection[str] = (),
                           otherwise: DomainError | None = None) -> None:
        """Read check: raise `otherwise` (the route's own not-found) when out of scope."""
        if not await self.holds_unit(unit_id, on=on, members=members):
            raise otherwise or UnitNotFound(unit_id)

    async def require_acting_on(self, unit_id: str, *, field: str = "unit_id") -> UnitOnDate:
        """Write check, on the tree as it stands today: the unit lies in the caller's subtree
        (a member acts for their own unit). Gives the unit's state today."""
        c = self.caller
        if c.role is Role.MEMBER:
            member = await self.directory.member(c.member_id, self.today)
            inside = member is not None and member.status == "active" and (
                member.unit_id == unit_id)
        else:
            inside = c.role is Role.CITY_ADMIN or (
                c.unit_id is not None and not c.read_only
                and await self.directory.inside(unit_id, c.unit_id, self.today))
        unit = await self.directory.unit(unit_id, self.today) if inside else None
        if unit is None:
            raise UnitNotFound(unit_id, field=field)
        return unit

    async def require_member(self, member_id: str, *, on: date | None = None,
                             otherwise: DomainError | None = None) -> None:
        """Read check on a member's records: the member themself, or whoever holds their unit."""
        c = self.caller
        if c.role is Role.MEMBER:
            allowed = c.member_id == member_id
        else:
            allowed = c.city_wide or await self._holds_member_unit(member_id, on)
        if not allowed:
            raise otherwise or MemberNotFound(member_id)

    async def _holds_member_unit(self, member_id: str, on: date | None) -> bool:
        for day in dict.fromkeys((self.today, on or self.today)):
            member = await self.directory.member(member_id, day)
            if member is not None and await self.holds_unit(member.unit_id, on=day):
                return True
        return False

    async def visible(self, rows: list[Any], unit_of: Callable[[Any], str],
                      day_of: Callable[[Any], date] | None = None) -> list[Any]:
        """The rows of a list that lie in the caller's scope (lists are filtered, never
        trusted to a parameter the caller chose)."""
        c = self.caller
        if c.city_wide:
            return rows
        if c.role is Role.MEMBER or c.unit_id is None:
            return []
        units = {unit_of(r) for r in rows}
        today = await self.directory.units_inside(units, c.unit_id, self.today)
        kept = []
        for row in rows:
            unit = unit_of(row)
            if unit in today:
                kept.append(row)
            elif day_of is not None and await self.directory.inside(unit, c.unit_id,
                                                                     day_of(row)):
                kept.append(row)
        return kept


class UnitNotFound(NotFound):
    def __init__(self, unit_id: str, field: str | None = "unit_id") -> None:
        super().__init__("unit_not_found", f"no unit {unit_id} in your scope", field=field)


class MemberNotFound(NotFound):
    def __init__(self, member_id: str) -> None:
        super().__init__("member_not_found", f"no member {member_id} in your scope",
                         field="member_id")


def api_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every FastAPI route, with the dependencies in effect for it. Recent FastAPI keeps an
    included router as one lazy entry of `app.routes`; `iter_route_contexts` flattens those,
    merging the including routers' dependencies."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazy inclusion: app.routes is already flat
        yield from (r for r in routes if isinstance(r, APIRoute))
        return
    for context in iter_route_contexts(list(routes)):
        if isinstance(context.original_route, APIRoute):
            yield context


def rule_of(route: Any) -> Rule | None:
    """The rule a route declared, among its dependencies (router-level ones included)."""
    for dependency in route.dependant.dependencies:
        if isinstance(dependency.call, Rule):
            return dependency.call
    return None


class UndeclaredAccess(RuntimeError):
    """A route that says nothing of who may call it: refused at start, so none ships open."""


def check_every_route_declares(routes: Iterable[Any]) -> None:
    missing = [f"{sorted(r.methods)} {r.path_format}" for r in api_routes(routes)
               if rule_of(r) is None]
    if missing:
        raise UndeclaredAccess("routes without an access rule (Depends(Rule(...)) or "
                               f"dependencies=[Depends(PUBLIC)]): {', '.join(missing)}")


def document_access(routes: Iterable[Any], openapi: dict[str, Any]) -> dict[str, Any]:
    """Each operation shows its rule under `x-thidua-access` and in its description."""
    for route in api_routes(routes):
        if not route.include_in_schema:
            continue
        rule = rule_of(route)
        for method in route.methods:
            operation = openapi.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is None or rule is None:
                continue
            operation["x-thidua-access"] = rule.describe()
            who = ("Anyone." if isinstance(rule, Public) else
                   f"Roles: {', '.join(f'`{r}`' for r in sorted(rule.roles))}. {rule.summary}")
            operation["description"] = (operation.get("description", "") +
                                        f"\n\n**Who may call:** {who}").strip()
    return openapi


def route_table(routes: Iterable[Any]) -> str:
    """The table each service's README shows: every route and who may call it (a test keeps
    the READMEs equal to it)."""
    rows = ["| route | roles | who may call it |", "|---|---|---|"]
    for route in sorted((r for r in api_routes(routes) if r.include_in_schema),
                        key=lambda r: (isinstance(rule_of(r), Public), r.path_format,
                                       sorted(r.methods))):
        rule = rule_of(route)
        if rule is None:
            continue
        roles = "anyone" if isinstance(rule, Public) else ", ".join(
            f"`{r}`" for r in sorted(rule.roles))
        for method in sorted(route.methods):
            rows.append(f"| `{method} {route.path_format}` | {roles} | {rule.summary} |")
    return "\n".join(rows)
