"""Billing's HTTP API: statements, the finance office's reimbursement export, cancellations on hold.

Routes only read what the Kafka use cases stored; no figure is computed here. Amounts are decimal strings with
two decimals, credits decimal strings, instants RFC 3339 in UTC. Everything about a student's money needs a
bearer token with a scope: billing:read (a statement; a student's token only their own), billing:export (the
reimbursement export), operations (cancellations on hold); /health, /metrics and the OpenAPI document
(/docs, /openapi.json) are open.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from reliability.http import service_app
from reliability.runtime import ServiceRuntime

from billing.config import BillingSettings
from billing.entrypoints.http import cancellations, reimbursements, statements
from billing.store import Database

DESCRIPTION = (
    "Tuition invoices and cancellation reimbursements of micro-credential enrolments. Consumes "
    "enrolment.events, publishes billing.events. Financial endpoints need `Authorization: Bearer <token>`."
)


def create_app(settings: BillingSettings, database: Database, runtime: ServiceRuntime | None = None) -> FastAPI:
    app = service_app("Billing service", DESCRIPTION, database.engine, runtime, settings=settings)
    # Fail closed: with neither OIDC_ISSUER nor API_TOKENS configured every financial request is refused (401).
    billing = APIRouter(tags=["billing"])
    for resource in (statements, reimbursements, cancellations):
        billing.include_router(resource.router(database))
    app.include_router(billing)
    return app
