"""Recording a group commit's outcomes in a channel's delivery table: delivered, due again, or
given up, one statement per kind, each touching only rows still pending."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from .queue import Outcomes


@dataclass(frozen=True)
class DeliveryTable:
    """A channel's delivery rows: the table, its id column, and the finished statuses."""

    name: str
    id_column: str
    done: str
    given_up: str


EMAILS = DeliveryTable("deliveries", "notification_id", "sent", "failed")
WEBHOOKS = DeliveryTable("webhook_deliveries", "delivery_id", "delivered", "parked")


async def record_outcomes(conn: asyncpg.Connection, table: DeliveryTable,
                          outcomes: Outcomes) -> tuple[set[str], set[str]]:
    """Write the outcomes; the ids this call finished as done and as given up (a row another
    worker finished first is in neither)."""
    t, key = table.name, table.id_column
    done: set[str] = set()
    given_up: set[str] = set()
    if outcomes.delivered:
        done = {r[0] for r in await conn.fetch(
            f"""UPDATE {t} SET status = '{table.done}', last_error = NULL, finished_at = now()
                WHERE {key} = ANY($1::text[]) AND status = 'pending'
                RETURNING {key}""",
            [r[key] for r in outcomes.delivered])}
    if outcomes.retries:
        await conn.execute(
            f"""UPDATE {t} d SET last_error = r.error,
                    next_attempt_at = now() + make_interval(secs => r.delay)
                FROM unnest($1::text[], $2::text[], $3::float8[]) AS r (id, error, delay)
                WHERE d.{key} = r.id AND d.status = 'pending'""",
            [r[key] for r, _, _ in outcomes.retries], [e for _, e, _ in outcomes.retries],
            [float(d) for _, _, d in outcomes.retries])
    if outcomes.given_up:
        given_up = {r[0] for r in await conn.fetch(
            f"""UPDATE {t} d SET status = '{table.given_up}', last_error = r.error,
                    finished_at = now()
                FROM unnest($1::text[], $2::text[]) AS r (id, error)
                WHERE d.{key} = r.id AND d.status = 'pending'
                RETURNING d.{key}""",
            [r[key] for r, _ in outcomes.given_up], [e for _, e in outcomes.given_up])}
    return done, given_up
