"""The Grafana dashboard only charts series the services export (deploy/grafana)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import services.runtime.metrics  # noqa: F401 - registers every series

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "thidua-dashboard.json"


def exported() -> set[str]:
    """Every series name the registry can expose (a histogram's _bucket, _count and _sum,
    a counter's _total), whether or not it has been observed yet."""
    return set(REGISTRY._names_to_collectors)


def test_every_panel_queries_an_exported_series():
    document = json.loads(DASHBOARD.read_text())
    series = exported()
    for panel in document["panels"]:
        for target in panel["targets"]:
            used = set(re.findall(r"\bthidua_[a-z_]+", target["expr"]))
            assert used and used <= series, (panel["title"], used - series)


def test_panels_do_not_overlap():
    cells = set()
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        g = panel["gridPos"]
        covered = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                   for y in range(g["y"], g["y"] + g["h"])}
        assert not covered & cells, panel["title"]
        cells |= covered
