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


def test_compose_runs_an_api_and_a_worker_of_exactly_the_registrys_services(compose):
    assert set(compose["services"]) - INFRASTRUCTURE == {
        name for s in SERVICES for name in (s.name, f"{s.name}-worker")}


@pytest.mark.parametrize("entry", SERVICES, ids=lambda s: s.name)
def test_each_compose_service_runs_its_command_on_its_registry_port(compose, entry):
    api, worker = compose["services"][entry.name], compose["services"][f"{entry.name}-worker"]
    assert api["command"] == [entry.name, "--role", "api"]
    assert worker["command"] == [entry.name, "--role", "worker"]
    port = entry.http_port
    assert api["ports"] == [f"${{PUBLISH_{entry.name.upper()}:-127.0.0.1:{port}:{port}}}"]
    assert "ports" not in worker  # scaled with --scale, so no fixed host port


@pytest.mark.parametrize("name", [n for s in SERVICES for n in (s.name, f"{s.name}-worker")])
def test_each_compose_service_is_hardened_and_reads_its_secret_from_a_file(compose, name):
    spec = compose["services"][name]
    assert spec["security_opt"] == ["no-new-privileges:true"]
    assert spec["cap_drop"] == ["ALL"] and spec["read_only"] is True
    assert spec["deploy"]["resources"]["limits"]
    assert "DATABASE_URL" not in spec["environment"]
    assert spec["environment"]["DATABASE_URL_FILE"] == "/run/secrets/database_url"
    assert spec["secrets"] == ["database_url"]


def test_no_password_is_written_in_the_compose_file(compose):
    text = (DEPLOY / "compose.yaml").read_text()
    assert "POSTGRES_PASSWORD:" not in text and "thidua:thidua@" not in text
    assert set(compose["secrets"]) == {"postgres_password", "database_url"}


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
