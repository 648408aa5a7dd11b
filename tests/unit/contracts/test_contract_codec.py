"""Building, encoding and decoding CloudEvents; every bad record gets a code and a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts import (
    CloudEvent,
    EventData,
    EventDecodeError,
    decode_event,
    encode_event,
    new_event,
)
from contracts.events import InitiativeAuthor, InitiativeSubmitted, ScoreChanged


def _submitted(**changes) -> InitiativeSubmitted:
    fields = {
        "initiative_id": "i-dongda-2025-00421",
        "campaign_id": "c-dongda-2025",
        "phase_id": "p-dongda-2025-1",
        "unit_id": "u-dongda-0001",
        "title": "Ứng dụng học liệu số trong dạy học hình học lớp 8",
        "field": "giáo dục",
        "authors": [InitiativeAuthor(member_id="m-1", full_name="Nguyễn Thị Thu Hà",
                                  direct_worker=False)],
        "claimed_benefit_vnd": 45_000_000,
        "submitted_at": datetime(2025, 5, 12, 3, 15, tzinfo=UTC),
    }
    return InitiativeSubmitted(**(fields | changes))


def _event() -> CloudEvent:
    return new_event(_submitted(), source="/thidua/registration", district="u-dongda")


def _raw(**envelope_changes) -> bytes:
    body = json.loads(encode_event(_event()))
    body.update(envelope_changes)
    return json.dumps(body).encode()


def test_a_new_event_gets_a_uuid_id_the_data_type_and_an_aware_utc_time():
    event = _event()
    assert len(event.id) == 36 and event.type == "thidua.initiative.submitted.v1"
    assert event.time.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - event.time) < timedelta(seconds=5)


def test_a_first_event_correlates_with_itself_and_a_caused_one_keeps_the_flow():
    first = _event()
    caused = new_event(_submitted(), source="/x", district=None,
                       correlation_id=first.correlationid, causation_id=first.id)
    assert first.correlationid == first.id and first.causationid is None
    assert caused.correlationid == first.id and caused.causationid == first.id


def test_encoding_then_decoding_keeps_the_id_and_every_field():
    event = _event()
    decoded = decode_event(encode_event(event))
    assert decoded == event
    assert decoded.id == event.id and isinstance(decoded.data, InitiativeSubmitted)


def test_the_record_value_is_compact_utf8_json_without_null_envelope_attributes():
    raw = encode_event(_event())
    assert b": " not in raw and "giáo dục".encode() in raw
    assert "subject" not in json.loads(raw) and "causationid" not in json.loads(raw)


def test_points_travel_as_exact_decimal_strings_and_numbers_are_accepted_too():
    score = ScoreChanged(unit_id="u", campaign_id="c", phase_id="p", subject_kind="unit",
                         subject_id="u", points_delta=Decimal("0.1"), total_points=Decimal("1E+2"),
                         reason="participation", source_event_id="e")
    body = json.loads(encode_event(new_event(score, source="/thidua/scoring", district=None)))
    assert (body["data"]["points_delta"], body["data"]["total_points"]) == ("0.1", "100")
    body["data"]["points_delta"] = 2.5
    assert decode_event(json.dumps(body).encode()).data.points_delta == Decimal("2.5")


def test_unknown_fields_are_ignored_by_the_tolerant_reader():
    body = json.loads(_raw(traceparent="00-abc"))
    body["data"]["added_later"] = 1
    assert decode_event(json.dumps(body).encode()).data == _submitted()


def _decode_error(raw: bytes | None) -> EventDecodeError:
    with pytest.raises(EventDecodeError) as caught:
        decode_event(raw)
    return caught.value


def test_bytes_that_are_not_json_are_rejected_as_not_json():
    assert _decode_error(b"\xff\xfenot json").code == "not_json"


def test_a_record_without_a_value_is_rejected_as_not_json():
    assert _decode_error(None).code == "not_json"


@pytest.mark.parametrize("raw", [b"[1, 2]", b'{"id": "1"}', b'{"type": "thidua.x.v1"}'])
def test_json_that_is_not_a_cloudevent_is_rejected_as_not_cloudevent(raw):
    assert _decode_error(raw).code == "not_cloudevent"


def test_a_missing_envelope_attribute_is_named_in_the_reason():
    body = json.loads(_raw())
    del body["time"]
    error = _decode_error(json.dumps(body).encode())
    assert (error.code, error.reason) == ("not_cloudevent", "time: Field required")


def test_a_naive_event_time_is_rejected():
    assert _decode_error(_raw(time="2025-05-12T10:15:00")).code == "not_cloudevent"


def test_an_unknown_type_is_rejected_as_unknown_type():
    error = _decode_error(_raw(type="thidua.initiative.submitted.v9"))
    assert error.code == "unknown_type" and "thidua.initiative.submitted.v9" in error.reason


def test_invalid_data_is_rejected_with_a_reason_naming_the_field():
    body = json.loads(_raw())
    body["data"]["claimed_benefit_vnd"] = -5
    del body["data"]["authors"][0]["member_id"]
    error = _decode_error(json.dumps(body).encode())
    assert error.code == "invalid_data"
    assert "data.claimed_benefit_vnd" in error.reason
    assert "data.authors.0.member_id" in error.reason


def test_data_of_another_type_is_rejected_as_invalid_data():
    assert _decode_error(_raw(type="thidua.score.changed.v1")).code == "invalid_data"


def test_the_decode_error_is_a_value_error_carrying_code_and_reason_in_its_message():
    error = _decode_error(b"{")
    assert isinstance(error, ValueError) and str(error).startswith("not_json: ")


def test_an_envelope_whose_type_disagrees_with_its_data_model_cannot_be_built():
    with pytest.raises(ValueError, match="does not match"):
        CloudEvent[InitiativeSubmitted](
            id="1", source="/s", type="thidua.score.changed.v1", time=datetime.now(UTC),
            data=_submitted(), correlationid="1",
        )


def test_an_envelope_typed_with_the_base_payload_still_encodes_every_data_field():
    event = _event()
    loose = CloudEvent[EventData](**{name: getattr(event, name) for name in type(event).model_fields})
    assert json.loads(encode_event(loose))["data"]["claimed_benefit_vnd"] == 45_000_000
