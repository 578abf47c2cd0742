"""Wires the billing service together: database (migrated), active policy, handlers, runtime and HTTP app."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from reliability.migrations import upgrade_to_head
from reliability.runtime import ServiceRuntime

from billing.adapters.policy_files import policy_registry
from billing.config import BillingSettings
from billing.domain import CancellationPolicy, PolicyRegistry, parse_policy_reference, policy_reference
from billing.entrypoints.http import create_app
from billing.entrypoints.kafka import subscribers
from billing.store import Database

log = logging.getLogger(__name__)

SERVICE = "billing"
MIGRATIONS = "billing:migrations"


def build(settings: BillingSettings) -> tuple[FastAPI, ServiceRuntime]:
    """Everything `python -m billing` runs; a bad policy configuration or database fails here, at start-up."""
    policy = active_policy(settings)
    upgrade_to_head(settings.database_url, MIGRATIONS)
    database = Database.connect(settings.database_url)
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=settings,
        engine=database.engine,
        subscribers=subscribers(policy),
    )
    log.info("billing configured", extra={"policy": policy_reference(policy), "topic_prefix": settings.topic_prefix})
    return create_app(settings, database, runtime), runtime


def active_policy(settings: BillingSettings, registry: PolicyRegistry | None = None) -> CancellationPolicy:
    """The policy new cancellations are computed with; an unknown id or version stops the service at start-up."""
    policy_id, version = parse_policy_reference(settings.cancellation_policy)
    return (registry or policy_registry(settings.policy_dir)).get(policy_id, version)
