"""HTTP pieces every service shares: bearer-token guard, JSON errors, health and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

HealthCheck = Callable[[], Awaitable[str | None]]
"""Returns None when healthy, else a short reason."""

_bearer = HTTPBearer(auto_error=False)


class HasHealthChecks(Protocol):
    def health_checks(self) -> dict[str, HealthCheck]: ...


def service_app(title: str, description: str, engine: Engine, runtime: HasHealthChecks | None = None) -> FastAPI:
    """The FastAPI app every service starts from: JSON errors, `/health` and `/metrics`.

    With a runtime (a running replica) health covers the database and Kafka; without one (tests, tools) the database.
    """
    app = FastAPI(title=title, version="1.0.0", description=description)
    install_error_handlers(app)
    checks = runtime.health_checks() if runtime is not None else {"database": database_check(engine)}
    app.include_router(operations_router(checks))
    return app


def require_token(tokens: Sequence[str]) -> Callable[..., Awaitable[str]]:
    """A dependency accepting only the configured bearer tokens: 401 without one, 403 with an unknown one."""

    async def guard(request: Request) -> str:
        credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a bearer token is required (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        # Constant-time comparison, so response timing does not reveal how much of a token was right.
        if not any(hmac.compare_digest(credentials.credentials, token) for token in tokens):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this token is not allowed to do that")
        return credentials.credentials

    return guard


def token_protected(tokens: Sequence[str]) -> list[Any]:
    """Route dependencies for endpoints that need a token: the guard, and the bearer scheme in the OpenAPI document.

    HTTPBearer is declared non-raising: it only documents the scheme (so /docs offers "Authorize"); the guard decides.
    """
    return [Security(HTTPBearer(auto_error=False, description="One of API_TOKENS.")), Depends(require_token(tokens))]


def install_error_handlers(app: FastAPI) -> None:
    """Every error is JSON: {"error": {"status", "message", "details"?}}."""

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": {"status": error.status_code, "message": str(error.detail)}},
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

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
    """`GET /health` (liveness + readiness: every check must pass) and `GET /metrics` (Prometheus)."""
    router = APIRouter(tags=["operations"])

    @router.get("/health")
    async def health() -> JSONResponse:
        results = {name: await check() for name, check in checks.items()}
        healthy = all(reason is None for reason in results.values())
        body = {
            "status": "ok" if healthy else "unavailable",
            "checks": {name: ("ok" if reason is None else reason) for name, reason in results.items()},
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
