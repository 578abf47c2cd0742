"""Verification: POST /verify (a credential in, the verdict and each check out) and the verification page.

Everything is checked against this issuer's keys and status lists; nothing is fetched from elsewhere.
"""

from __future__ import annotations

import html
import json
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from certification import usecases
from certification.adapters.canonical import CanonicalisationUnavailable, CanonicalLimitExceeded
from certification.adapters.canonical_workers import CanonicalWorkers
from certification.adapters.issuer import Issuer
from certification.domain import certificate
from certification.entrypoints.http.models import CheckOut, VerificationOut, errors
from certification.store import Database

PAGE_SECURITY = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_BODY = {
    "requestBody": {
        "required": True,
        "description": "The credential (a JSON object) to verify.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def verification_router(
    database: Database, issuer: Issuer, workers: CanonicalWorkers, max_depth: int = 64
) -> APIRouter:
    router = APIRouter(tags=["verification"])

    @router.post("/verify", responses=errors(413, 422, 503), openapi_extra=_BODY)
    async def verify(request: Request) -> VerificationOut:
        """Verify a credential against this issuer's keys and status lists (nothing is fetched from elsewhere).

        200 for a JSON object: `verified` says whether every check passed, `checks` says which did not and why.
        A credential of another issuer is answered as not verified, with the reason; a document claiming one of
        our credential ids that differs from it fails the signature check. 422 for a body that is not JSON, not
        an object, nested too deeply, or over the canonicalisation limits (blank nodes, work, time budget); 503
        when every verification worker stays busy."""
        body = await request.body()  # bounded by REQUEST_BODY_LIMIT (reliability.http.BodyLimit): 413 beyond
        document = _document(body, max_depth)
        try:
            return await run_in_threadpool(_verdict, database, issuer, document, workers)
        except CanonicalLimitExceeded as refused:
            raise HTTPException(422, f"not verified: {refused.reason}") from refused
        except CanonicalisationUnavailable as busy:
            raise HTTPException(503, str(busy), headers={"Retry-After": "5"}) from busy

    @router.get("/verify", response_class=HTMLResponse, summary="Verification page")
    def verify_page() -> HTMLResponse:
        """A page to paste or upload a credential, or open one by its link (`?credential=<credential URL>`)."""
        page = (
            _asset("verify.html")
            .replace("{{PUBLIC_BASE_URL}}", html.escape(issuer.base_url))
            .replace("{{ISSUER_ID}}", html.escape(issuer.issuer_id))
        )
        return HTMLResponse(page, headers=PAGE_SECURITY)

    @router.get("/static/verify.js", include_in_schema=False)
    def verify_script() -> Response:
        return Response(_asset("verify.js"), media_type="text/javascript", headers=PAGE_SECURITY)

    @router.get("/static/verify.css", include_in_schema=False)
    def verify_style() -> Response:
        return Response(_asset("verify.css"), media_type="text/css", headers=PAGE_SECURITY)

    return router


def _document(body: bytes, max_depth: int) -> dict[str, Any]:
    """The submitted credential: a JSON object nested at most `max_depth` deep, else 422."""
    try:
        document = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise HTTPException(422, f"the body is nested deeper than {max_depth} levels") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, NaN, an integer of 4,300+ digits
        raise HTTPException(422, f"the body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise HTTPException(422, f"a credential is a JSON object, not {type(document).__name__}")
    if _deeper_than(document, max_depth):
        raise HTTPException(422, f"the body is nested deeper than {max_depth} levels")
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _deeper_than(document: Any, max_depth: int) -> bool:
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > max_depth:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _verdict(
    database: Database, issuer: Issuer, document: dict[str, Any], workers: CanonicalWorkers
) -> VerificationOut:
    result = usecases.verify(database, issuer, document, workers.hash_data)
    return VerificationOut(
        verified=result.verified,
        revoked=result.revoked,
        checks=[CheckOut(name=c.name, ok=c.ok, reason=c.reason) for c in result.checks],
        **certificate.summary(document),
    )


@cache
def _asset(name: str) -> str:
    return resources.files("certification").joinpath("web").joinpath(name).read_text("utf-8")
