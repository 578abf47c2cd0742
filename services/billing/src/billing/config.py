"""Billing configuration: environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from reliability.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    http_port: int = Field(default=8002, description="Port of the HTTP API.")
    database_url: str = Field(
        default="sqlite:///./var/billing.db", description="SQLAlchemy URL; PostgreSQL in production."
    )
    cancellation_policy: str = Field(
        default="uantwerp-en",
        description='Active cancellation policy: "<id>" (its latest version) or "<id>@<version>" to pin one.',
    )
    policy_dir: Path | None = Field(
        default=None,
        description="Extra directory of policy YAML files (*.yaml, *.yml), added to the shipped ones.",
    )
