"""The handler contract: what a service author writes for each event type it consumes.

A handler is an async function of a `Context` and what it takes, declared by its annotation:

    handlers = Handlers()

    @handlers.on
    async def on_initiative_reviewed(ctx: Context[Repo], event: CloudEvent[InitiativeReviewed]): ...

    @handlers.on                      # the payload alone; ctx.event is its envelope
    async def on_unit_registered(ctx: Context[Repo], unit: UnitRegistered): ...

    @handlers.batch                   # every fresh event of the type in the batch, in order
    async def on_score_changed(ctx: Context[Repo], events: list[CloudEvent[ScoreChanged]]): ...

The registry is the service's one list: it gives the consumer its dispatch map and, from each
payload type's topic, the topics to subscribe to.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from contracts import CloudEvent, EventData, Topic

# What a handler receives as its second argument.
Takes = Literal["event", "data", "batch"]


class HandlerDeclarationError(TypeError):
    """A handler whose annotation does not say which event type it takes."""


@dataclass(frozen=True)
class Registered:
    event_type: str
    data_model: type[EventData]
    takes: Takes
    fn: Callable[..., Awaitable[None]]

    @property
    def topic(self) -> Topic:
        return self.data_model.topic

    @property
    def is_batch(self) -> bool:
        return self.takes == "batch"


class Handlers:
    """One registry per service: event type → handler, and the topics that follow from it."""

    def __init__(self) -> None:
        self._by_type: dict[str, Registered] = {}

    def on(self, fn: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """Register a handler called once per fresh event."""
        model, takes = _declared_input(fn, batch=False)
        return self._add(Registered(model.event_type, model, takes, fn))

    def batch(self, fn: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """Register a handler called with every fresh event of its type in the batch."""
        model, takes = _declared_input(fn, batch=True)
        return self._add(Registered(model.event_type, model, takes, fn))

    def _add(self, registered: Registered) -> Callable[..., Awaitable[None]]:
        existing = self._by_type.get(registered.event_type)
        if existing is not None:
            raise HandlerDeclarationError(
                f"{registered.event_type} already handled by {existing.fn.__qualname__}"
            )
        self._by_type[registered.event_type] = registered
        return registered.fn

    def including(self, *others: Handlers) -> Handlers:
        """A new registry holding this one's handlers and then each of `others`'.

        How the runtime adds its own handlers (the directory projection) to a service's: an
        event type registered in two of them raises `HandlerDeclarationError`, as a type
        registered twice in one registry does. Neither registry is changed.
        """
        combined = Handlers()
        for registry in (self, *others):
            for registered in registry:
                combined._add(registered)
        return combined

    def get(self, event_type: str) -> Registered | None:
        return self._by_type.get(event_type)

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._by_type

    def __iter__(self):
        return iter(self._by_type.values())

    def __len__(self) -> int:
        return len(self._by_type)

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(self._by_type)

    @property
    def topics(self) -> tuple[Topic, ...]:
        """The topics to consume, each once, in the order handlers were registered."""
        return tuple({r.topic.name: r.topic for r in self._by_type.values()}.values())


def _declared_input(fn: Callable[..., Any], *, batch: bool) -> tuple[type[EventData], Takes]:
    params = list(inspect.signature(fn).parameters)
    if len(params) != 2:
        raise HandlerDeclarationError(
            f"{fn.__qualname__} must take (ctx, event) — it takes {tuple(params)}"
        )
    try:
        hint = typing.get_type_hints(fn)[params[1]]
    except KeyError:
        raise HandlerDeclarationError(
            f"{fn.__qualname__}: annotate {params[1]!r} with the event type it takes"
        ) from None
    except NameError as exc:  # e.g. an annotation imported only under TYPE_CHECKING
        raise HandlerDeclarationError(
            f"{fn.__qualname__}: its annotations must be importable at run time ({exc})"
        ) from None
    if batch:
        if typing.get_origin(hint) not in (list, Sequence, tuple):
            raise HandlerDeclarationError(
                f"{fn.__qualname__}: a batch handler takes list[CloudEvent[Payload]], got {hint}"
            )
        (item,) = typing.get_args(hint)[:1]
        model = _payload_of_envelope(item)
        if model is None:
            raise HandlerDeclarationError(
                f"{fn.__qualname__}: a batch handler takes list[CloudEvent[Payload]], got {hint}"
            )
        return model, "batch"
    model = _payload_of_envelope(hint)
    if model is not None:
        return model, "event"
    if isinstance(hint, type) and issubclass(hint, EventData) and hasattr(hint, "event_type"):
        return hint, "data"
    raise HandlerDeclarationError(
        f"{fn.__qualname__}: annotate {params[1]!r} as CloudEvent[Payload] or Payload, got {hint}"
    )


def _payload_of_envelope(hint: Any) -> type[EventData] | None:
    metadata = getattr(hint, "__pydantic_generic_metadata__", None)
    if not metadata or metadata.get("origin") is not CloudEvent or not metadata.get("args"):
        return None
    model = metadata["args"][0]
    if isinstance(model, type) and issubclass(model, EventData) and hasattr(model, "event_type"):
        return model
    return None


def payload_or_event(registered: Registered, event: CloudEvent) -> Any:
    """What a per-event handler receives: the envelope or its payload, as it declared."""
    return event.data if registered.takes == "data" else event
