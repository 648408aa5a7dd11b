"""Settings every service shares, read once from the environment and passed down.

Infrastructure addresses are unprefixed (`KAFKA_BOOTSTRAP_SERVERS`, `DATABASE_URL`) because one
deployment shares them; everything else carries the service's prefix (`SCORING_HTTP_PORT`), so
one environment file can configure all four services without collisions.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Fields whose value may be read from a file named by `<NAME>_FILE` (mounted secrets).
SECRET_FIELDS = ("database_url",)
# Fields that may also come from an unprefixed variable shared by the whole deployment: the
# infrastructure, logging, and the token issuer every service trusts.
SHARED_FIELDS = ("kafka_bootstrap_servers", "database_url", "log_format", "log_level",
                 "auth_jwks_url", "auth_jwks_file", "auth_issuer", "auth_audience",
                 "auth_leeway_seconds", "auth_algorithms", "auth_jwks_refresh_seconds",
                 "auth_jwks_min_refresh_seconds")

# Signature algorithms a token may use: asymmetric only. A shared secret (HS*) would let every
# service that verifies also mint, and `none` is no signature at all.
ASYMMETRIC_ALGORITHMS = frozenset({"EdDSA", "ES256", "ES256K", "ES384", "ES512", "RS256", "RS384",
                                   "RS512", "PS256", "PS384", "PS512"})


# PostgreSQL's plan_cache_mode for a consumer's batches; "" keeps the server's.
PlanCacheMode = Literal["", "auto", "force_generic_plan", "force_custom_plan"]


class ServiceSettings(BaseSettings):
    """Base settings; each service subclasses it with its own `env_prefix` and defaults."""

    model_config = SettingsConfigDict(env_prefix="THIDUA_", extra="ignore", populate_by_name=True)

    service_name: str = "service"
    # api: HTTP commands and queries only; worker: consumer and outbox relay (HTTP serves only
    # health, readiness and metrics); all: both in one process (local runs, small deployments).
    role: Literal["api", "worker", "all"] = "all"
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    database_url: str = Field("postgresql://postgres@127.0.0.1:5432/postgres")
    log_format: Literal["json", "console"] = Field("json", description="json in production")
    log_level: str = "INFO"
    http_host: str = "0.0.0.0"
    http_port: int = 8000
    # Far above any command body (an initiative with 50 authors is ~20 KB); larger ones get 413.
    http_max_body_bytes: int = 256 * 1024
    db_schema: str = Field("", description="PostgreSQL schema owned by this service")
    db_pool_min: int = 1
    db_pool_max: int = 10

    # Producer (outbox relay and dead-lettering). tansu rejects the idempotent producer, so it
    # is a setting; Apache Kafka deployments should turn it on.
    producer_acks: Literal["all", "1", "0"] = "all"
    producer_idempotence: bool = False
    producer_linger_ms: int = 5
    producer_max_batch_bytes: int = 256 * 1024
    producer_compression: Literal["none", "gzip", "lz4", "snappy", "zstd"] = "lz4"
    # Largest request the producer sends (Kafka's default broker limit is about 1 MiB); a dead
    # letter whose value would not fit is replaced by its digest and first bytes.
    producer_max_request_bytes: int = 1024 * 1024

    # Consumer. A (re)join costs session_timeout/2; request_timeout must exceed that or joins
    # retry forever; fetch_max_wait bounds delivery latency.
    consumer_group: str = ""
    # Larger batches amortise the per-batch costs (commit, round trips): measured 40k records/s
    # through the subscriber at 500 and 91k at 2,000. Idle periods still deliver small batches.
    consumer_max_records: int = 2000
    consumer_batch_timeout_ms: int = 50
    # Transactions a batch is applied in, side by side, each over whole partitions (a batch of
    # fewer than 200 records or of one partition is one transaction). More than one lets the
    # database work on several cores; it needs as many pool connections.
    consumer_apply_connections: int = 1
    # PostgreSQL's plan_cache_mode in the batches' transactions (SET LOCAL, sent with BEGIN);
    # empty keeps the server's. force_generic_plan plans each statement once per connection
    # instead of once per batch (runtime.batch_transaction).
    consumer_plan_cache_mode: PlanCacheMode = ""
    consumer_fetch_max_wait_ms: int = 50
    # After a batch is delivered, wait up to this long for the fetch its delivery starts and
    # add what it brings (0: never). Without it, what was published while the previous batch
    # was applied waits for one batch more (subscription._top_up).
    consumer_top_up_ms: int = 0
    consumer_session_timeout_ms: int = 10_000
    consumer_heartbeat_interval_ms: int = 1_000
    consumer_request_timeout_ms: int = 40_000
    consumer_max_poll_interval_ms: int = 300_000
    consumer_auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    consumer_max_attempts: int = 4
    consumer_retry_backoff_ms: int = 200
    consumer_retry_backoff_max_ms: int = 5_000
    # Readiness fails when a partition's batches have failed for this long without a success.
    consumer_stall_after_ms: int = 30_000
    # Applied event ids are kept this long (redelivery happens within minutes; see retention.py).
    inbox_retention_hours: float = 168.0
    inbox_prune_interval_s: float = 600.0

    # Directory reads (runtime.directory): an API process consumes no org events, so its cached
    # answers expire after this many seconds (0: no cache); at most this many are kept.
    directory_cache_seconds: float = 5.0
    directory_cache_size: int = 100_000

    # Outbox relay.
    relay_batch_size: int = 500
    relay_poll_interval_ms: int = 200
    # Rows of a transaction open longer than this stop holding back the rows committed after it.
    relay_max_commit_wait_ms: int = 5_000
    # Batches handed to the producer while earlier ones await Kafka's acks (the pipeline).
    relay_max_in_flight_batches: int = 8
    # Health: failing after this many failed attempts in a row, or when, as leader, rows have
    # waited longer than relay_stalled_after_ms while nothing was published for as long.
    relay_failing_after_errors: int = 3
    relay_stalled_after_ms: int = 30_000
    # How often the leader measures the backlog for the outbox gauges (one bounded query).
    relay_backlog_check_interval_ms: int = 5_000

    # Bearer tokens (tokens.py). The keys come from an OIDC issuer's JWKS URL (Keycloak:
    # https://<host>/realms/<realm>/protocol/openid-connect/certs) or a JWKS file (what
    # `thidua up` writes); neither set means no token can be verified.
    auth_jwks_url: str = ""
    auth_jwks_file: str = ""
    auth_issuer: str = "thidua-local"  # the `iss` a token must carry
    auth_audience: str = "thidua"  # a value its `aud` must hold
    auth_leeway_seconds: float = Field(30.0, ge=0)  # clock skew tolerated on exp, nbf and iat
    # Comma-separated or a JSON list, e.g. `AUTH_ALGORITHMS=EdDSA,RS256`.
    auth_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["EdDSA", "ES256", "RS256"])
    # The key set is reloaded this often; a token naming an unknown `kid` reloads it at once,
    # but not sooner than auth_jwks_min_refresh_seconds after the previous load.
    auth_jwks_refresh_seconds: float = Field(300.0, gt=0)
    auth_jwks_min_refresh_seconds: float = Field(30.0, ge=0)

    @field_validator("auth_algorithms", mode="before")
    @classmethod
    def _algorithms_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("auth_algorithms")
    @classmethod
    def _only_asymmetric_algorithms(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one signature algorithm")
        refused = [name for name in value if name not in ASYMMETRIC_ALGORITHMS]
        if refused:
            raise ValueError(
                f"{', '.join(map(repr, refused))} refused: tokens must be signed with an asymmetric "
                f"algorithm, one of {', '.join(sorted(ASYMMETRIC_ALGORITHMS))} (never `none` or "
                "HS*, whose shared secret would let anyone who verifies also mint)")
        return list(dict.fromkeys(value))

    @field_validator("auth_jwks_url")
    @classmethod
    def _jwks_url_is_http(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("the JWKS URL must start with https:// (or http:// on a trusted network)")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> ServiceSettings:
        if self.auth_jwks_url and self.auth_jwks_file:
            raise ValueError("set either AUTH_JWKS_URL or AUTH_JWKS_FILE, not both")
        return self

    @property
    def group_id(self) -> str:
        return self.consumer_group or f"thidua-{self.service_name}"

    @property
    def client_id(self) -> str:
        return f"thidua-{self.service_name}"

    @classmethod
    def from_env(cls, **overrides: Any) -> ServiceSettings:
        """Read settings: `<PREFIX>X` first, then the unprefixed shared `X` for infrastructure.

        A secret may come from a file instead (`DATABASE_URL_FILE`, or prefixed), as Docker
        and Kubernetes secrets are mounted: the value never sits in the environment."""
        prefix = cls.model_config.get("env_prefix", "")
        shared = {
            name: os.environ[name.upper()]
            for name in SHARED_FIELDS
            if f"{prefix}{name}".upper() not in os.environ and name.upper() in os.environ
        }
        for name in SECRET_FIELDS:
            if f"{prefix}{name}".upper() in os.environ or name in shared:
                continue
            for variable in (f"{prefix}{name}_file".upper(), f"{name}_file".upper()):
                if os.environ.get(variable):
                    shared[name] = _read_secret(variable, os.environ[variable])
                    break
        return cls(**{**shared, **overrides})


def _read_secret(variable: str, path: str) -> str:
    try:
        return open(path, encoding="utf-8").read().strip()
    except OSError as exc:
        raise ValueError(f"{variable}={path}: cannot read the secret ({exc.strerror})") from None
