"""The outbox events of a bulk import, written by PostgreSQL from the import's plan: one
`INSERT … SELECT` stages a registered or updated event for every planned row.

Each event's JSON is concatenated from its escaped values (`to_json`), not assembled as a
`jsonb` object and printed: the same CloudEvent `contracts.codec.encode_event` writes (up to key
order), at a third of the cost a row, which at a million members is most of the import's time
in the database.
"""

from __future__ import annotations

from contracts.topics import ORG

from .import_rows import Kind

# How a value of each sort becomes JSON text. Only free text needs escaping (`to_json`); ids
# (checked against `[A-Za-z0-9._:-]`), enums, dates, numbers and flags are written as they are,
# which spares a million rows a dozen function calls each.
_WRITE = {
    "text": "coalesce(to_json({})::text, 'null')",
    "id": "coalesce('\"' || {} || '\"', 'null')",
    "count": "{}::text",
    "flag": "CASE WHEN {} THEN 'true' ELSE 'false' END",
    "date": "to_json({})::text",
    "list": "to_json({})::text",
}


def _members(fields: tuple[tuple[str, str, str], ...]) -> str:
    return ", ',', ".join(f"'\"{name}\":', {_WRITE[sort].format(expr)}"
                          for name, sort, expr in fields)


_UNIT_FIELDS = (("unit_id", "id", "p.unit_id"), ("name", "text", "p.name"),
                ("kind", "id", "p.kind"), ("parent_id", "id", "p.parent_id"),
                ("effective_from", "date", "p.effective_from"),
                ("district_id", "text", "p.district"), ("sector", "id", "p.sector"),
                ("member_count", "count", "p.member_count"),
                ("direct_worker_count", "count", "p.direct_worker_count"),
                ("status", "id", "'active'"))
_MEMBER_FIELDS = (("member_id", "id", "p.member_id"), ("unit_id", "id", "p.unit_id"),
                  ("full_name", "text", "p.full_name"), ("gender", "id", "p.gender"),
                  ("direct_worker", "flag", "p.direct_worker"),
                  ("union_officer", "flag", "p.union_officer"),
                  ("job_title", "text", "p.job_title"),
                  ("effective_from", "date", "p.effective_from"), ("status", "id", "'active'"))
# What an update adds: the changed fields, and where the unit or member was before a move
# (an import never moves a unit; a member's row may name another unit).
_UPDATE_FIELDS = {
    "units": (("changed", "list", "p.changed"), ("previous_parent_id", "id", "NULL::text")),
    "members": (("changed", "list", "p.changed"),
                ("previous_unit_id", "id",
                 "CASE WHEN p.latest_unit <> p.unit_id THEN p.latest_unit END")),
}


# A plan row's event id from the import's id prefix ($2 in the states' insert, $6 here).
EVENT_ID = "$2::text || lpad(to_hex(row_no), 12, '0')"


def _event(kind: Kind) -> str:
    """The event of plan row `p` as UTF-8 JSON bytes; $1 source, $2 time, $3 correlation id
    (each already a JSON string), $4 the actor (JSON)."""
    noun = "unit" if kind == "units" else "member"
    fields = _UNIT_FIELDS if kind == "units" else _MEMBER_FIELDS
    return f"""convert_to(concat(
        '{{"specversion":"1.0","id":"', p.event_id, '","source":', $1::text,
        ',"type":"', p.event_type, '","time":', $2::text, ',"subject":"', p.{noun}_id,
        '","datacontenttype":"application/json","correlationid":', $3::text,
        CASE WHEN p.district IS NOT NULL THEN concat(',"district":', to_json(p.district)) END,
        ',"data":{{"actor":', $4::text, ',', {_members(fields)},
        CASE WHEN p.action = 'update' THEN concat(',', {_members(_UPDATE_FIELDS[kind])}) END,
        '}}}}'), 'UTF8')"""


def stage_events(kind: Kind) -> str:
    """The statement staging every planned row's event; parents' events first, so a reader of
    the topic meets a unit before its children. Member events are keyed by their unit. $1 to $4 as
    `_event` takes them, $5 the correlation id as text, $6 the prefix of the import's event ids."""
    noun = "unit" if kind == "units" else "member"
    order = "depth, row_no" if kind == "units" else "row_no"
    return f"""
        INSERT INTO outbox (event_id, event_type, topic, partition_key, value, correlation_id)
        SELECT p.event_id, p.event_type, '{ORG.name}', convert_to(p.unit_id, 'UTF8'),
               {_event(kind)}, $5::text
        FROM (SELECT *, CASE WHEN action = 'register' THEN 'thidua.{noun}.registered.v1'
                             ELSE 'thidua.{noun}.updated.v1' END AS event_type,
                     {EVENT_ID.replace("$2", "$6")} AS event_id
              FROM import_plan WHERE action <> 'same' ORDER BY {order}) p"""
