"""Child processes of the local stack: started so they die with us, stopped so none is left."""

from __future__ import annotations

import ctypes
import random
import signal
import socket
import subprocess

import structlog

log = structlog.get_logger()


# Ports are picked below Linux's ephemeral range (32768-60999 by default): a port the kernel
# hands out for bind(0) is one any outgoing connection's local end can take between the pick
# and the child's bind, and a client connecting to such a port with nothing listening on it
# can even connect to itself.
PICKED_PORTS = range(20000, 32000)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that can be bound on `host` now, at random below the ephemeral range (two stacks
    on one machine do not both take the first free one)."""
    for _ in range(200):
        port = random.choice(PICKED_PORTS)
        if bindable(port, host):
            return port
    raise RuntimeError(f"no free port between {PICKED_PORTS.start} and {PICKED_PORTS.stop}")


def bindable(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def die_with_parent() -> None:
    """preexec_fn: the kernel sends SIGTERM to the child if the parent dies, even by SIGKILL.

    Linux ties this to the thread that started the child: start children from a thread that
    lives as long as they should (the main thread here).
    """
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(process: subprocess.Popen, name: str, grace_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after the grace period; always reaped, so never a zombie."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            log.warning("process_killed", name=name, pid=process.pid, grace_s=grace_s)
            process.kill()
            process.wait()
    log.info("process_stopped", name=name, pid=process.pid, exit_code=process.returncode)
