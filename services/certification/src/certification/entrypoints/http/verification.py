"""Verification: POST /verify (a credential in, the verdict and each check out) and the verification page.

Everything is checked against this issuer's keys and status lists; nothing is fetched from elsewhere.
"""

from __future__ import annotations

import html
import json
import re
from functools import cache
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
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
        "description": "The credential to verify: the W3C edition (a JSON object), or the SD-JWT VC edition in its "
        "compact form `<JWT>~<disclosure>~...~[<KB-JWT>]` (`application/dc+sd-jwt`, `text/plain`, or a JSON string).",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/dc+sd-jwt": {"schema": {"type": "string"}},
        },
    }
}
# '<base64url>.<base64url>.<base64url>~': where an SD-JWT VC starts (a W3C credential is a JSON object).
_SD_JWT_START = re.compile(rb"^\s*\"?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+~")


def verification_router(
    database: Database, issuer: Issuer, workers: CanonicalWorkers, max_depth: int = 64
) -> APIRouter:
    router = APIRouter(tags=["verification"])

    @router.post("/verify", responses=errors(413, 422, 503), openapi_extra=_BODY)
    async def verify(
        request: Request,
        aud: Annotated[str | None, Query(max_length=2000, description="SD-JWT VC: the KB-JWT's expected aud")] = None,
        nonce: Annotated[
            str | None, Query(max_length=500, description="SD-JWT VC: the KB-JWT's expected nonce")
        ] = None,
    ) -> VerificationOut:
        """Verify a credential against this issuer's keys and status lists (nothing is fetched from elsewhere).

        Either edition: the W3C credential (JSON object), or an SD-JWT VC, issued or presented with a key-binding
        JWT (checked against `cnf.jwk`, `sd_hash`, `iat` within five minutes, and `aud`/`nonce` when given here).

        200 for a JSON object: `verified` says whether every check passed, `checks` says which did not and why.
        A credential of another issuer is answered as not verified, with the reason; a document claiming one of
        our credential ids that differs from it fails the signature check. 422 for a body that is not JSON, not
        an object, nested too deeply, or over the canonicalisation limits (blank nodes, work, time budget); 503
        when every verification worker stays busy."""
        body = await request.body()  # bounded by REQUEST_BODY_LIMIT (reliability.http.BodyLimit): 413 beyond
        if _SD_JWT_START.match(body):
            return await run_in_threadpool(_sd_jwt_verdict, database, issuer, _presentation(body), aud, nonce)
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


def _presentation(body: bytes) -> str:
    """The compact SD-JWT in the body, sent as is or as a JSON string."""
    try:
        text = body.decode("ascii").strip()
        value = json.loads(text) if text.startswith('"') else text
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(422, "the body is neither a compact SD-JWT nor a JSON string holding one") from None
    if not isinstance(value, str):
        raise HTTPException(422, "the body is neither a compact SD-JWT nor a JSON string holding one")
    return value


def _sd_jwt_verdict(
    database: Database, issuer: Issuer, presentation: str, aud: str | None, nonce: str | None
) -> VerificationOut:
    verification = usecases.verify_sd_jwt(database, issuer, presentation, audience=aud, nonce=nonce)
    result, claims = verification.result, verification.claims or {}
    subject, awarding = _object(claims.get("credentialSubject")), _object(claims.get("issuer"))
    achievement = _object(subject.get("achievement"))
    return VerificationOut(
        verified=result.verified,
        revoked=result.revoked,
        checks=[CheckOut(name=c.name, ok=c.ok, reason=c.reason) for c in result.checks],
        credential_id=None,  # the SD-JWT VC edition carries no credential URL (it would link presentations)
        learner=_text(subject.get("name")),  # only when the holder disclosed it
        title=_text(achievement.get("name")),
        issuer=_text(awarding.get("name")),
        issued=_text(claims.get("validFrom")),
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@cache
def _asset(name: str) -> str:
    return resources.files("certification").joinpath("web").joinpath(name).read_text("utf-8")
