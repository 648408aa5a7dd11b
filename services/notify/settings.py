from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.registry import service
from services.runtime.settings import ServiceSettings

ENTRY = service("notify")


class NotifySettings(ServiceSettings):
    """Environment variables are prefixed `NOTIFY_` (e.g. `NOTIFY_HTTP_PORT`)."""

    model_config = SettingsConfigDict(env_prefix=ENTRY.env_prefix, extra="ignore")

    service_name: str = ENTRY.name
    http_port: int = ENTRY.http_port

    # The e-mail channel: the SMTP relay messages are handed to.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "Thi đua Công đoàn <no-reply@thidua.local>"
    smtp_starttls: bool = False  # upgrade a plain connection (port 587)
    smtp_tls: bool = False  # TLS from the first byte (port 465)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_s: float = Field(30.0, gt=0)
    # Messages in flight to the relay at once, per replica, so a fan-out does not hammer it.
    email_max_concurrency: int = Field(8, ge=1)
    # Messages handed to the relay per second, per replica (a token bucket, aiolimiter).
    email_rate_per_s: float = Field(50.0, gt=0)
    # Relay failures in a row that pause the channel, and for how long.
    email_breaker_failures: int = Field(20, ge=1)
    email_breaker_open_s: float = Field(30.0, ge=0)
    # Rows one claim takes; how often an idle sender looks for due rows.
    email_batch_size: int = Field(50, ge=1)
    email_poll_interval_ms: int = Field(1000, ge=10)
    # Attempts before a message is given up (`notification.failed`), and the delay after the
    # first failed attempt, doubling, capped.
    email_max_attempts: int = Field(5, ge=1)
    email_retry_backoff_s: float = Field(30.0, ge=0)
    email_retry_backoff_max_s: float = Field(3600.0, ge=0)
    # A claimed row is due again after this long if its sender vanished (crash mid-send).
    # Unset, it is sized from the send timeout (`email_lease_s`): a lease that runs out while
    # the message is still on its way would have it sent twice.
    email_claim_lease_s: float | None = Field(None, gt=0)
    # The right-hand side of Message-ID; the sender address's domain when empty.
    email_message_id_domain: str = ""

    # Webhooks (Standard Webhooks signatures): requests in flight per endpoint at once, so one
    # slow receiver never holds up the others; rows one claim takes; poll interval; timeout.
    webhook_max_per_endpoint: int = Field(4, ge=1)
    # Requests in flight and started per second over all endpoints, per replica.
    webhook_max_concurrency: int = Field(64, ge=1)
    webhook_rate_per_s: float = Field(200.0, gt=0)
    # Failures in a row that open an endpoint's circuit (its rows wait, untried), and for how
    # long before one trial request.
    webhook_breaker_failures: int = Field(5, ge=1)
    webhook_breaker_open_s: float = Field(60.0, ge=0)
    webhook_batch_size: int = Field(100, ge=1)
    webhook_poll_interval_ms: int = Field(1000, ge=10)
    webhook_timeout_s: float = Field(10.0, gt=0)
    # Attempts before a delivery is parked (replayable), and the delay after the first failed
    # attempt, doubling, capped, with random jitter (a delay between half and all of it).
    webhook_max_attempts: int = Field(8, ge=1)
    webhook_retry_backoff_s: float = Field(10.0, ge=0)
    webhook_retry_backoff_max_s: float = Field(3600.0, ge=0)
    # A claimed row is due again after this long if its sender vanished (crash mid-send).
    webhook_claim_lease_s: float = Field(120.0, gt=0)
    # After a secret rotation the old secret keeps signing this long beside the new one.
    webhook_secret_overlap_s: float = Field(86400.0, ge=0)

    # The daily e-mail digest: at this hour, Vietnam time, each member in digest mode gets one
    # e-mail gathering what was held for them; at most `digest_max_items` lines (repeated
    # subjects grouped, counted), then a link to the inbox for the rest. Built for
    # `digest_batch_size` members per transaction with a pause between batches, so a run for a
    # million members is a steady trickle, not a flood.
    digest_hour: int = Field(7, ge=0, le=23)
    digest_max_items: int = Field(20, ge=1)
    digest_batch_size: int = Field(1000, ge=1)
    digest_batch_pause_ms: int = Field(50, ge=0)
    inbox_url: str = "https://thidua.local/thong-bao"

    # Officials' contact imports: rows one sheet may hold (the body is also bounded by
    # `NOTIFY_HTTP_MAX_BODY_BYTES`).
    contacts_import_max_rows: int = Field(20_000, ge=1)

    # Retention (`retention.py`): e-mails sent or given up, webhook deliveries delivered or
    # parked, digest items taken and bodies no delivery names are deleted after this many days,
    # `retention_batch_size` rows a statement with a pause between, one run an interval.
    retention_days: float = Field(90.0, gt=0)
    retention_batch_size: int = Field(5000, ge=1)
    retention_batch_pause_ms: int = Field(50, ge=0)
    retention_interval_s: float = Field(3600.0, gt=0)
    # The members' in-app messages, read or not, go after this many days: two campaign years,
    # so a member still finds last year's results while this year's titles are decided.
    in_app_retention_days: float = Field(730.0, gt=0)

    @model_validator(mode="after")
    def _retention_outlasts_redelivery(self) -> NotifySettings:
        # A delivery id is what stops a redelivered event from being sent twice once the
        # runtime's inbox has forgotten the event: it must outlive that window.
        for name in ("retention_days", "in_app_retention_days"):
            if getattr(self, name) * 24 < self.inbox_retention_hours:
                raise ValueError(
                    f"{name} ({getattr(self, name):g}) must cover inbox_retention_hours "
                    f"({self.inbox_retention_hours:g} h): a redelivered event would be sent "
                    "again")
        return self

    @property
    def email_lease_s(self) -> float:
        """How long a claimed e-mail is leased: `NOTIFY_EMAIL_CLAIM_LEASE_S` when set, else
        room for the slowest send a live worker can make. Each SMTP step (connect, EHLO,
        STARTTLS and EHLO again, AUTH, MAIL, RCPT, DATA, the end of the data) may take up to
        `NOTIFY_SMTP_TIMEOUT_S`; a claimed row may wait for one send ahead of it in its slot
        (a worker claims at most twice its concurrency) and for the rate limiter's tokens."""
        if self.email_claim_lease_s is not None:
            return self.email_claim_lease_s
        one_send = SMTP_STEPS * self.smtp_timeout_s
        return 2 * one_send + 2 * self.email_max_concurrency / self.email_rate_per_s


SMTP_STEPS = 8  # connect, EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT, DATA and its end
