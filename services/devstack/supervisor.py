"""Runs each service as its own OS process beside the infrastructure, and stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
import structlog

from services import registry
from services.devstack.infrastructure import Infrastructure
from services.devstack.processes import die_with_parent

log = structlog.get_logger()
# Where a service's token keys come from (settings.py); one set by the operator is kept.
KEY_SOURCE_VARIABLES = ("AUTH_JWKS_URL", "AUTH_JWKS_FILE")


class ServiceDied(RuntimeError):
    def __init__(self, name: str, exit_code: int | None) -> None:
        super().__init__(f"service {name} exited with code {exit_code}")
        self.name, self.exit_code = name, exit_code


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}/readyz"


def service_port(name: str, base_port: int) -> int:
    """base+1, base+2, ... in the registry's order: the default ports when base is 8100."""
    return base_port + 1 + registry.NAMES.index(name)


def service_env(name: str, port: int, infra: Infrastructure, base: Mapping[str, str],
                identity: Mapping[str, str] | None = None) -> dict[str, str]:
    """The inherited environment plus where the infrastructure is and which port to serve on,
    and `identity` (the local token issuer's keys) unless the environment names a key source
    for this service already."""
    env = dict(base)
    env.update(KAFKA_BOOTSTRAP_SERVERS=infra.kafka_bootstrap_servers,
               DATABASE_URL=infra.database_url, PYTHONUNBUFFERED="1")
    prefix = registry.service(name).env_prefix
    env[f"{prefix}HTTP_PORT"] = str(port)
    # A local stack answers this machine only, unless the operator opens it on purpose.
    env.setdefault(f"{prefix}HTTP_HOST", "127.0.0.1")
    env.setdefault("LOG_FORMAT", "console")
    key_sources = [f"{p}{source}" for p in ("", prefix) for source in KEY_SOURCE_VARIABLES]
    if identity and not any(base.get(variable) for variable in key_sources):
        env.update(identity)
    return env


def service_command(name: str) -> list[str]:
    return [sys.executable, "-m", registry.service(name).module]


def check_port_free(name: str, port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is fine
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise RuntimeError(
                f"port {port} for {name} is in use; pick another --base-port") from exc


def start_service(name: str, port: int, infra: Infrastructure,
                  identity: Mapping[str, str] | None = None,
                  extra_env: Mapping[str, str] | None = None) -> ServiceProcess:
    """`extra_env` adds settings of this one service (e.g. the demo's SMTP relay for notify)."""
    check_port_free(name, port)
    # Own session and process group: Ctrl-C reaches only us, and we stop services before the
    # infrastructure; the kernel still stops them if we are killed outright.
    env = service_env(name, port, infra, os.environ, identity) | dict(extra_env or {})
    process = subprocess.Popen(service_command(name), env=env,
                               stdin=subprocess.DEVNULL, start_new_session=True,
                               preexec_fn=die_with_parent)  # noqa: PLW1509 (prctl only)
    log.info("service_process_started", service=name, pid=process.pid, port=port)
    return ServiceProcess(name, port, process)


def raise_if_any_died(services: list[ServiceProcess]) -> None:
    for service in services:
        if service.process.poll() is not None:
            raise ServiceDied(service.name, service.process.returncode)


def wait_until_ready(services: list[ServiceProcess], timeout_s: float) -> None:
    pending = {s.name: s for s in services}
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while pending:
            raise_if_any_died(services)
            for name, service in list(pending.items()):
                try:
                    if client.get(service.health_url).status_code == 200:
                        log.info("service_ready", service=name, url=service.url)
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout_s:.0f} s: {', '.join(pending)}")
            time.sleep(0.2)


def stop_services(services: list[ServiceProcess], grace_s: float = 10.0) -> None:
    """SIGTERM every service's process group at once, then SIGKILL whatever outlives the grace."""
    for service in services:
        _signal_group(service.process, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for service in services:
        try:
            service.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("service_process_killed", service=service.name, pid=service.process.pid)
            _signal_group(service.process, signal.SIGKILL)
            service.process.wait()
        code = service.process.returncode
        how = {"signal": signal.Signals(-code).name} if code < 0 else {"exit_code": code}
        log.info("service_process_stopped", service=service.name, **how)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)  # the whole child, with anything it started
    except ProcessLookupError:
        pass
