"""HTTP pieces every service shares: the authenticator, the body limit, JSON errors, health and Prometheus metrics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reliability.auth import Authenticator, FailureLimiter, JwksCache, JwtVerifier, StaticTokenVerifier
from reliability.settings import ServiceSettings

HealthCheck = Callable[[], Awaitable[str | None]]
"""Returns None when healthy, else a short reason (a `Degraded` one keeps the service ready)."""


class Degraded(str):
    """A health check's reason for a replica that works but needs an operator (parked outbox rows, say): `/health`
    says `degraded` with the reason and still answers 200, so it is not taken out of service for it."""

    __slots__ = ()


class HasHealthChecks(Protocol):
    def health_checks(self) -> dict[str, HealthCheck]: ...


def service_app(
    title: str,
    description: str,
    engine: Engine,
    runtime: HasHealthChecks | None = None,
    *,
    settings: ServiceSettings | None = None,
) -> FastAPI:
    """The FastAPI app every service starts from: the body limit, the authenticator `reliability.auth.require`
    uses (from the settings), JSON errors, `/health` and `/metrics`.

    With a runtime (a running replica) health covers the database and Kafka; without one (tests, tools) the database.
    `/health` and `/metrics` are open: they carry no personal data (counts and latencies by topic and outcome), and
    Prometheus scrapes them from inside the cluster; the ingress need not publish them.
    """
    app = FastAPI(title=title, version="1.0.0", description=description)
    settings = settings or ServiceSettings()
    app.add_middleware(BodyLimit, limit=settings.request_body_limit)
    app.state.authenticator = authenticator(settings)
    install_error_handlers(app)
    checks = runtime.health_checks() if runtime is not None else {"database": database_check(engine)}
    app.include_router(operations_router(checks))
    return app


def authenticator(settings: ServiceSettings) -> Authenticator:
    """The Authenticator of a service: JWT access tokens of OIDC_ISSUER for OIDC_AUDIENCE, and the static
    API_TOKENS (demo). With neither configured every protected operation is refused (401), never served."""
    verifier = None
    if settings.oidc_issuer is not None and settings.oidc_audience is not None:
        jwks = JwksCache(settings.oidc_issuer, min_refresh=settings.oidc_jwks_min_refresh_seconds)
        verifier = JwtVerifier(jwks, settings.oidc_audience, settings.oidc_student_claim, settings.oidc_leeway_seconds)
    static = StaticTokenVerifier(settings.api_tokens) if settings.api_tokens else None
    return Authenticator(static, verifier, FailureLimiter(settings.auth_failures_per_minute))


class BodyLimit:
    """Pure ASGI middleware: a request body over `limit` bytes is answered 413 before the app reads it.

    A Content-Length over the limit is refused at once (before routing and authentication); a chunked body is
    counted as it streams and refused when it passes the limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = [value for name, value in scope["headers"] if name == b"content-length"]
        if declared and not all(value.isdigit() and int(value) <= self.limit for value in declared):
            await self._refuse(send, 413 if all(value.isdigit() for value in declared) else 400)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise StarletteHTTPException(413, self._message())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except StarletteHTTPException as error:
            if error.status_code != 413 or started:
                raise
            await self._refuse(send, 413)

    def _message(self) -> str:
        return f"the request body is larger than {self.limit} bytes"

    async def _refuse(self, send: Send, code: int) -> None:
        message = self._message() if code == 413 else "invalid Content-Length"
        body = json.dumps({"error": {"status": code, "message": message}}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": code, "headers": [*headers, (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def install_error_handlers(app: FastAPI) -> None:
    """Every error is JSON: {"error": {"status", "message", "details"?}}."""
    # Imported here: the outbox pulls in the consumer (FastStream), which `import reliability.http` need not load.
    from reliability.outbox import EventTooLarge

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": {"status": error.status_code, "message": str(error.detail)}},
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(EventTooLarge)
    async def _event_too_large(_request: Request, error: EventTooLarge) -> JSONResponse:
        # The request was fine, what it would announce is more than the platform carries: nothing was written.
        return JSONResponse({"error": {"status": 422, "message": error.reason}}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(part) for part in item["loc"]), "message": item["msg"]} for item in error.errors()
        ]
        message = "; ".join(f"{item['field']}: {item['message']}" for item in details)
        return JSONResponse(
            {"error": {"status": 422, "message": f"invalid request: {message}", "details": details}},
            status_code=422,
        )


def operations_router(checks: dict[str, HealthCheck]) -> APIRouter:
    """`GET /health` (liveness + readiness: every check must pass or be only `Degraded`) and `GET /metrics`."""
    router = APIRouter(tags=["operations"])

    @router.get("/health")
    async def health() -> JSONResponse:
        results = {name: await check() for name, check in checks.items()}
        healthy = all(reason is None or isinstance(reason, Degraded) for reason in results.values())
        degraded = any(isinstance(reason, Degraded) for reason in results.values())
        body = {
            "status": ("degraded" if degraded else "ok") if healthy else "unavailable",
            "checks": {name: ("ok" if reason is None else str(reason)) for name, reason in results.items()},
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}, "description": "Prometheus text format"}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def database_check(engine: Engine) -> HealthCheck:
    """Readiness of the database: a `SELECT 1` within 3 seconds."""

    def ping() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    async def check() -> str | None:
        try:
            await asyncio.wait_for(asyncio.to_thread(ping), 3)
        except Exception as error:
            return f"database unreachable: {type(error).__name__}"
        return None

    return check
