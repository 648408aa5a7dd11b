"""deploy/ runs exactly the registry's services on their ports, and its topics job's imports resolve."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
import yaml

from services.registry import SERVICES

DEPLOY = Path(__file__).parents[2] / "deploy"
INFRASTRUCTURE = {"kafka", "postgres", "topics"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_exactly_the_registrys_services(compose):
    assert set(compose["services"]) - INFRASTRUCTURE == {s.name for s in SERVICES}


@pytest.mark.parametrize("entry", SERVICES, ids=lambda s: s.name)
def test_each_compose_service_runs_its_command_on_its_registry_port(compose, entry):
    spec = compose["services"][entry.name]
    assert spec["command"][0] == entry.name
    port = entry.http_port
    assert spec["ports"] == [f"${{PUBLISH_{entry.name.upper()}:-127.0.0.1:{port}:{port}}}"]


def test_the_image_exposes_the_registrys_ports():
    expose = re.findall(r"^EXPOSE (.+)$", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    assert expose == [" ".join(str(s.http_port) for s in SERVICES)]


def test_the_topics_job_imports_what_exists(compose):
    script = compose["services"]["topics"]["command"][0]
    imports = [n for n in ast.walk(ast.parse(script)) if isinstance(n, ast.ImportFrom)]
    assert imports, "the topics job should import the topic admin"
    for node in imports:
        module = importlib.import_module(node.module)
        assert [a.name for a in node.names if not hasattr(module, a.name)] == [], node.module
