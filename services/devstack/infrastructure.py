"""Where the broker and the database come from: the environment, containers, or embedded servers.

Order (DESIGN "Running it"): `KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` when set, each on its own;
testcontainers where a Docker engine answers; the embedded tansu broker and PostgreSQL otherwise.
`THIDUA_INFRA=external|containers|embedded` forces one and fails clearly if it cannot be had.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

KINDS = ("external", "containers", "embedded")

log = structlog.get_logger()


class InfrastructureUnavailable(RuntimeError):
    """The forced or needed kind of infrastructure cannot be had on this machine."""


@dataclass(frozen=True)
class Infrastructure:
    kafka_bootstrap_servers: str
    database_url: str  # postgresql://... that asyncpg accepts
    kind: str  # "external" | "containers" | "embedded": where what was missing came from


def choose_kind(env: dict[str, str] | os._Environ) -> str:
    forced = env.get("THIDUA_INFRA", "").strip().lower()
    if forced and forced not in KINDS:
        raise InfrastructureUnavailable(f"THIDUA_INFRA={forced!r}: expected one of {KINDS}")
    if forced == "external" and not (env.get("KAFKA_BOOTSTRAP_SERVERS") and env.get("DATABASE_URL")):
        raise InfrastructureUnavailable(
            "THIDUA_INFRA=external needs both KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL")
    if env.get("KAFKA_BOOTSTRAP_SERVERS") and env.get("DATABASE_URL"):
        return "external"
    from services.devstack.containers import docker_available

    if forced == "containers":
        if not docker_available():
            raise InfrastructureUnavailable("THIDUA_INFRA=containers but no Docker engine answers")
        return "containers"
    if forced == "embedded" or not docker_available():
        return "embedded"
    return "containers"


@contextmanager
def provide_infrastructure(data_dir: Path | None = None) -> Iterator[Infrastructure]:
    """Yield a broker and a database; stop whatever was started here on exit, even on Ctrl-C."""
    kind = choose_kind(os.environ)
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None
    database = os.environ.get("DATABASE_URL") or None
    with ExitStack() as stack:
        if kind == "containers":
            from services.devstack.containers import containers

            kafka2, database2 = stack.enter_context(containers(not kafka, not database))
            kafka, database = kafka or kafka2, database or database2
        elif kind == "embedded":
            kafka, database = _start_embedded(stack, data_dir, kafka, database)
        infra = Infrastructure(kafka, database, kind)  # type: ignore[arg-type]
        log.info("infrastructure_started", kind=kind, kafka_bootstrap_servers=kafka,
                 database_url=database)
        try:
            yield infra
        finally:
            log.info("infrastructure_stopping", kind=kind)


def _start_embedded(stack: ExitStack, data_dir: Path | None, kafka: str | None,
                    database: str | None) -> tuple[str, str]:
    from services.devstack.embedded import embedded_postgres, tansu_broker

    if data_dir is None:  # tansu forgets everything on restart, so the database starts fresh too
        data_dir = Path(tempfile.mkdtemp(prefix="thidua-"))
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not kafka:
        kafka = stack.enter_context(tansu_broker(data_dir / "tansu.log"))
    if not database:
        database = stack.enter_context(embedded_postgres(data_dir / "pgdata"))
    return kafka, database
