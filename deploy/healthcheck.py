"""Container health probe: GET http://127.0.0.1:<service port><path>, exit 0 on HTTP 200.

    python healthcheck.py [PATH] [SERVICE]        PATH: /healthz (default) or /readyz

The service comes from the container's command (`thidua scoring`, also under `init: true`) unless
given; its port from the service's own settings, so `SCORING_HTTP_PORT` is honoured. A container
that runs no single service (the one-shot topics job, `thidua --help`) has nothing to probe.
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys
import urllib.error
import urllib.request

from services.registry import NAMES, service


def service_of_pid1(cmdline: str = "/proc/1/cmdline") -> str | None:
    try:
        with open(cmdline, "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return None
    for here, after in itertools.pairwise(argv):
        if (os.path.basename(here) == "thidua" and after in NAMES) or (
            here == "-m" and after.removeprefix("services.") in NAMES
        ):
            return after.removeprefix("services.")
    return None


def port_of(name: str) -> tuple[str, int]:
    entry = service(name)
    settings = getattr(importlib.import_module(entry.settings_module), entry.settings_class).from_env()
    host = settings.http_host
    return ("127.0.0.1" if host in ("", "0.0.0.0", "::") else host), settings.http_port


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/healthz"
    name = argv[2] if len(argv) > 2 else service_of_pid1()
    if name is None:
        print("healthcheck: this container runs no thidua service; nothing to probe")
        return 0
    host, port = port_of(name)
    url = f"http://{host}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            print(f"{url}: {response.status} {response.read(500).decode(errors='replace')}")
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:  # 503 from /readyz names the failing check
        print(f"{url}: {exc.code} {exc.read(500).decode(errors='replace')}")
    except OSError as exc:
        print(f"{url}: {exc}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
