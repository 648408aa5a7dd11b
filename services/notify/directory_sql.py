"""SQL for walking notify's copy of the directory (the runtime's `directory_units`,
`directory_members`) a subtree at a time."""

from __future__ import annotations


def holds_on(valid: str, day: str) -> str:
    """`valid @> day`, spelled so that no index can take it as its condition.

    The walk down a subtree probes once per unit reached (10,000 for a phase close). With
    `@>`, once the tables are analyzed, the planner may probe the directory's exclusion index
    (`unit_id WITH =, valid WITH &&`) on the date alone and filter by parent: every unit valid
    that day read once per unit reached, 106 s for 10,000 units. Spelled as bounds, the probe
    can only go by parent (`directory_units_children_walk`) or by unit
    (`directory_members_officers`, migration 0009): one short descent each."""
    return (f"(lower({valid}) <= {day} AND (upper_inf({valid}) OR {day} < upper({valid})))")
