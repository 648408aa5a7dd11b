"""Settings from the environment: a service's own prefix first, then the shared unprefixed names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

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


def test_only_infrastructure_logging_and_the_token_issuer_are_shared():
    assert set(SHARED_FIELDS) == {"kafka_bootstrap_servers", "database_url", "log_format",
                                  "log_level", "auth_jwks_url", "auth_jwks_file", "auth_issuer",
                                  "auth_audience", "auth_leeway_seconds", "auth_algorithms",
                                  "auth_jwks_refresh_seconds", "auth_jwks_min_refresh_seconds"}


def test_token_settings_default_to_the_local_issuer_and_asymmetric_algorithms():
    settings = ScoringSettings.from_env()
    assert (settings.auth_jwks_url, settings.auth_jwks_file) == ("", "")
    assert (settings.auth_issuer, settings.auth_audience) == ("thidua-local", "thidua")
    assert settings.auth_algorithms == ["EdDSA", "ES256", "RS256"]
    assert (settings.auth_leeway_seconds, settings.auth_jwks_refresh_seconds,
            settings.auth_jwks_min_refresh_seconds) == (30, 300, 30)


def test_one_issuer_configures_every_service_and_a_prefixed_value_overrides(monkeypatch):
    monkeypatch.setenv("AUTH_JWKS_URL", "https://kc/realms/thidua/protocol/openid-connect/certs")
    monkeypatch.setenv("AUTH_ISSUER", "https://kc/realms/thidua")
    monkeypatch.setenv("AUTH_AUDIENCE", "thidua")
    monkeypatch.setenv("AUTH_ALGORITHMS", "RS256, ES256")
    monkeypatch.setenv("SCORING_AUTH_AUDIENCE", "thidua-scoring")
    settings = ScoringSettings.from_env()
    assert settings.auth_jwks_url == "https://kc/realms/thidua/protocol/openid-connect/certs"
    assert (settings.auth_issuer, settings.auth_audience) == ("https://kc/realms/thidua",
                                                              "thidua-scoring")
    assert settings.auth_algorithms == ["RS256", "ES256"]


def test_algorithms_may_be_a_json_list(monkeypatch):
    monkeypatch.setenv("SCORING_AUTH_ALGORITHMS", '["EdDSA"]')
    assert ScoringSettings.from_env().auth_algorithms == ["EdDSA"]


@pytest.mark.parametrize("algorithms", ["HS256", "none", "EdDSA,HS512", "NONE", '["HS384"]', ""])
def test_symmetric_algorithms_and_none_are_refused(monkeypatch, algorithms):
    monkeypatch.setenv("AUTH_ALGORITHMS", algorithms)
    with pytest.raises(ValidationError, match="asymmetric|at least one"):
        ScoringSettings.from_env()


def test_symmetric_algorithms_are_refused_in_code_too():
    with pytest.raises(ValidationError, match="'HS256' refused"):
        ScoringSettings(auth_algorithms=["RS256", "HS256"])


def test_a_jwks_url_and_a_jwks_file_together_are_refused(monkeypatch):
    monkeypatch.setenv("AUTH_JWKS_URL", "https://kc/certs")
    monkeypatch.setenv("AUTH_JWKS_FILE", "/etc/thidua/jwks.json")
    with pytest.raises(ValidationError, match="either AUTH_JWKS_URL or AUTH_JWKS_FILE"):
        ScoringSettings.from_env()
    monkeypatch.setenv("SCORING_AUTH_JWKS_FILE", "")  # the prefixed empty value clears the shared one
    assert ScoringSettings.from_env().auth_jwks_file == ""


def test_a_jwks_url_must_be_http():
    with pytest.raises(ValidationError, match="https://"):
        ScoringSettings(auth_jwks_url="file:///etc/passwd")


def test_the_database_url_can_come_from_a_mounted_secret_file(monkeypatch, tmp_path):
    for variable in ("DATABASE_URL_FILE", "SCORING_DATABASE_URL_FILE"):
        monkeypatch.delenv(variable, raising=False)
    secret = tmp_path / "database_url"
    secret.write_text("postgresql://thidua:s3cret@db/thidua\n")
    monkeypatch.setenv("DATABASE_URL_FILE", str(secret))
    assert ScoringSettings.from_env().database_url == "postgresql://thidua:s3cret@db/thidua"
    own = tmp_path / "scoring_url"
    own.write_text("postgresql://scoring@db/scoring")
    monkeypatch.setenv("SCORING_DATABASE_URL_FILE", str(own))
    assert ScoringSettings.from_env().database_url == "postgresql://scoring@db/scoring"
    monkeypatch.setenv("DATABASE_URL", "postgresql://plain@db/thidua")  # a value beats a file
    assert ScoringSettings.from_env().database_url == "postgresql://plain@db/thidua"


def test_an_unreadable_secret_file_is_named(monkeypatch, tmp_path):
    monkeypatch.delenv("SCORING_DATABASE_URL_FILE", raising=False)
    monkeypatch.setenv("DATABASE_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="DATABASE_URL_FILE=.*cannot read the secret"):
        ScoringSettings.from_env()
