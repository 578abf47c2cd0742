"""Wiring: settings -> migrated database, validated catalogue, runtime (relay + consumer) and HTTP app."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from reliability.database import create_database_engine, transaction
from reliability.migrations import upgrade_to_head
from reliability.runtime import ServiceRuntime
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError

from contracts import topics
from enrolment import service
from enrolment.catalogue import load_catalogue
from enrolment.config import EnrolmentSettings
from enrolment.domain import Catalogue
from enrolment.http import create_app

log = logging.getLogger(__name__)

SERVICE = "enrolment"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migrate(database_url: str) -> None:
    """Bring the database to the newest schema; creates the directory of a SQLite file if needed."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(database_url, str(MIGRATIONS))


def publish_catalogue_at_start(engine: Engine, catalogue: Catalogue) -> int:
    """Queue the catalogue entries that changed; a replica starting at the same moment may win the race."""
    try:
        with transaction(engine) as session:
            return service.publish_catalogue(session, catalogue)
    except IntegrityError:
        # Another replica recorded the same keys first; now we see its hashes and queue only what still differs.
        with transaction(engine) as session:
            return service.publish_catalogue(session, catalogue)


def create_runtime(settings: EnrolmentSettings, engine: Engine) -> ServiceRuntime:
    return ServiceRuntime(
        service=SERVICE,
        settings=settings,
        engine=engine,
        consumes=[topics.ENROLMENT_EVENTS],
        handlers=service.HANDLERS,
    )


def build(settings: EnrolmentSettings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    """Everything the process needs, ready to `runtime.serve(app, settings.http_port)`.

    The catalogue is loaded first: an invalid catalogue stops the service before it touches the database.
    """
    settings = settings or EnrolmentSettings()
    catalogue = load_catalogue(settings.catalogue_dir, settings.credit_bounds)
    migrate(settings.database_url)
    engine = create_database_engine(settings.database_url)
    queued = publish_catalogue_at_start(engine, catalogue)
    log.info("catalogue loaded", extra={"years": list(catalogue.years()), "entries": len(catalogue), "queued": queued})
    runtime = create_runtime(settings, engine)
    app = create_app(settings, engine, catalogue, runtime)
    return app, runtime
