"""The HTTP API of the enrolment service: thin routers over the use cases in `enrolment.usecases`.

Status codes: 201 enrolled (Location header), 202 cancellation accepted (also when repeated), 401 no or no valid
token (429 after too many failures from one address), 403 a token without the operation's scope, 413 a body over
REQUEST_BODY_LIMIT,
404 unknown enrolment or micro-credential (on reads), 409 already enrolled, 422 invalid request, no catalogue
for the year, or a micro-credential that year's catalogue does not offer (on POST /enrolments: the problem is
in the body, not in the URL). Every error is JSON: {"error": {"status", "message", ...}}.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, FastAPI, Request, Response, status
from fastapi.routing import APIRoute
from reliability.http import HasHealthChecks, service_app

from enrolment.config import EnrolmentSettings
from enrolment.domain import Catalogue
from enrolment.entrypoints.http.catalogue import catalogue_router
from enrolment.entrypoints.http.enrolments import enrolments_router
from enrolment.entrypoints.http.models import (
    CancellationRequest,
    EnrolledMicrocredentialOut,
    EnrolmentOut,
    EnrolmentRequest,
    MicrocredentialOut,
)
from enrolment.store import Database


def create_app(
    settings: EnrolmentSettings, database: Database, catalogue: Catalogue, runtime: HasHealthChecks | None = None
) -> FastAPI:
    """The API over `database` and `catalogue`; with a runtime (a running replica) /health also checks Kafka."""
    app = service_app(
        "Enrolment service",
        "Micro-credential catalogue and enrolments. Write endpoints and endpoints showing personal "
        "data need a bearer token; the catalogue is public.",
        database.engine,
        runtime,
        settings=settings,
    )
    routers = (
        catalogue_router(catalogue),
        enrolments_router(database, catalogue),
    )
    for router in routers:
        app.include_router(router)
    _list_every_allowed_method(app, routers)
    return app


def _list_every_allowed_method(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """A 405's Allow header must list every method of the path (RFC 9110); Starlette lists only those of the
    first route that matched the path, so `OPTIONS /enrolments` would claim only POST is allowed.

    The routes are looked up in the routers (mounted without a prefix): FastAPI keeps an included router as one
    entry of `app.routes`, not as its routes."""

    @app.middleware("http")
    async def allow_header(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if response.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            methods = {
                method
                for router in routers
                for route in router.routes
                if isinstance(route, APIRoute) and route.path_regex.match(request.url.path)
                for method in route.methods or ()
            }
            if methods:
                response.headers["Allow"] = ", ".join(sorted(methods))
        return response


__all__ = [
    "CancellationRequest",
    "EnrolledMicrocredentialOut",
    "EnrolmentOut",
    "EnrolmentRequest",
    "MicrocredentialOut",
    "create_app",
]
