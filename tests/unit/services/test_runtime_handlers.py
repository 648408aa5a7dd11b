"""Registering handlers: the annotation says what a handler takes; the registry derives topics."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from contracts import CloudEvent, EventData
from contracts.events.initiatives import InitiativeReviewed, InitiativeSubmitted
from contracts.events.scores import ScoreChanged
from contracts.topics import INITIATIVES, SCORES
from services.runtime.context import Context
from services.runtime.handlers import HandlerDeclarationError, Handlers, payload_or_event
from tests.support.events import initiative_submitted


def test_a_handler_annotated_with_an_envelope_takes_the_event():
    handlers = Handlers()

    @handlers.on
    async def on_submitted(ctx: Context, event: CloudEvent[InitiativeSubmitted]) -> None: ...

    registered = handlers.get("thidua.initiative.submitted.v1")
    assert (registered.data_model, registered.takes, registered.fn) == (
        InitiativeSubmitted, "event", on_submitted)
    assert not registered.is_batch


def test_a_handler_annotated_with_a_payload_takes_the_data_alone():
    handlers = Handlers()

    @handlers.on
    async def on_submitted(ctx: Context, initiative: InitiativeSubmitted) -> None: ...

    registered = handlers.get("thidua.initiative.submitted.v1")
    assert registered.takes == "data"
    event = initiative_submitted()
    assert payload_or_event(registered, event) is event.data


def test_a_batch_handler_annotated_with_a_list_of_envelopes_takes_the_batch():
    handlers = Handlers()

    @handlers.batch
    async def on_scores(ctx: Context, events: list[CloudEvent[ScoreChanged]]) -> None: ...

    registered = handlers.get("thidua.score.changed.v1")
    assert (registered.data_model, registered.takes) == (ScoreChanged, "batch")
    assert registered.is_batch


def test_a_batch_handler_may_declare_a_sequence_of_envelopes():
    handlers = Handlers()

    @handlers.batch
    async def on_scores(ctx: Context, events: Sequence[CloudEvent[ScoreChanged]]) -> None: ...

    assert handlers.get("thidua.score.changed.v1").is_batch


def test_registering_returns_the_function_itself_so_it_stays_callable():
    handlers = Handlers()

    async def on_submitted(ctx: Context, event: CloudEvent[InitiativeSubmitted]) -> None: ...

    assert handlers.on(on_submitted) is on_submitted


def test_a_handler_without_an_annotation_is_refused_naming_the_parameter():
    async def on_submitted(ctx: Context, event) -> None: ...

    with pytest.raises(HandlerDeclarationError, match="on_submitted: annotate 'event'"):
        Handlers().on(on_submitted)


@pytest.mark.parametrize("annotation", [str, CloudEvent, EventData, dict[str, InitiativeSubmitted]])
def test_a_handler_annotated_with_something_other_than_an_event_type_is_refused(annotation):
    async def on_something(ctx, event) -> None: ...

    on_something.__annotations__ = {"ctx": Context, "event": annotation}
    with pytest.raises(HandlerDeclarationError, match="as CloudEvent\\[Payload\\] or Payload"):
        Handlers().on(on_something)


def test_a_handler_taking_other_than_two_parameters_is_refused():
    async def on_submitted(event: CloudEvent[InitiativeSubmitted]) -> None: ...

    with pytest.raises(HandlerDeclarationError, match="must take \\(ctx, event\\)"):
        Handlers().on(on_submitted)


def test_a_batch_handler_annotated_with_a_single_envelope_is_refused():
    async def on_scores(ctx: Context, event: CloudEvent[ScoreChanged]) -> None: ...

    with pytest.raises(HandlerDeclarationError, match="takes list\\[CloudEvent\\[Payload\\]\\]"):
        Handlers().batch(on_scores)


def test_a_batch_handler_annotated_with_a_list_of_payloads_is_refused():
    async def on_scores(ctx: Context, changes: list[ScoreChanged]) -> None: ...

    with pytest.raises(HandlerDeclarationError, match="takes list\\[CloudEvent\\[Payload\\]\\]"):
        Handlers().batch(on_scores)


def test_a_type_registered_twice_is_refused_naming_the_first_handler():
    handlers = Handlers()

    @handlers.on
    async def first(ctx: Context, event: CloudEvent[InitiativeSubmitted]) -> None: ...

    async def second(ctx: Context, events: list[CloudEvent[InitiativeSubmitted]]) -> None: ...

    with pytest.raises(HandlerDeclarationError, match=r"submitted\.v1 already handled by .*first"):
        handlers.batch(second)
    assert handlers.get("thidua.initiative.submitted.v1").fn is first


def test_topics_follow_from_the_handled_types_each_once_in_registration_order():
    handlers = Handlers()

    @handlers.batch
    async def on_scores(ctx: Context, events: list[CloudEvent[ScoreChanged]]) -> None: ...

    @handlers.on
    async def on_submitted(ctx: Context, event: CloudEvent[InitiativeSubmitted]) -> None: ...

    @handlers.on
    async def on_reviewed(ctx: Context, review: InitiativeReviewed) -> None: ...

    assert handlers.topics == (SCORES, INITIATIVES)
    assert handlers.event_types == ("thidua.score.changed.v1", "thidua.initiative.submitted.v1",
                                    "thidua.initiative.reviewed.v1")
    assert len(handlers) == 3
    assert "thidua.initiative.reviewed.v1" in handlers
    assert "thidua.work.registered.v1" not in handlers


def test_an_empty_registry_consumes_no_topic():
    assert Handlers().topics == ()


def test_combined_registries_hold_both_handlers_and_consume_both_topics():
    service, runtime = Handlers(), Handlers()

    @service.batch
    async def on_submitted(ctx: Context, events: list[CloudEvent[InitiativeSubmitted]]) -> None: ...

    @runtime.on
    async def on_scores(ctx: Context, event: CloudEvent[ScoreChanged]) -> None: ...

    combined = service.including(runtime)
    assert combined.event_types == ("thidua.initiative.submitted.v1", "thidua.score.changed.v1")
    assert combined.topics == (INITIATIVES, SCORES)
    assert combined.get("thidua.score.changed.v1").fn is on_scores
    assert combined.get("thidua.initiative.submitted.v1").is_batch
    # Neither registry changes.
    assert (service.event_types, runtime.event_types) == (
        ("thidua.initiative.submitted.v1",), ("thidua.score.changed.v1",))


def test_combining_with_an_empty_registry_keeps_the_handlers():
    service = Handlers()

    @service.on
    async def on_submitted(ctx: Context, event: CloudEvent[InitiativeSubmitted]) -> None: ...

    assert Handlers().including(service).event_types == service.event_types
    assert service.including(Handlers()).event_types == service.event_types
    assert not Handlers().including(Handlers())


def test_combining_registries_that_both_handle_a_type_is_refused():
    service, runtime = Handlers(), Handlers()

    @service.on
    async def service_on_scores(ctx: Context, event: CloudEvent[ScoreChanged]) -> None: ...

    @runtime.batch
    async def runtime_on_scores(ctx: Context, events: list[CloudEvent[ScoreChanged]]) -> None: ...

    with pytest.raises(HandlerDeclarationError, match="thidua.score.changed.v1 already handled"):
        service.including(runtime)
