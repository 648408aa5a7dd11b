"""Integrators install contracts alone: it must not pull in the services or their stack."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("services", "faststream", "aiokafka", "asyncpg", "structlog", "fastapi", "yaml")


def test_importing_contracts_loads_no_service_or_infrastructure_module():
    code = (
        "import json, sys, contracts, contracts.events, contracts.generate\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(json.dumps(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
