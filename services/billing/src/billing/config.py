"""Billing configuration (environment variables) and the choice of the active cancellation policy."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from reliability.settings import ServiceSettings

from billing.domain import CancellationPolicy, PolicyRegistry, PolicyVersion, builtin_registry, load_policy


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


def policy_registry(settings: BillingSettings) -> PolicyRegistry:
    """The shipped policies plus those in `policy_dir`.

    A file in `policy_dir` that repeats a shipped (id, version) is refused at start-up: a version names one
    fixed set of rules, so a second, different definition of it must not be able to shadow the first.
    """
    registry = builtin_registry()
    if settings.policy_dir is not None:
        if not settings.policy_dir.is_dir():
            raise ValueError(f"POLICY_DIR {str(settings.policy_dir)!r} is not a directory")
        files = sorted([*settings.policy_dir.glob("*.yaml"), *settings.policy_dir.glob("*.yml")])
        for file in files:
            registry.register(load_policy(file))
    return registry


def parse_policy_reference(reference: str) -> tuple[str, PolicyVersion | None]:
    """`uantwerp-en` -> ("uantwerp-en", None); `uantwerp-en@1` -> (.., 1); `ugent@2026-09-01` -> (.., "2026-09-01")."""
    policy_id, separator, version_text = reference.strip().partition("@")
    if not separator:
        return policy_id, None
    if not version_text:
        raise ValueError(f"CANCELLATION_POLICY {reference!r}: nothing after '@'")
    return policy_id, int(version_text) if version_text.isdigit() else version_text


def active_policy(settings: BillingSettings, registry: PolicyRegistry | None = None) -> CancellationPolicy:
    """The policy new cancellations are computed with; an unknown id or version stops the service at start-up."""
    policy_id, version = parse_policy_reference(settings.cancellation_policy)
    return (registry or policy_registry(settings)).get(policy_id, version)


def policy_reference(policy: CancellationPolicy) -> str:
    """The `policy` field of ReimbursementCalculated: id and version, e.g. "uantwerp-en@1"."""
    return f"{policy.id}@{policy.version}"
