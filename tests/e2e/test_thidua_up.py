"""The README's run command: `thidua up --demo` with each service as its own process."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.support.ports import free_base_port

pytestmark = pytest.mark.integration


def test_thidua_up_brings_the_system_up_and_the_demo_initiative_reaches_its_author(
    infrastructure,
):
    # Reuse the session's broker and database (as ops would pass them) so the test stays quick.
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
        "DATABASE_URL": infrastructure.database_url,
        "LOG_FORMAT": "json",
    }
    done = subprocess.run(  # noqa: PLW1510 - the exit code is asserted with the output
        [sys.executable, "-m", "services.devstack.cli", "up", "--demo", "--exit-after-demo",
         "--base-port", str(free_base_port())],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "thidua is up" in done.stdout and "ready in" in done.stdout
    correlation_id = re.search(r"correlationid=([0-9a-f-]{36})", done.stdout).group(1)
    # The thread can be followed across the four services' logs by its correlation id.
    services_logging_it = {
        m.group(1)
        for line in done.stderr.splitlines()
        if correlation_id in line and (m := re.search(r'"service": "(\w+)"', line))
    }
    assert services_logging_it == {"registration", "scoring", "awards", "notify"}
