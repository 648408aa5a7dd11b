"""The Kubernetes manifests, checked without a cluster: the base is what the registry and the
contracts say (not stale), both overlays render with `kubectl kustomize`, every core object
validates against the Kubernetes schemas and every custom resource against the fields thidua
uses of its CRD (deploy/k8s/schemas), and the rules ops rely on hold."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from contracts.topics import ALL_TOPICS
from services.registry import SERVICES

K8S = Path(__file__).parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.31.0"
OVERLAYS = ("local", "production")


def generator():
    spec = importlib.util.spec_from_file_location("k8s_generate", K8S / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> list[dict]:
    kubectl = shutil.which("kubectl") or str(Path(__import__("sys").executable).parent / "kubectl")
    done = subprocess.run([kubectl, "kustomize", str(K8S / "overlays" / request.param)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_the_base_is_generated_from_the_registry_and_contracts():
    for name, text in generator().files().items():
        assert (K8S / "base" / name).read_text() == text, (
            f"deploy/k8s/base/{name} is stale: run python deploy/k8s/generate.py")


def test_every_object_validates_against_its_schema(rendered):
    for document in rendered:
        custom = K8S / "schemas" / f"{document['kind']}.json"
        if custom.exists():
            jsonschema.validate(document, json.loads(custom.read_text()))
        else:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_each_service_runs_an_api_and_a_worker_scaled_apart(rendered):
    by_kind: dict[str, dict[str, dict]] = {}
    for document in rendered:
        by_kind.setdefault(document["kind"], {})[document["metadata"]["name"]] = document
    for entry in SERVICES:
        for role in ("api", "worker"):
            deployment = by_kind["Deployment"][f"{entry.name}-{role}"]
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            assert container["args"] == [entry.name, "--role", role]
            assert {"name": f"{entry.env_prefix}ROLE", "value": role} in container["env"]
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert by_kind["PodDisruptionBudget"][f"{entry.name}-{role}"]
        assert by_kind["HorizontalPodAutoscaler"][f"{entry.name}-api"]
        scaled = by_kind["ScaledObject"][f"{entry.name}-worker"]
        topics = {t["metadata"]["topic"] for t in scaled["spec"]["triggers"]}
        assert "thidua.org.v1" in topics  # every service projects the directory
        partitions = {t.name: t.partitions for t in ALL_TOPICS}
        assert scaled["spec"]["maxReplicaCount"] <= max(partitions[t] for t in topics)


def test_every_topic_and_dead_letter_topic_is_declared(rendered):
    declared = {d["spec"]["topicName"]: d["spec"]["partitions"]
                for d in rendered if d["kind"] == "KafkaTopic"}
    assert declared == {name: t.partitions for t in ALL_TOPICS for name in (t.name, t.dlq)}


def test_pods_run_unprivileged_on_a_read_only_root(rendered):
    for document in rendered:
        if document["kind"] not in ("Deployment", "Job"):
            continue
        pod = document["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod.get("initContainers", []) + pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["limits"]


def test_the_migrate_job_migrates_every_service(rendered):
    job = next(d for d in rendered if d["kind"] == "Job")
    pod = job["spec"]["template"]["spec"]
    steps = [c["args"] for c in pod["initContainers"] + pod["containers"]]
    assert steps == [["migrate", s.name] for s in SERVICES]


def test_integrators_only_read(rendered):
    user = next(d for d in rendered if d["kind"] == "KafkaUser")
    operations = {op for acl in user["spec"]["authorization"]["acls"] for op in acl["operations"]}
    assert operations <= {"Read", "Describe"}
