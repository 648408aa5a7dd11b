import json
import logging

import pytest
import structlog

from services.runtime.logs import bind_event, configure_logging, unbind_event


@pytest.fixture(autouse=True)
def restore_logging():
    handlers = logging.getLogger().handlers[:]
    config = structlog.get_config()
    yield
    logging.getLogger().handlers = handlers
    structlog.configure(**config)


def test_json_lines_carry_the_service_and_the_events_correlation_id(capsys):
    configure_logging("scoring", "json", "INFO")
    bind_event("e-1", "thidua.initiative.submitted.v1", "corr-42", topic="thidua.initiatives.v1")
    structlog.get_logger().info("score_recorded", unit_id="u-dongda-0001")
    logging.getLogger("aiokafka").warning("library warning")
    unbind_event()
    structlog.get_logger().info("after")
    ours, library, after = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert ours["event"] == "score_recorded" and ours["correlationid"] == "corr-42"
    assert (ours["service"], ours["event_id"], ours["level"]) == ("scoring", "e-1", "info")
    assert library["logger"] == "aiokafka" and library["correlationid"] == "corr-42"
    assert "correlationid" not in after


def test_debug_lines_are_dropped_below_the_configured_level(capsys):
    configure_logging("notify", "json", "INFO")
    structlog.get_logger().debug("noise")
    assert capsys.readouterr().err == ""
