"""`thidua replay` and `thidua webhooks rotate`: the commands that repair a deployment's state
(the work itself is in `services/ops/consumer_replay.py` and `webhook_secrets.py`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from services.registry import NAMES


def add_repair_commands(commands) -> None:
    replay = commands.add_parser(
        "replay", help="deliver a stopped service's topics to its consumer again (from the "
        "beginning or a time), optionally rebuilding the tables they fill")
    replay.add_argument("service", choices=NAMES)
    replay.add_argument("--topic", dest="topics", action="append", default=[],
                        help="a consumed topic or its family (repeatable; default: all it "
                        "consumes)")
    start = replay.add_mutually_exclusive_group(required=True)
    start.add_argument("--from-beginning", action="store_true",
                       help="from the oldest record each partition keeps")
    start.add_argument("--since", type=_instant,
                       help="from the first record written at or after this ISO 8601 time "
                       "(with its offset, e.g. 2026-11-25T08:00:00+07:00)")
    replay.add_argument("--rebuild", action="store_true",
                        help="refill the tables from the whole history: with --topic "
                        "thidua.org.v1 the unit directory in place; without --topic, for "
                        "scoring, its whole schema rebuilt beside the live one and swapped in, "
                        "announcing nothing again")
    replay.add_argument("--dry-run", action="store_true",
                        help="print the offsets and tables, change nothing")
    replay.add_argument("--bootstrap-servers", default=None,
                        help="Kafka bootstrap servers (default $KAFKA_BOOTSTRAP_SERVERS)")
    webhooks = commands.add_parser("webhooks", help="webhook subscriptions: rotate secrets")
    actions = webhooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    rotate = actions.add_parser("rotate", help="new signing secrets, printed once as JSON lines "
                                "(the former ones keep signing for the overlap)")
    rotate.add_argument("webhook_ids", nargs="*", metavar="WEBHOOK_ID",
                        help="default: every live subscription the caller may keep")
    rotate.add_argument("--notify-url", default=os.environ.get("THIDUA_NOTIFY_URL"),
                        help="notify's API (default $THIDUA_NOTIFY_URL)")


def _instant(text: str):
    from datetime import datetime

    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (add +07:00 or Z)")
    return moment


def run_replay(args: argparse.Namespace) -> int:
    from services.devstack.ops_commands import bootstrap_servers
    from services.ops.consumer_replay import (
        ReplayPlan,
        ReplayRefused,
        replay_consumer,
        service_definition,
    )

    bootstrap = bootstrap_servers(args)
    if not bootstrap:
        return 2
    definition = service_definition(args.service)
    from services.devstack.ops_commands import topic_families

    families = topic_families()
    topics = tuple(families.get(t, t) for t in args.topics) or tuple(
        t.name for t in definition.consumes)
    plan = ReplayPlan(args.service, topics, since=args.since, rebuild=args.rebuild,
                      dry_run=args.dry_run)
    whole_schema = args.rebuild and not args.topics and definition.rebuild_keeps is not None
    try:
        if whole_schema:
            asyncio.run(_rebuild_schema(bootstrap, definition, args))
        else:
            asyncio.run(replay_consumer(bootstrap, os.environ.get("DATABASE_URL"), definition,
                                        plan, sys.stdout))
    except ReplayRefused as exc:
        print(f"thidua replay: {exc}", file=sys.stderr)
        return 1
    return 0


async def _rebuild_schema(bootstrap: str, definition, args: argparse.Namespace) -> None:
    from services.ops.consumer_replay import ReplayRefused
    from services.ops.schema_rebuild import rebuild_schema

    if args.since is not None:
        raise ReplayRefused("--rebuild replays from the beginning (--from-beginning)")
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        raise ReplayRefused("--rebuild needs DATABASE_URL")
    await rebuild_schema(bootstrap, database_url, definition, sys.stdout, dry_run=args.dry_run)


def run_webhooks(args: argparse.Namespace) -> int:
    import httpx

    from services.ops.webhook_secrets import rotate_secrets

    token = os.environ.get("THIDUA_TOKEN")
    if not args.notify_url or not token:
        print("thidua webhooks: set THIDUA_NOTIFY_URL (or --notify-url) and THIDUA_TOKEN (a "
              "bearer token of a city administrator or the subscriptions' integrator)",
              file=sys.stderr)
        return 2

    async def rotate():
        async with httpx.AsyncClient(base_url=args.notify_url, timeout=30,
                                     headers={"Authorization": f"Bearer {token}"}) as notify:
            return await rotate_secrets(notify, args.webhook_ids, sys.stdout)

    done = asyncio.run(rotate())
    for webhook_id, why in done.failed.items():
        print(f"thidua webhooks: {webhook_id} not rotated: {why}", file=sys.stderr)
    return 1 if done.failed else 0
