"""The `thidua` commands operators and integrators run against a deployment: `events tail`,
`status`, `migrate`, `dlq replay`, and (`repair_commands.py`) `replay` and `webhooks rotate`;
the work itself is in `services/ops/`. Each needs only
the broker's and database's addresses, so they run from a production install as well."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from services.devstack.repair_commands import add_repair_commands, run_replay, run_webhooks
from services.registry import NAMES, service

COMMANDS = ("events", "status", "migrate", "dlq", "replay", "webhooks")


def add_ops_commands(commands) -> None:
    _add_events_commands(commands)
    _add_runbook_commands(commands)
    add_repair_commands(commands)


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
    replay.add_argument("topic", help="the original topic (or its family name, e.g. scores), "
                        "or `all` for every topic's dead letters")
    replay.add_argument("--dry-run", action="store_true", help="list what would go back")
    replay.add_argument("--reason-code", dest="reason_codes", action="append", default=[],
                        help="only dead letters with this reason code (repeatable)")
    replay.add_argument("--type", dest="types", action="append", default=[],
                        help="only this event type (repeatable)")
    replay.add_argument("--service", dest="services", action="append", default=[],
                        help="only those the named service rejected (repeatable)")
    replay.add_argument("--bootstrap-servers", default=None,
                        help="Kafka bootstrap servers (default $KAFKA_BOOTSTRAP_SERVERS)")


def run_ops(args: argparse.Namespace) -> int:
    return {"events": run_events, "status": run_status, "migrate": run_migrate,
            "dlq": run_dlq, "replay": run_replay, "webhooks": run_webhooks}[args.command](args)


def bootstrap_servers(args: argparse.Namespace, hint: str = "") -> str | None:
    bootstrap = args.bootstrap_servers or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        print(f"thidua {args.command}: set KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap-servers"
              + hint, file=sys.stderr)
    return bootstrap


def topic_families() -> dict[str, str]:
    """`initiatives` -> `thidua.initiatives.v1`: a topic's family name is enough to name it."""
    from contracts.topics import ALL_TOPICS

    return {t.name.split(".")[1]: t.name for t in ALL_TOPICS}


def run_migrate(args: argparse.Namespace) -> int:
    from services.devstack.cli import missing_infrastructure
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

    bootstrap = bootstrap_servers(args)
    if not bootstrap:
        return 2
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print("thidua status: DATABASE_URL not set, outbox backlogs left out", file=sys.stderr)
    asyncio.run(status(bootstrap, database_url, sys.stdout))
    return 0


def run_dlq(args: argparse.Namespace) -> int:
    from services.ops.dead_letters_replay import ReplayFilter, replay

    bootstrap = bootstrap_servers(args)
    if not bootstrap:
        return 2
    only = ReplayFilter(reason_codes=frozenset(args.reason_codes), types=frozenset(args.types),
                        services=frozenset(args.services))
    families = topic_families()
    topics = (sorted(families.values()) if args.topic == "all"
              else [families.get(args.topic, args.topic)])

    async def drain() -> None:
        for topic in topics:
            sys.stdout.write(f"{topic}.dlq:\n")
            await replay(bootstrap, topic, only, dry_run=args.dry_run, out=sys.stdout)

    try:
        asyncio.run(drain())
    except LookupError as exc:
        print(f"thidua dlq: {exc}", file=sys.stderr)
        return 2
    return 0


def run_events(args: argparse.Namespace) -> int:
    from services.ops.events_tail import TailOptions, tail
    from services.ops.topic_reader import TopicNotFound

    bootstrap = bootstrap_servers(args, " (`thidua up` prints the local broker's address)")
    if not bootstrap:
        return 2
    families = topic_families()
    options = TailOptions(topic=families.get(args.topic, args.topic), bootstrap_servers=bootstrap,
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
