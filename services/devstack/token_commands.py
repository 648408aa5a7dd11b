"""`thidua token`: the local token issuer's commands (mint, rotate, jwks), and the environment
that points the local stack's services at its keys."""

from __future__ import annotations

import argparse
import os
import sys


def add_token_commands(commands) -> None:
    token = commands.add_parser("token", help="the local token issuer: mint, rotate, jwks")
    actions = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    mint = actions.add_parser("mint", help="print a signed token (alone, for TOKEN=$(...))")
    mint.add_argument("--role", required=True, help=(
        "city_admin, upper_official, grassroots_official, council_reviewer, member, integrator "
        "or auditor"))
    mint.add_argument("--unit", help="the unit whose subtree an official, reviewer or "
                      "integrator acts in")
    mint.add_argument("--member", help="the member id of a member token")
    mint.add_argument("--subject", help="sub (default local:<role>:<unit, member or city>)")
    mint.add_argument("--name", help="a display name")
    mint.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    mint.add_argument("--audience", default=None, help="aud (default thidua)")
    actions.add_parser("rotate", help="sign with a new key (the previous ones stay published); "
                       "print its kid")
    actions.add_parser("jwks", help="print the public key set services verify with")


def run_token(args: argparse.Namespace) -> int:
    import json

    from services.devstack.identity import DEFAULT_AUDIENCE, LocalIssuer, identity_dir

    issuer = LocalIssuer(identity_dir())
    try:
        issuer.ensure_keys()
        if args.token_command == "rotate":
            print(issuer.rotate())
        elif args.token_command == "jwks":
            print(json.dumps(issuer.jwks(), indent=2))
        else:
            print(issuer.mint(role=args.role, unit=args.unit, member=args.member,
                              subject=args.subject, name=args.name, ttl_seconds=args.ttl,
                              audience=args.audience or DEFAULT_AUDIENCE))
    except (ValueError, OSError) as exc:  # ClaimsRefused is a ValueError
        print(f"thidua token {args.token_command}: {exc}", file=sys.stderr)
        return 2
    return 0


def local_identity() -> tuple[dict[str, str], str]:
    """The environment that points services at the local issuer, and a line telling how to
    mint a token; none when the operator named a key source."""
    from services.devstack.identity import LocalIssuer, identity_dir

    own = [name for name in ("AUTH_JWKS_URL", "AUTH_JWKS_FILE") if os.environ.get(name)]
    if own:
        return {}, f"tokens verified with {own[0]}={os.environ[own[0]]} (set by you)"
    issuer = LocalIssuer(identity_dir())
    issuer.ensure_keys()
    return issuer.service_environment(), (
        "TOKEN=$(thidua token mint --role city_admin)  then  -H \"Authorization: Bearer $TOKEN\""
        f"  (keys in {issuer.directory})")


