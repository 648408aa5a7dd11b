"""Write the Kubernetes base from the registry and the contracts: `python deploy/k8s/generate.py`.

Services, ports, environment prefixes, consumed topics and partition counts each have one
source (`services/registry.py`, the services' handlers, `contracts/topics.py`); the manifests
are derived from them, so a new service, topic or partition count cannot be forgotten here.
`tests/unit/test_k8s_manifests.py` fails when the files are stale (`--check` says the same).

Per service: an API Deployment (HPA on CPU, PDB, Service) and a worker Deployment (KEDA
ScaledObject on consumer-group lag, capped at the partitions of the topics it consumes, PDB);
one migrate Job; Strimzi KafkaTopics for every topic and dead-letter topic; an integrator
KafkaUser with read-only ACLs; a ServiceMonitor and the alert rules.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from contracts.topics import ALL_TOPICS  # noqa: E402
from services.registry import SERVICES  # noqa: E402

BASE = Path(__file__).parent / "base"
IMAGE = "thidua"
LABELS = {"app.kubernetes.io/part-of": "thidua"}
# Source-of-truth topics keep their history for replay (DESIGN property 7); derived topics a
# month, dead letters a fortnight after the operator has looked at them.
FOREVER = {"thidua.org.v1", "thidua.campaigns.v1", "thidua.participation.v1",
           "thidua.initiatives.v1"}
DAY_MS = 24 * 3600 * 1000
LAG_THRESHOLD = "1000"  # records behind per replica before KEDA adds one

POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                      "capabilities": {"drop": ["ALL"]}}
RESOURCES = {
    "api": {"requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"}},
    "worker": {"requests": {"cpu": "500m", "memory": "384Mi"},
               "limits": {"cpu": "1", "memory": "768Mi"}},
    "migrate": {"requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "500m", "memory": "256Mi"}},
}


def consumed_topics(entry) -> list:
    """The topics the service's worker consumes, as its handlers declare them."""
    definition = importlib.import_module(entry.app_module).definition()
    return sorted(definition.consumes, key=lambda t: t.name)


def _meta(name: str, component: str, service: str | None = None) -> dict:
    labels = LABELS | {"app.kubernetes.io/component": component}
    if service:
        labels |= {"app.kubernetes.io/name": service}
    return {"name": name, "labels": labels}


def _container(entry, role: str, args: list[str]) -> dict:
    port = entry.http_port
    container: dict[str, Any] = {
        "name": role, "image": IMAGE, "args": args,
        "envFrom": [{"configMapRef": {"name": "thidua-config"}},
                    {"secretRef": {"name": "thidua-secrets"}}],
        "env": [{"name": f"{entry.env_prefix}ROLE", "value": role},
                {"name": f"{entry.env_prefix}HTTP_PORT", "value": str(port)}],
        "resources": RESOURCES[role],
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if role != "migrate":
        container["ports"] = [{"name": "http", "containerPort": port}]
        container["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"},
                                      "periodSeconds": 10, "failureThreshold": 3}
        container["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": "http"},
                                       "periodSeconds": 5, "failureThreshold": 3}
        container["startupProbe"] = {"httpGet": {"path": "/healthz", "port": "http"},
                                     "periodSeconds": 2, "failureThreshold": 30}
    return container


def _deployment(entry, role: str, replicas: int) -> dict:
    name = f"{entry.name}-{role}"
    selector = {"app.kubernetes.io/name": entry.name, "app.kubernetes.io/component": role}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, role, entry.name),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": LABELS | selector},
                "spec": {
                    "securityContext": POD_SECURITY,
                    "automountServiceAccountToken": False,
                    # A service drains for up to 30 s on SIGTERM (runtime/http.py).
                    "terminationGracePeriodSeconds": 40,
                    "containers": [_container(entry, role, [entry.name, "--role", role])],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }


def _pdb(entry, role: str) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": _meta(f"{entry.name}-{role}", role, entry.name),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {
                "app.kubernetes.io/name": entry.name, "app.kubernetes.io/component": role}}}}


