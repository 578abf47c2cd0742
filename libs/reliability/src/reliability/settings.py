"""Configuration every service shares, from environment variables only (no secrets in the repository)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from reliability.auth import StaticToken, StaticTokenError, parse_static_tokens
from reliability.kafka_security import KafkaSecuritySettings


class ServiceSettings(KafkaSecuritySettings):
    # Kafka client security (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*): the fields of
    # `KafkaSecuritySettings`, validated at start; see `reliability.kafka_security`.
    # hide_input_in_errors: a refused setting (a short API token, say) must not be echoed into the logs.
    model_config = SettingsConfigDict(env_file=None, extra="ignore", hide_input_in_errors=True)

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    database_url: str = Field(
        default="sqlite:///./var/service.db", description="SQLAlchemy URL; PostgreSQL in production."
    )
    topic_prefix: str = Field(default="", description="Prefix of every topic name (tests, tenants).")
    topic_partitions: int = Field(default=3, ge=1, description="Partitions of the topics the service creates.")
    http_host: str = "127.0.0.1"
    consumer_group: str | None = Field(
        default=None,
        description="Kafka consumer group; default: TOPIC_PREFIX + the service name. A new group replays from offset 0.",
    )
    instance_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12], description="Names this replica.")
    log_level: str = "INFO"
    log_format: str = Field(default="json", description="json (default) or text.")
    otel_exporter_otlp_endpoint: str | None = Field(default=None, description="Turns tracing on when set.")
    outbox_relay: Literal["in-process", "process"] = Field(
        default="in-process",
        description="Where the outbox relay runs: on the service's event loop, or `process`: a child process of "
        "its own, on another core (rebuilds; docs/operations.md).",
    )

    # --- provenance: which CloudEvents sources the consumer accepts (reliability.provenance) ---
    event_sources_file: Path | None = Field(
        default=None,
        description="The source allow-list (YAML); unset: the repository's deploy/event-sources.yaml, and without "
        "a checkout (an installed image) the service refuses to start.",
    )

    # --- HTTP authentication (see reliability.auth) ---
    api_tokens: Annotated[list[StaticToken], NoDecode] = Field(
        default_factory=list,
        description="Demo only: static bearer tokens, `name:token:scope scope...` entries separated by `;`; each "
        "token at least 32 characters, no placeholder.",
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="OpenID issuer whose JWT access tokens (RFC 9068) are accepted; its JWKS is found through "
        "<issuer>/.well-known/openid-configuration.",
    )
    oidc_audience: str | None = Field(
        default=None, description="The `aud` this service's access tokens carry (its resource indicator)."
    )
    oidc_student_claim: str | None = Field(
        default="student_id", description="Access-token claim naming the student a student's token belongs to."
    )
    oidc_leeway_seconds: float = Field(default=30, ge=0, le=300, description="Clock skew allowed on exp/nbf/iat.")
    oidc_jwks_min_refresh_seconds: float = Field(
        default=30, ge=0, description="At most one JWKS refetch (for an unknown key id) per this many seconds."
    )
    auth_failures_per_minute: int = Field(
        default=10, ge=1, description="Failed authentications a client address may make per minute before 429."
    )
    request_body_limit: int = Field(
        default=1_048_576, ge=1024, description="Bytes; a larger request body is refused (413) before it is read."
    )

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _parse_tokens(cls, value: object) -> object:
        if isinstance(value, str | list):
            try:
                return parse_static_tokens(value)
            except StaticTokenError as error:
                raise ValueError(str(error)) from None
        return value

    @field_validator("oidc_issuer")
    @classmethod
    def _https_issuer(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        url = urlsplit(value.strip())
        if url.scheme != "https" and not (url.scheme == "http" and url.hostname in ("localhost", "127.0.0.1", "::1")):
            raise ValueError("must be an https URL (plain http only for localhost)")
        return value.strip()

    @model_validator(mode="after")
    def _audience_with_issuer(self) -> ServiceSettings:
        if self.oidc_issuer is not None and not self.oidc_audience:
            raise ValueError("OIDC_AUDIENCE is required with OIDC_ISSUER (the aud this service's tokens carry)")
        return self
