"""Dead-letter headers: the original record's headers kept, the reasons added under a prefix."""

from __future__ import annotations

from datetime import datetime

from aiokafka.structs import ConsumerRecord

from contracts.topics import DLQ_HEADER_PREFIX
from services.runtime.dead_letters import HEADER_PREFIX, Rejection, dead_letter_headers


def record(headers=(("content-type", b"application/cloudevents+json"),)) -> ConsumerRecord:
    return ConsumerRecord(topic="thidua.initiatives.v1", partition=7, offset=1234,
                          timestamp=0, timestamp_type=0, key=b"u-1", value=b"{not json",
                          checksum=None, serialized_key_size=3, serialized_value_size=9,
                          headers=headers)


def test_dead_letter_headers_keep_the_original_headers_first():
    rejection = Rejection(record(), "not_json", "bad")
    headers = dead_letter_headers(rejection, "thidua-scoring", "scoring")
    assert headers[0] == ("content-type", b"application/cloudevents+json")


def test_dead_letter_headers_say_who_rejected_the_record_why_and_where_it_was():
    headers = dict(dead_letter_headers(
        Rejection(record(), "not_json", "value is not UTF-8 JSON"), "thidua-scoring", "scoring"))
    assert headers["thidua-dlq-reason-code"] == b"not_json"
    assert headers["thidua-dlq-reason"] == b"value is not UTF-8 JSON"
    assert headers["thidua-dlq-consumer-group"] == b"thidua-scoring"
    assert headers["thidua-dlq-service"] == b"scoring"
    assert headers["thidua-dlq-original-topic"] == b"thidua.initiatives.v1"
    assert headers["thidua-dlq-original-partition"] == b"7"
    assert headers["thidua-dlq-original-offset"] == b"1234"
    assert datetime.fromisoformat(headers["thidua-dlq-failed-at"].decode()).tzinfo is not None


def test_every_added_header_carries_the_prefix_integrators_are_told_about():
    assert HEADER_PREFIX == DLQ_HEADER_PREFIX
    headers = dead_letter_headers(Rejection(record(headers=()), "x", "y"), "g", "s")
    assert len(headers) == 8
    assert all(name.startswith(DLQ_HEADER_PREFIX) for name, _ in headers)


def test_a_record_without_headers_still_gets_the_reasons():
    names = [n for n, _ in dead_letter_headers(Rejection(record(headers=None), "x", "y"), "g", "s")]
    assert "thidua-dlq-reason-code" in names


def test_a_long_reason_is_cut_to_two_thousand_characters():
    headers = dict(dead_letter_headers(Rejection(record(), "handler_failed", "é" * 5000), "g", "s"))
    assert headers["thidua-dlq-reason"].decode() == "é" * 2000