def service_documents(entry) -> list[dict]:
    topics = consumed_topics(entry)
    api_selector = {"app.kubernetes.io/name": entry.name, "app.kubernetes.io/component": "api"}
    worker_selector = {"app.kubernetes.io/name": entry.name,
                       "app.kubernetes.io/component": "worker"}
    return [
        _deployment(entry, "api", 2),
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(entry.name, "api", entry.name),
         "spec": {"selector": api_selector,
                  "ports": [{"name": "http", "port": entry.http_port, "targetPort": "http"}]}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": _meta(f"{entry.name}-api", "api", entry.name),
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": f"{entry.name}-api"},
                  "minReplicas": 2, "maxReplicas": 20,
                  "metrics": [{"type": "Resource", "resource": {
                      "name": "cpu", "target": {"type": "Utilization",
                                                "averageUtilization": 70}}}]}},
        _pdb(entry, "api"),
        _deployment(entry, "worker", 1),
        # Workers' metrics and readiness are served on the same port by every role.
        {"apiVersion": "v1", "kind": "Service",
         "metadata": _meta(f"{entry.name}-worker", "worker", entry.name),
         "spec": {"selector": worker_selector, "clusterIP": "None",
                  "ports": [{"name": "http", "port": entry.http_port, "targetPort": "http"}]}},
        _pdb(entry, "worker"),
        {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
         "metadata": _meta(f"{entry.name}-worker", "worker", entry.name),
         "spec": {
             "scaleTargetRef": {"name": f"{entry.name}-worker"},
             "minReplicaCount": 1,
             # More consumers than partitions would sit idle.
             "maxReplicaCount": max(t.partitions for t in topics),
             "cooldownPeriod": 300,
             "triggers": [{"type": "kafka", "metadata": {
                 "bootstrapServers": "thidua-kafka-bootstrap:9092",
                 "consumerGroup": f"thidua-{entry.name}", "topic": t.name,
                 "lagThreshold": LAG_THRESHOLD, "offsetResetPolicy": "earliest"}}
                 for t in topics],
         }},
    ]


