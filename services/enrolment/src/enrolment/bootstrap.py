"""Wiring: settings -> migrated database, validated catalogue, runtime (relay + consumer) and HTTP app."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from reliability.runtime import ServiceRuntime, notify_relay

from enrolment import usecases
from enrolment.adapters.catalogue import load_catalogue
from enrolment.config import EnrolmentSettings
from enrolment.entrypoints.http import create_app
from enrolment.entrypoints.kafka import subscribers
from enrolment.store import Database, migrate

log = logging.getLogger(__name__)

SERVICE = "enrolment"


def create_runtime(settings: EnrolmentSettings, database: Database) -> ServiceRuntime:
    return ServiceRuntime(
        service=SERVICE,
        settings=settings,
        engine=database.engine,
        subscribers=subscribers(),
    )


def build(settings: EnrolmentSettings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    """Everything the process needs, ready to `runtime.serve(app, settings.http_port)`.

    The catalogue is loaded first: an invalid catalogue stops the service before it touches the database.
    """
    settings = settings or EnrolmentSettings()
    catalogue = load_catalogue(settings.catalogue_dir, settings.credit_bounds)
    migrate(settings.database_url)
    database = Database.connect(settings.database_url)
    runtime = create_runtime(settings, database)
    # The relay exists once the runtime has started; until then waking it is a no-op.
    database = database.waking(lambda: notify_relay(runtime))
    queued = usecases.publish_catalogue(database, catalogue)
    log.info("catalogue loaded", extra={"years": list(catalogue.years()), "entries": len(catalogue), "queued": queued})
    app = create_app(settings, database, catalogue, runtime)
    return app, runtime
