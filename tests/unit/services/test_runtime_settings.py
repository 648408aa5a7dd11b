"""Settings from the environment: a service's own prefix first, then the shared unprefixed names."""

from __future__ import annotations

import pytest

from services.runtime.settings import SHARED_FIELDS, ServiceSettings
from services.scoring.settings import ScoringSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ServiceSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(f"SCORING_{name}".upper(), raising=False)


def test_a_service_without_environment_gets_its_own_defaults():
    settings = ScoringSettings.from_env()
    assert (settings.service_name, settings.http_port, settings.group_id) == (
        "scoring", 8102, "thidua-scoring")
    assert settings.log_format == "json"
    assert settings.consumer_auto_offset_reset == "earliest"


def test_the_shared_unprefixed_variable_configures_infrastructure(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-0:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://thidua@db/thidua")
    monkeypatch.setenv("LOG_FORMAT", "console")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    settings = ScoringSettings.from_env()
    assert settings.kafka_bootstrap_servers == "kafka-0:9092"
    assert settings.database_url == "postgresql://thidua@db/thidua"
    assert (settings.log_format, settings.log_level) == ("console", "DEBUG")


def test_the_prefixed_variable_beats_the_shared_one(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "shared:9092")
    monkeypatch.setenv("SCORING_KAFKA_BOOTSTRAP_SERVERS", "scoring-only:9092")
    assert ScoringSettings.from_env().kafka_bootstrap_servers == "scoring-only:9092"


def test_explicit_overrides_beat_both_variables(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setenv("SCORING_LOG_LEVEL", "DEBUG")
    assert ScoringSettings.from_env(log_level="ERROR").log_level == "ERROR"


def test_service_specific_settings_are_read_only_with_the_prefix(monkeypatch):
    monkeypatch.setenv("HTTP_PORT", "9999")
    monkeypatch.setenv("CONSUMER_MAX_RECORDS", "7")
    settings = ScoringSettings.from_env()
    assert (settings.http_port, settings.consumer_max_records) == (8102, 2000)
    monkeypatch.setenv("SCORING_HTTP_PORT", "9102")
    monkeypatch.setenv("SCORING_CONSUMER_MAX_RECORDS", "1000")
    settings = ScoringSettings.from_env()
    assert (settings.http_port, settings.consumer_max_records) == (9102, 1000)


def test_only_infrastructure_and_logging_are_shared():
    assert set(SHARED_FIELDS) == {"kafka_bootstrap_servers", "database_url", "log_format",
                                  "log_level"}
