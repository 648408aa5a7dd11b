"""The registry agrees with each service's own package, and with the import-linter contracts."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from services.registry import NAMES, SERVICES, service

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("entry", SERVICES, ids=lambda s: s.name)
def test_each_entry_describes_its_services_settings_and_composition(entry):
    settings_cls = getattr(importlib.import_module(entry.settings_module), entry.settings_class)
    settings = settings_cls()
    assert settings_cls.model_config["env_prefix"] == entry.env_prefix
    assert (settings.service_name, settings.http_port) == (entry.name, entry.http_port)
    assert importlib.import_module(entry.app_module).definition(settings).name == entry.name
    assert importlib.util.find_spec(f"{entry.module}.__main__") is not None


def test_names_ports_and_prefixes_are_unique():
    for values in (NAMES, [s.http_port for s in SERVICES], [s.env_prefix for s in SERVICES]):
        assert len(set(values)) == len(SERVICES)


def test_an_unknown_service_is_named_in_the_error():
    with pytest.raises(KeyError, match="ranking.*registration, scoring, awards, notify"):
        service("ranking")


def test_the_import_contract_for_services_covers_exactly_the_registry():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract, = (c for c in config["contracts"]
                 if c["name"] == "Services import nothing of the local stack")
    assert contract["source_modules"] == [s.module for s in SERVICES]


def test_reading_the_registry_loads_nothing_heavy():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, services.registry; print(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    assert not {"pydantic", "structlog", "fastapi", "contracts", "services.runtime"} & set(loaded)
