"""Kafka clients built from settings, so broker-specific choices stay settings, not code."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from .settings import ServiceSettings


def producer_options(settings: ServiceSettings) -> dict:
    acks: int | str = "all" if settings.producer_acks == "all" else int(settings.producer_acks)
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": settings.client_id,
        "acks": acks,
        "enable_idempotence": settings.producer_idempotence,
        "linger_ms": settings.producer_linger_ms,
        "max_batch_size": settings.producer_max_batch_bytes,
        "max_request_size": settings.producer_max_request_bytes,
        "compression_type": None
        if settings.producer_compression == "none"
        else settings.producer_compression,
        "request_timeout_ms": settings.consumer_request_timeout_ms,
    }


def create_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(**producer_options(settings))
