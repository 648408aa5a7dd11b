"""Child processes of the local stack: started so they die with us, stopped so none is left."""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess

import structlog

log = structlog.get_logger()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


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
