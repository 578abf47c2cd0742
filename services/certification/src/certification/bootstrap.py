"""Wiring: settings -> issuer (keys and URLs), migrated database, runtime (relay + consumer) and HTTP app."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from reliability.migrations import upgrade_to_head
from reliability.runtime import ServiceRuntime, notify_relay

from certification.adapters.issuer import Issuer
from certification.config import CertificationSettings
from certification.entrypoints.http import create_app
from certification.entrypoints.kafka import subscribers
from certification.store import Database

log = logging.getLogger(__name__)

SERVICE = "certification"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migrate(database_url: str) -> None:
    """Bring the database to the newest schema."""
    upgrade_to_head(database_url, str(MIGRATIONS))


def create_issuer(settings: CertificationSettings) -> Issuer:
    """The issuer from configuration; a missing or malformed key stops the service here, at start-up."""
    salt = settings.identity_salt.get_secret_value() if settings.identity_salt is not None else None
    secret = settings.signing_secret()
    return Issuer.create(
        base_url=settings.public_base_url,
        key_id=settings.signing_key_id,
        secret=secret,
        retired_keys=settings.retired_keys(),
        identity_salt=salt or None,
        jwt_key=settings.jwt_signing_key(secret),
        retired_jwt_keys=settings.retired_jwt_keys(),
    )


def create_runtime(settings: CertificationSettings, database: Database, issuer: Issuer) -> ServiceRuntime:
    return ServiceRuntime(
        service=SERVICE,
        settings=settings,
        engine=database.engine,
        subscribers=subscribers(issuer),
    )


def build(
    settings: CertificationSettings | None = None, issuer: Issuer | None = None
) -> tuple[FastAPI, ServiceRuntime]:
    """Everything the process needs, ready to `runtime.serve(app, settings.http_port)`."""
    settings = settings or CertificationSettings()
    issuer = issuer or create_issuer(settings)
    migrate(settings.database_url)
    database = Database.connect(settings.database_url)
    runtime = create_runtime(settings, database, issuer)
    log.info(
        "certification configured",
        extra={
            "issuer": issuer.issuer_id,
            "signing_key": issuer.key.verification_method,
            "retired_keys": [entry.key_id for entry in issuer.retired_keys],
            "jwt_signing_key": issuer.jwt_key.kid,
            "retired_jwt_keys": [key.kid for key in issuer.retired_jwt_keys],
            "topic_prefix": settings.topic_prefix,
        },
    )
    app = create_app(settings, database.waking(lambda: notify_relay(runtime)), issuer, runtime)
    app.state.canonical_workers.warm()
    return app, runtime
