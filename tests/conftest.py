"""Shared fixtures: one broker and one database per test session, started only when asked for.

They come from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, else testcontainers where Docker answers,
else the embedded tansu broker and PostgreSQL (see services/devstack/infrastructure.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from services.devstack.blocking import run_blocking
from services.devstack.infrastructure import Infrastructure, provide_infrastructure
from services.devstack.topics import all_topic_specs, ensure_topics

# Property tests carry no time limit per example (Hypothesis's default is 200 ms): a busy machine
# that deschedules the process for a moment would fail an example that is correct, and a
# rerun within the limit is then reported as flaky. pytest-timeout still bounds a hang.
settings.register_profile("thidua", deadline=None)
settings.load_profile("thidua")


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Every test leaves os.environ as it found it. `thidua scoring --role worker` run in-process
    sets SCORING_ROLE, and a monkeypatch.delenv of a variable that was not set undoes nothing:
    every later test's scoring then served no API, in whatever order the tests ran."""
    saved = dict(os.environ)
    yield
    # Only what changed, so a thread still running (a service's) never sees the rest vanish.
    for name in set(os.environ) - set(saved):
        del os.environ[name]
    for name, value in saved.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


@pytest.fixture(scope="session")
def topic_specs() -> list[tuple[str, int]]:
    """Every topic of the contracts' registry with its dead-letter topic."""
    return all_topic_specs()


@pytest.fixture(scope="session")
def infrastructure(topic_specs) -> Iterator[Infrastructure]:
    # Its own temporary directory, not pytest's: run as root, embedded PostgreSQL works as
    # another user, and any pytest session that starts meanwhile resets /tmp/pytest-of-root to
    # 0700, which locked that user out of its data directory (initdb "Permission denied").
    with provide_infrastructure() as infra:
        run_blocking(ensure_topics(infra.kafka_bootstrap_servers, topic_specs))
        yield infra


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(infrastructure: Infrastructure) -> str:
    return infrastructure.kafka_bootstrap_servers


@pytest.fixture(scope="session")
def database_url(infrastructure: Infrastructure) -> str:
    return infrastructure.database_url
