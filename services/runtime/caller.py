"""Who is calling: the role and organisational scope a verified token grants.

Tokens come from the deployment's OpenID Connect issuer (or `thidua token mint` locally). Besides
the registered claims (`iss`, `aud`, `exp`, `nbf`, `sub`) they carry three of ours, which an
issuer adds with a claim mapper (Keycloak: "User Attribute" mappers; Zitadel: actions):

| claim            | holds                                                        |
|------------------|--------------------------------------------------------------|
| `thidua_role`    | one of `Role` below                                          |
| `thidua_unit`    | the unit whose subtree an official, reviewer or integrator acts in |
| `thidua_member`  | the member id of a `member` token                            |

A scope is a unit's subtree on the effective-dated tree (`directory/`), never a district
string: after the 2025 reform moved grassroots unions under the city federation, a former
district official's scope follows the tree as it is today.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

ROLE_CLAIM = "thidua_role"
UNIT_CLAIM = "thidua_unit"
MEMBER_CLAIM = "thidua_member"


class Role(StrEnum):
    CITY_ADMIN = "city_admin"  # city federation administrator: reads and acts everywhere
    UPPER_OFFICIAL = "upper_official"  # district or sector federation: its subtree
    GRASSROOTS_OFFICIAL = "grassroots_official"  # grassroots union: its unit (and sub-units)
    COUNCIL_REVIEWER = "council_reviewer"  # initiative council of a unit: reviews in its subtree
    MEMBER = "member"  # a union member: their own records
    INTEGRATOR = "integrator"  # another system: reads in its subtree (the city root for all)
    AUDITOR = "auditor"  # inspection: reads everywhere, changes nothing


# Roles whose scope is the subtree of the unit named in the token.
UNIT_SCOPED = frozenset({Role.UPPER_OFFICIAL, Role.GRASSROOTS_OFFICIAL, Role.COUNCIL_REVIEWER,
                         Role.INTEGRATOR})
CITY_WIDE = frozenset({Role.CITY_ADMIN, Role.AUDITOR})
READ_ONLY = frozenset({Role.INTEGRATOR, Role.AUDITOR})
OFFICIALS = frozenset({Role.CITY_ADMIN, Role.UPPER_OFFICIAL, Role.GRASSROOTS_OFFICIAL})


class ClaimsRefused(ValueError):
    """A correctly signed token whose thidua claims do not describe a caller."""


@dataclass(frozen=True, slots=True)
class Caller:
    subject: str
    role: Role
    unit_id: str | None = None
    member_id: str | None = None
    name: str | None = None

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Caller:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise ClaimsRefused("the token has no subject (`sub`)")
        try:
            role = Role(claims.get(ROLE_CLAIM))
        except ValueError:
            raise ClaimsRefused(
                f"`{ROLE_CLAIM}` must be one of {', '.join(r.value for r in Role)}"
            ) from None
        unit = _optional_text(claims, UNIT_CLAIM)
        member = _optional_text(claims, MEMBER_CLAIM)
        if role in UNIT_SCOPED and unit is None:
            raise ClaimsRefused(f"a `{role}` token names its unit in `{UNIT_CLAIM}`")
        if role is Role.MEMBER and member is None:
            raise ClaimsRefused(f"a `member` token names the member in `{MEMBER_CLAIM}`")
        name = claims.get("name") if isinstance(claims.get("name"), str) else None
        return cls(subject=subject, role=role, unit_id=unit, member_id=member, name=name)

    @property
    def city_wide(self) -> bool:
        return self.role in CITY_WIDE

    @property
    def read_only(self) -> bool:
        return self.role in READ_ONLY


def _optional_text(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ClaimsRefused(f"`{name}` must be an id of 1 to 64 characters")
    return value