def migrate_job() -> dict:
    """Every service's schema migrated, one after another, before a rollout."""
    steps = [_container(entry, "migrate", ["migrate", entry.name]) | {"name": entry.name}
             for entry in SERVICES]
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": _meta("thidua-migrate", "migrate"),
        "spec": {"backoffLimit": 3, "ttlSecondsAfterFinished": 86400, "template": {
            "metadata": {"labels": LABELS | {"app.kubernetes.io/component": "migrate"}},
            "spec": {"restartPolicy": "OnFailure", "securityContext": POD_SECURITY,
                     "automountServiceAccountToken": False,
                     "initContainers": steps[:-1], "containers": steps[-1:],
                     "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]}}},
    }


def topic_documents() -> list[dict]:
    documents = []
    for topic in ALL_TOPICS:
        for name, partitions, retention in (
                (topic.name, topic.partitions, -1 if topic.name in FOREVER else 30 * DAY_MS),
                (topic.dlq, topic.partitions, 14 * DAY_MS)):
            documents.append({
                "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
                "metadata": {"name": name.replace("_", "-"),
                             "labels": LABELS | {"strimzi.io/cluster": "thidua"}},
                "spec": {"topicName": name, "partitions": partitions, "replicas": 3,
                         "config": {"retention.ms": retention, "min.insync.replicas": 2,
                                    "cleanup.policy": "delete"}}})
    return documents


def integrator_user() -> dict:
    """Read-only access for an integrator: every public topic, its own consumer groups."""
    acls = [{"resource": {"type": "topic", "name": "thidua.", "patternType": "prefix"},
             "operations": ["Describe", "Read"]},
            {"resource": {"type": "group", "name": "integrator-", "patternType": "prefix"},
             "operations": ["Read"]}]
    return {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaUser",
            "metadata": {"name": "integrator",
                         "labels": LABELS | {"strimzi.io/cluster": "thidua"}},
            "spec": {"authentication": {"type": "scram-sha-512"},
                     "authorization": {"type": "simple", "acls": acls}}}


ALERTS = [
    ("ThiduaServiceNotReady", 'kube_deployment_status_replicas_available{deployment=~".*-(api|worker)"} == 0',
     "5m", "critical", "No ready replica of {{ $labels.deployment }}."),
    ("ThiduaOutboxBacklog", "max by (service) (thidua_outbox_oldest_age_seconds) > 60",
     "5m", "warning", "{{ $labels.service }}: outbox rows wait over a minute to be published."),
    ("ThiduaDeadLetters", "sum by (service) (increase(thidua_consumer_dead_letters_total[15m])) > 0",
     "0m", "warning", "{{ $labels.service }} parked records in a dead-letter topic: see "
     "`thidua events tail <topic>.dlq` and `thidua dlq replay`."),
    ("ThiduaConsumerLag", "sum by (service) (thidua_consumer_lag) > 100000",
     "10m", "warning", "{{ $labels.service }} is over 100,000 records behind."),
    ("ThiduaHttpErrors", 'sum by (service) (rate(thidua_http_request_duration_seconds_count{status=~"5.."}[5m])) '
     "/ sum by (service) (rate(thidua_http_request_duration_seconds_count[5m])) > 0.02",
     "10m", "warning", "{{ $labels.service }} answers over 2 % of requests with 5xx."),
]


def monitoring_documents() -> list[dict]:
    return [
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
         "metadata": _meta("thidua", "monitoring"),
         "spec": {"selector": {"matchLabels": LABELS},
                  "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}]}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
         "metadata": _meta("thidua", "monitoring"),
         "spec": {"groups": [{"name": "thidua", "rules": [
             {"alert": name, "expr": expr, "for": duration, "labels": {"severity": severity},
              "annotations": {"summary": summary}}
             for name, expr, duration, severity, summary in ALERTS]}]}},
    ]


def config_map() -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("thidua-config", "config"),
            "data": {"KAFKA_BOOTSTRAP_SERVERS": "thidua-kafka-bootstrap:9092",
                     "LOG_FORMAT": "json", "LOG_LEVEL": "INFO",
                     "AUTH_AUDIENCE": "thidua",
                     # An overlay names its OTLP/HTTP collector here; empty, tracing is off.
                     "OTEL_EXPORTER_OTLP_ENDPOINT": ""}}


def files() -> dict[str, str]:
    """Every file of the base, by name, as text."""
    out = {"config.yaml": _dump([config_map()]), "migrate.yaml": _dump([migrate_job()]),
           "topics.yaml": _dump(topic_documents()), "integrator.yaml": _dump([integrator_user()]),
           "monitoring.yaml": _dump(monitoring_documents())}
    for entry in SERVICES:
        out[f"{entry.name}.yaml"] = _dump(service_documents(entry))
    out["kustomization.yaml"] = _dump([{
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "labels": [{"pairs": LABELS, "includeSelectors": False}],
        "resources": sorted(name for name in out if name != "kustomization.yaml")}])
    return out


def _dump(documents: list[dict]) -> str:
    header = "# Generated by deploy/k8s/generate.py from the registry and the contracts; do not edit.\n"
    return header + "---\n".join(yaml.safe_dump(d, sort_keys=False, allow_unicode=True)
                                 for d in documents)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args()
    stale = [name for name, text in files().items()
             if not (BASE / name).exists() or (BASE / name).read_text() != text]
    if args.check:
        print("\n".join(f"stale: deploy/k8s/base/{n}" for n in stale) or "up to date")
        return 1 if stale else 0
    BASE.mkdir(parents=True, exist_ok=True)
    for name, text in files().items():
        (BASE / name).write_text(text)
    print(f"wrote {len(files())} files under {BASE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
