"""The README's run command: `thidua up --demo` with each service as its own process, twice on
the same broker and database (a stack started again must find its scenario done, not fail)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ports import free_base_port
from tests.support.private_stack import private_infrastructure

pytestmark = pytest.mark.integration


def _up(infra, report_dir: Path) -> subprocess.CompletedProcess:
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "DATABASE_URL": infra.database_url,
        "LOG_FORMAT": "json",
        # The skeleton's first thread waits for the consumer groups' first joins: on a loaded
        # machine that can take longer than its 60 s default.
        "THIDUA_DEMO_TIMEOUT_S": "240",
    }
    return subprocess.run(  # noqa: PLW1510 - the exit code is asserted with the output
        [sys.executable, "-m", "services.devstack.cli", "up", "--demo", "--exit-after-demo",
         "--base-port", str(free_base_port()), "--report-dir", str(report_dir)],
        env=env, capture_output=True, text=True, timeout=400,
    )


def test_thidua_up_plays_the_scenario_prints_its_report_and_plays_again_on_the_same_data(
    infrastructure, tmp_path,
):
    # A broker and database of its own: nothing another test publishes reaches the stack.
    with private_infrastructure(infrastructure, tmp_path / "infra") as infra:
        done = _up(infra, tmp_path / "report")
        assert done.returncode == 0, done.stdout + done.stderr[-5000:]
        assert "thidua is up" in done.stdout and "ready in" in done.stdout
        correlation_id = re.search(r"correlationid=([0-9a-f-]{36})", done.stdout).group(1)
        # The thread can be followed across the four services' logs by its correlation id.
        services_logging_it = {
            m.group(1)
            for line in done.stderr.splitlines()
            if correlation_id in line and (m := re.search(r'"service": "(\w+)"', line))
        }
        assert services_logging_it == {"registration", "scoring", "awards", "notify"}
        # The report, in Vietnamese with English headers, and the HTML file it names.
        for heading in ("BÁO CÁO THI ĐUA — Emulation report", "Leaderboard: Cụm thi đua",
                        "Initiatives and benefit per district", "Award pyramid by title and level",
                        "Notifications per channel"):
            assert heading in done.stdout, heading
        page = Path(re.search(r"HTML report: (\S+)", done.stdout).group(1))
        assert page.is_file() and "<svg" in page.read_text(encoding="utf-8")

        again = _up(infra, tmp_path / "report")
        assert again.returncode == 0, again.stdout + again.stderr[-5000:]
        assert "was closed by an earlier run" in again.stdout
        assert "BÁO CÁO THI ĐUA" in again.stdout
