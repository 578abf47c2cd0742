"""Configuration every service shares, from environment variables only (no secrets in the repository)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from reliability.kafka_security import KafkaSecuritySettings


class ServiceSettings(KafkaSecuritySettings):
    # Kafka client security (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*): the fields of
    # `KafkaSecuritySettings`, validated at start; see `reliability.kafka_security`.
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    database_url: str = Field(
        default="sqlite:///./var/service.db", description="SQLAlchemy URL; PostgreSQL in production."
    )
    topic_prefix: str = Field(default="", description="Prefix of every topic name (tests, tenants).")
    topic_partitions: int = Field(default=3, ge=1, description="Partitions of the topics the service creates.")
    api_tokens: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated bearer tokens allowed to call write/private endpoints."
    )
    http_host: str = "127.0.0.1"
    consumer_group: str | None = Field(
        default=None,
        description="Kafka consumer group; default: TOPIC_PREFIX + the service name. A new group replays from offset 0.",
    )
    instance_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12], description="Names this replica.")
    log_level: str = "INFO"
    log_format: str = Field(default="json", description="json (default) or text.")
    otel_exporter_otlp_endpoint: str | None = Field(default=None, description="Turns tracing on when set.")

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return [token.strip() for token in value.split(",") if token.strip()]
        return value
