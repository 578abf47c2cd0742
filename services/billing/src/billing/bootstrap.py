"""Wires the billing service together: database (migrated), active policy, handlers, runtime and HTTP app."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from reliability.database import create_database_engine
from reliability.migrations import upgrade_to_head
from reliability.runtime import ServiceRuntime
from sqlalchemy.engine import make_url

from billing.config import BillingSettings, active_policy, policy_reference
from billing.handlers import batch_handler_for, handlers_for
from billing.http import create_app
from contracts import topics

log = logging.getLogger(__name__)

SERVICE = "billing"
MIGRATIONS = "billing:migrations"


def build(settings: BillingSettings) -> tuple[FastAPI, ServiceRuntime]:
    """Everything `python -m billing` runs; a bad policy configuration or database fails here, at start-up."""
    policy = active_policy(settings)
    _create_sqlite_directory(settings.database_url)
    upgrade_to_head(settings.database_url, MIGRATIONS)
    engine = create_database_engine(settings.database_url)
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=settings,
        engine=engine,
        consumes=[topics.ENROLMENT_EVENTS],
        handlers=handlers_for(policy),
        batch_handler=batch_handler_for(policy),
    )
    log.info("billing configured", extra={"policy": policy_reference(policy), "topic_prefix": settings.topic_prefix})
    return create_app(settings, engine, runtime), runtime


def _create_sqlite_directory(database_url: str) -> None:
    """The default URL points at ./var/billing.db; SQLite creates the file but not its directory."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
