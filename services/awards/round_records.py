"""What a proposal round writes for each placement: its `proposals` row and, within quota, its
`thidua.award.proposed.v1` in the outbox, both as SQL over the placements of one statement.

An event's JSON is text concatenation: everything the round, title and level fix (envelope,
campaign, phase, title, level, times, correlation) is rendered once here in Python, and
PostgreSQL adds per row only what varies, JSON-quoting the free text (`to_json`) and writing
ids it makes itself (proposal and event uuids) and numbers as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

EVENT_TYPE = "thidua.award.proposed.v1"
# Awards' CloudEvents source (`/thidua/<service>`), for the events the round writes in SQL.
SOURCE = "/thidua/awards"


class Params:
    """Positional parameters of one statement, numbered as they are added."""

    def __init__(self, *first: object) -> None:
        self.values: list[object] = list(first)

    def __call__(self, value: object, cast: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{cast}"


@dataclass(frozen=True)
class RoundStamp:
    """What every row of one round shares: whose round it is, when, and what caused it."""

    campaign_id: str
    phase_id: str
    year: int
    proposed_at: datetime
    disclosure_ends_at: datetime
    topic: str
    correlation_id: str
    causation_id: str


def proposal_id(stamp: RoundStamp, title: str, level: str, subject_kind: str, p: Params) -> str:
    """The proposal id of a placement (SQL over its `subject_id`): derived from (campaign, phase,
    title, level, subject kind, subject id), so a placement has one id whatever the retries."""
    key = chr(31).join((stamp.campaign_id, stamp.phase_id, title, level, subject_kind, ""))
    # The md5 in url-safe base64 (22 characters, 27 with the prefix) rather than uuid form (41):
    # the id is in the row, its primary key, the issuer index and the event.
    return (f"'prop-' || translate(encode(decode(md5({p(key, 'text')} || subject_id), 'hex'), "
            "'base64'), '+/=', '-_')")


def store(stamp: RoundStamp, title: str, level: str, source: str, p: Params) -> str:
    """INSERT of the placements in `source` (named columns of a placement, with its
    `proposal_id`) into `proposals`.

    In id order: each key lands beside the last in the primary key (random places would dirty
    and split pages all over it; measured: sorting first costs less than it saves).

    A plain insert: the round's claim on `phase_progress`, in the same transaction, is what
    makes a redelivered round place nothing; an id met twice would be a broken invariant and
    fails the round whole rather than storing or announcing part of it."""
    return f"""INSERT INTO proposals (proposal_id, campaign_id, phase_id, year, title, level,
        subject_kind, subject_id, subject_name, unit_id, issuer_unit_id, cluster_id, points,
        rank, quota, candidate_count, tie_break, standing, direct_worker, initiative_ids,
        status, proposed_at, disclosure_ends_at)
    SELECT proposal_id, {p(stamp.campaign_id, 'text')}, {p(stamp.phase_id, 'text')}, {p(stamp.year, 'int')},
           {p(title, 'text')}, {p(level, 'text')}, subject_kind, subject_id, name, unit_id,
           issuer_unit_id, cluster_id, points, rank, quota, candidate_count, tie_break,
           standing, direct_worker, initiative_ids, status,
           {p(stamp.proposed_at, 'timestamptz')}, {p(stamp.disclosure_ends_at, 'timestamptz')}
    FROM {source}
    ORDER BY proposal_id"""


def _text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _parts(stamp: RoundStamp, title: str, level: str, subject_kind: str) -> list[str]:
    """The constant runs of an award.proposed's JSON, between the values `announce` fills in:
    event id, subject, district, unit, subject, proposal id, name, issuer, points, quota,
    rank, tie-break, candidate count, cluster."""
    head = ('{"specversion":"1.0","id":"', f'","source":{_text(SOURCE)},'
            f'"type":{_text(EVENT_TYPE)},"time":{_text(stamp.proposed_at.isoformat())},'
            '"subject":',
            f',"datacontenttype":"application/json",'
            f'"correlationid":{_text(stamp.correlation_id)},'
            f'"causationid":{_text(stamp.causation_id)},')
    data = ('"data":{"actor":null,"unit_id":',
            f',"campaign_id":{_text(stamp.campaign_id)},'
            f'"subject_kind":{_text(subject_kind)},"subject_id":',
            f',"title":{_text(title)},"level":{_text(level)},"proposal_id":"',
            f'","phase_id":{_text(stamp.phase_id)},"subject_name":',
            ',"issuer_unit_id":', ',"points":"', '","quota":', ',"quota_rank":',
            ',"tie_break":',
            f',"proposed_at":{_text(stamp.proposed_at.isoformat())},"candidate_count":',
            ',"cluster_id":',
            f',"disclosure_ends_at":{_text(stamp.disclosure_ends_at.isoformat())}}}}}')
    return [*head, *data]


def announce(stamp: RoundStamp, title: str, level: str, subject_kind: str, source: str,
             p: Params) -> str:
    """INSERT of one award.proposed per row of `source` (placements within quota, stored under
    `proposal_id`, in the order they are to be announced) into the outbox, keyed by the
    subject's unit. A null district is left out of the envelope, as the contracts say.

    The event id is derived from the proposal id (an md5 in uuid form, a fifth of the cost of
    drawing a random uuid, which is most of an event's cost in SQL): unique as the proposal is,
    one proposal being announced once."""
    c = [p(part, "text") for part in _parts(stamp, title, level, subject_kind)]
    return f"""INSERT INTO outbox (event_id, event_type, topic, partition_key, value,
                            correlation_id)
    SELECT event_id, {p(EVENT_TYPE, 'text')}, {p(stamp.topic, 'text')},
           convert_to(unit_id, 'UTF8'),
           convert_to({c[0]} || event_id || {c[1]} || subject || {c[2]}
               || coalesce('"district":' || to_json(district_id)::text || ',', '')
               || {c[3]} || to_json(unit_id)::text || {c[4]} || subject || {c[5]} || proposal_id
               || {c[6]} || to_json(name)::text || {c[7]} || to_json(issuer_unit_id)::text
               || {c[8]} || points::text || {c[9]} || coalesce(quota::text, 'null')
               || {c[10]} || rank::text || {c[11]}
               || coalesce('"' || tie_break || '"', 'null') || {c[12]}
               || candidate_count::text || {c[13]}
               || coalesce(to_json(cluster_id)::text, 'null') || {c[14]}, 'UTF8'),
           {p(stamp.correlation_id, 'text')}
    FROM (SELECT *, md5({p(EVENT_TYPE + chr(31), 'text')} || proposal_id)::uuid::text AS event_id,
                 to_json(subject_id)::text AS subject
          FROM {source}) announced"""
