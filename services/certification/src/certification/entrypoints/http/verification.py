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


def verification_router(database: Database, issuer: Issuer) -> APIRouter:
    router = APIRouter(tags=["verification"])

    @router.post("/verify", responses=errors(413, 422), openapi_extra=_BODY)
    async def verify(request: Request) -> VerificationOut:
        """Verify a credential against this issuer's keys and status lists (nothing is fetched from elsewhere).

        Always 200 for a JSON body: `verified` says whether every check passed, `checks` says which did not
        and why. A credential of another issuer is answered as not verified, with the reason."""
        body = await request.body()  # bounded by REQUEST_BODY_LIMIT (reliability.http.BodyLimit): 413 beyond
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise HTTPException(422, f"the body is not JSON: {error}") from error
        return await run_in_threadpool(_verdict, database, issuer, document)

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


def _verdict(database: Database, issuer: Issuer, document: Any) -> VerificationOut:
    result = usecases.verify(database, issuer, document)
    return VerificationOut(
        verified=result.verified,
        revoked=result.revoked,
        checks=[CheckOut(name=c.name, ok=c.ok, reason=c.reason) for c in result.checks],
        **certificate.summary(document),
    )


@cache
def _asset(name: str) -> str:
    return resources.files("certification").joinpath("web").joinpath(name).read_text("utf-8")
