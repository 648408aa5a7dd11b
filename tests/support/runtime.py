"""Settings for services under test: their own schemas and groups per test session."""

from __future__ import annotations

import uuid

from tests.support.identity import auth_settings

RUN_ID = uuid.uuid4().hex[:8]


def test_settings(settings_cls, infrastructure, name: str, **overrides):
    """Service settings pointing at the session's infrastructure, isolated by a run id.

    A fresh schema and consumer group per session keep repeated runs against a long-lived
    external broker and database from seeing each other's state.
    """
    return settings_cls(
        kafka_bootstrap_servers=infrastructure.kafka_bootstrap_servers,
        database_url=infrastructure.database_url,
        log_format="console",
        db_schema=f"{name}_{RUN_ID}",
        consumer_group=f"thidua-{name}-{RUN_ID}",
        consumer_session_timeout_ms=6000,
        consumer_heartbeat_interval_ms=500,
        consumer_retry_backoff_ms=20,
        consumer_retry_backoff_max_ms=100,
        relay_poll_interval_ms=50,
        **auth_settings(),
        **overrides,
    )
