"""Settings of the enrolment service, from environment variables (see reliability.settings for the shared ones)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import Field, model_validator
from reliability.settings import ServiceSettings

from enrolment.adapters.catalogue import DEFAULT_CREDIT_BOUNDS


class EnrolmentSettings(ServiceSettings):
    http_port: int = Field(default=8001, ge=1, le=65535, description="Port of the HTTP API.")
    database_url: str = Field(
        default="sqlite:///./var/enrolment.db", description="SQLAlchemy URL; PostgreSQL in production."
    )
    catalogue_dir: Path | None = Field(
        default=None,
        description="Directory of <academic year>.yaml catalogue files; default: the catalogue shipped with the service.",
    )
    catalogue_min_credits: Decimal = Field(
        default=DEFAULT_CREDIT_BOUNDS[0], gt=0, description="Smallest total of credits a micro-credential may have."
    )
    catalogue_max_credits: Decimal = Field(
        default=DEFAULT_CREDIT_BOUNDS[1], gt=0, description="Largest total of credits a micro-credential may have."
    )

    @model_validator(mode="after")
    def _bounds_in_order(self) -> EnrolmentSettings:
        if self.catalogue_min_credits > self.catalogue_max_credits:
            raise ValueError(
                f"CATALOGUE_MIN_CREDITS ({self.catalogue_min_credits}) is above "
                f"CATALOGUE_MAX_CREDITS ({self.catalogue_max_credits})"
            )
        return self

    @property
    def credit_bounds(self) -> tuple[Decimal, Decimal]:
        return (self.catalogue_min_credits, self.catalogue_max_credits)
