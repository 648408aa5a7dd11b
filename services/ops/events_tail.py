"""`thidua events tail <topic>`: a topic's CloudEvents, readable, for operators and integrators.

It reads without a consumer group — it assigns itself every partition of the topic — so it
commits nothing, disturbs no service's group and needs no group join (on the embedded broker a
join takes half the session timeout). Records that are not CloudEvents JSON are shown as what
they are, never skipped: a dead-letter topic can be tailed like any other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from aiokafka.structs import ConsumerRecord

from .topic_reader import reading


@dataclass
class TailOptions:
    topic: str
    bootstrap_servers: str
    from_beginning: bool = False
    follow: bool = True
    types: frozenset[str] = frozenset()
    district: str | None = None
    limit: int | None = None
    output: str = "pretty"  # or "json": one JSON document per line, for jq
    headers: bool = False
    on_ready: Callable[[], None] | None = field(default=None, repr=False)


async def tail(options: TailOptions, out: TextIO) -> int:
    """Print the topic's events as the options say; return how many were printed."""
    async with reading(options.bootstrap_servers, options.topic,
                       from_beginning=options.from_beginning,
                       client_id="thidua-events-tail") as reader:
        if options.on_ready:
            options.on_ready()
        printed = 0
        while options.limit is None or printed < options.limit:
            records = await reader.poll()
            for record in records:
                shown = render(record, options)
                if shown is None:
                    continue
                out.write(shown + "\n")
                out.flush()
                printed += 1
                if options.limit is not None and printed >= options.limit:
                    break
            if not records and not options.follow and await reader.at_end():
                break
        return printed


def render(record: ConsumerRecord, options: TailOptions) -> str | None:
    """The record as a line (json) or a short block (pretty); None when filtered out."""
    try:
        event: dict[str, Any] | None = json.loads(record.value)
        if not isinstance(event, dict):
            event = None
    except (TypeError, ValueError):
        event = None
    kind = event.get("type") if event else None
    if options.types and kind not in options.types:
        return None
    if options.district and (not event or event.get("district") != options.district):
        return None
    key = record.key.decode("utf-8", "replace") if record.key else None
    headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}
    if options.output == "json":
        document = {"topic": record.topic, "partition": record.partition,
                    "offset": record.offset, "key": key,
                    "event": event if event is not None else None}
        if event is None:
            document["value"] = _raw(record.value)
        if options.headers:
            document["headers"] = headers
        return json.dumps(document, ensure_ascii=False)
    where = f"{record.topic}[{record.partition}]@{record.offset}  key={key}"
    if event is None:
        return f"{where}\n  (not a CloudEvent) {_raw(record.value)}"
    lines = [f"{event.get('time', '?')}  {kind}  subject={event.get('subject')}  "
             f"district={event.get('district')}",
             f"  {where}  id={event.get('id')}",
             f"  correlationid={event.get('correlationid')}  "
             f"causationid={event.get('causationid')}  source={event.get('source')}"]
    if options.headers:
        lines.append(f"  headers={json.dumps(headers, ensure_ascii=False)}")
    lines.append("  " + json.dumps(event.get("data"), ensure_ascii=False, sort_keys=True))
    return "\n".join(lines)


def _raw(value: bytes | None, limit: int = 300) -> str:
    if value is None:
        return "<null>"
    text = value.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + f"… ({len(value)} bytes)"
