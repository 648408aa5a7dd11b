"""One initiative's trace: spans in all four services, each its own process, received by OTLP."""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest

from services.ops.consumer_replay import ReplayPlan, replay_consumer
from services.registry import SERVICES
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.ports import free_base_port

pytestmark = pytest.mark.integration

SERVER, CONSUMER = 2, 5  # OTLP span kinds


async def start_at_the_end(infrastructure, own: dict[str, str]) -> None:
    now = datetime.now(UTC)

    async def one(entry):
        settings_cls = getattr(importlib.import_module(entry.settings_module),
                               entry.settings_class)
        settings = settings_cls(kafka_bootstrap_servers=infrastructure.kafka_bootstrap_servers,
                                database_url=infrastructure.database_url,
                                consumer_group=own[f"{entry.env_prefix}CONSUMER_GROUP"])
        definition = importlib.import_module(entry.app_module).definition(settings)
        await replay_consumer(infrastructure.kafka_bootstrap_servers, None, definition,
                              ReplayPlan(entry.name, tuple(t.name for t in definition.consumes),
                                         since=now), io.StringIO())

    await asyncio.gather(*(one(entry) for entry in SERVICES))


def test_one_initiatives_trace_has_spans_in_all_four_services_and_its_logs_name_it(
    infrastructure,
):
    # Schemas of its own (the session's database may already hold a demo's tree), and groups
    # of its own that start at the end of the topics, past earlier runs' events about the
    # demo's member (set by `thidua replay --since`, as an operator would).
    unique = uuid.uuid4().hex[:8]
    own = {}
    for entry in SERVICES:
        own[f"{entry.env_prefix}DB_SCHEMA"] = f"{entry.name}_traced_{unique}"
        own[f"{entry.env_prefix}CONSUMER_GROUP"] = f"thidua-{entry.name}-traced-{unique}"
    asyncio.run(start_at_the_end(infrastructure, own))
    with OtlpReceiver() as receiver:
        env = os.environ | own | {
            "KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
            "DATABASE_URL": infrastructure.database_url,
            "LOG_FORMAT": "json",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            # The trace followed is the submission's: on a loaded machine its notification
            # may take longer than the skeleton's usual wait before the review.
            "THIDUA_DEMO_SUBMISSION_GRACE_S": "60",
            # ...and leave the review's notification time of its own after that grace.
            "THIDUA_DEMO_TIMEOUT_S": "240",
        }
        done = subprocess.run(  # noqa: PLW1510 - the exit code is asserted with the output
            [sys.executable, "-m", "services.devstack.cli", "up", "--demo", "--skeleton-only",
             "--exit-after-demo", "--base-port", str(free_base_port())],
            # Four service processes start and the skeleton's flow runs (its notification may
            # take 60 s): a bound on a hang, not on a loaded machine's pace.
            env=env, capture_output=True, text=True, timeout=400,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    correlation_id = re.search(r"correlationid=([0-9a-f-]{36})", done.stdout).group(1)
    consumed = [s for s in receiver.spans
                if s.attributes.get("thidua.correlation_id") == correlation_id]
    assert consumed, f"no span of correlationid {correlation_id} among {len(receiver.spans)}"
    trace_ids = {s.trace_id for s in consumed}
    assert len(trace_ids) == 1, "the flow's events all continue one trace"
    trace = receiver.trace(trace_ids.pop())

    assert {s.service for s in trace} == {"registration", "scoring", "awards", "notify"}
    (request,) = [s for s in trace if s.kind == SERVER and s.parent_span_id == ""]
    assert (request.service, request.name) == ("registration", "POST /initiatives")
    by_id = {s.span_id: s for s in trace}
    # Each hop's consumer span descends from the span that staged the event it applies.
    hops = {}
    for span in trace:
        if span.kind == CONSUMER:
            parent = by_id[span.parent_span_id]
            hops[span.service, span.attributes["cloudevents.event_type"]] = parent.service
    assert hops[("scoring", "thidua.initiative.submitted.v1")] == "registration"
    assert hops[("awards", "thidua.score.changed.v1")] == "scoring"
    assert hops.get(("notify", "thidua.award.eligibility_changed.v1")) == "awards", hops

    # The correlation id and the trace id stand together in the services' log lines.
    logged = [json.loads(line) for line in done.stderr.splitlines()
              if correlation_id in line and line.startswith("{")]
    traced = {(line["service"], line.get("trace_id")) for line in logged if "trace_id" in line}
    # The request's lines always; a consumer's when the event was alone in its batch (a batch
    # of several events' flows logs their correlation ids outside any one trace).
    assert "registration" in {service for service, _ in traced}, traced
    assert {trace_id for _, trace_id in traced} == {request.trace_id}
