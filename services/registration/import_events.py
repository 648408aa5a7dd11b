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


def _value(expr: str) -> str:
    """A JSON value from SQL, `null` for NULL (concat would drop a NULL without a trace)."""
    return f"coalesce(to_json({expr})::text, 'null')"


def _members(fields: tuple[tuple[str, str], ...]) -> str:
    return ", ',', ".join(f"'\"{name}\":', {_value(expr)}" for name, expr in fields)


_UNIT_FIELDS = (("unit_id", "p.unit_id"), ("name", "p.name"), ("kind", "p.kind"),
                ("parent_id", "p.parent_id"), ("effective_from", "p.effective_from"),
                ("district_id", "p.district"), ("sector", "p.sector"),
                ("member_count", "p.member_count"),
                ("direct_worker_count", "p.direct_worker_count"), ("status", "'active'::text"))
_MEMBER_FIELDS = (("member_id", "p.member_id"), ("unit_id", "p.unit_id"),
                  ("full_name", "p.full_name"), ("gender", "p.gender"),
                  ("direct_worker", "p.direct_worker"), ("union_officer", "p.union_officer"),
                  ("job_title", "p.job_title"), ("effective_from", "p.effective_from"),
                  ("status", "'active'::text"))
# What an update adds: the changed fields, and where the unit or member was before a move
# (an import never moves a unit; a member's row may name another unit).
_UPDATE_FIELDS = {
    "units": (("changed", "p.changed"), ("previous_parent_id", "NULL::text")),
    "members": (("changed", "p.changed"), ("previous_unit_id",
                                          "CASE WHEN p.latest_unit <> p.unit_id "
                                          "THEN p.latest_unit END")),
}


def _event(kind: Kind) -> str:
    """The event of plan row `p` as UTF-8 JSON bytes; $1 source, $2 time, $3 correlation id,
    $4 the actor (JSON)."""
    noun = "unit" if kind == "units" else "member"
    fields = _UNIT_FIELDS if kind == "units" else _MEMBER_FIELDS
    return f"""convert_to(concat(
        '{{"specversion":"1.0","id":', to_json(p.event_id), ',"source":', to_json($1::text),
        ',"type":', to_json(p.event_type), ',"time":', to_json($2::text),
        ',"subject":', to_json(p.{noun}_id),
        ',"datacontenttype":"application/json","correlationid":', to_json($3::text),
        CASE WHEN p.district IS NOT NULL THEN concat(',"district":', to_json(p.district)) END,
        ',"data":{{"actor":', $4::text, ',', {_members(fields)},
        CASE WHEN p.action = 'update' THEN concat(',', {_members(_UPDATE_FIELDS[kind])}) END,
        '}}}}'), 'UTF8')"""


def stage_events(kind: Kind) -> str:
    """The statement staging every planned row's event; parents' events first, so a reader of
    the topic meets a unit before its children. Member events are keyed by their unit."""
    noun = "unit" if kind == "units" else "member"
    order = "depth, row_no" if kind == "units" else "row_no"
    return f"""
        INSERT INTO outbox (event_id, event_type, topic, partition_key, value, correlation_id)
        SELECT p.event_id, p.event_type, '{ORG.name}', convert_to(p.unit_id, 'UTF8'),
               {_event(kind)}, $3::text
        FROM (SELECT *, CASE WHEN action = 'register' THEN 'thidua.{noun}.registered.v1'
                             ELSE 'thidua.{noun}.updated.v1' END AS event_type
              FROM import_plan WHERE action <> 'same' ORDER BY {order}) p"""
