"""OpenID4VCI 1.0 (pre-authorized code flow): the wallet's doors. Open (a wallet has no account here); the token
endpoint wants the pre-authorized code and its PIN, the credential endpoint the access token it gave.

Errors are the spec's JSON `{"error": ..., "error_description": ...}` with `Cache-Control: no-store`; a missing or
bad access token is 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from certification.adapters.issuer import Issuer
from certification.adapters.oid4vci import PRE_AUTHORIZED_GRANT, OfferPolicy, WalletError
from certification.adapters.oid4vci_metadata import LOGO_SVG, authorization_server_metadata, issuer_metadata
from certification.entrypoints.http.documents import OPEN_CORS
from certification.store import Database
from certification.usecases import delivering, offering

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]+=*) *$", re.IGNORECASE)
OfferIdPath = Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def refusal(error: WalletError) -> JSONResponse:
    headers = dict(NO_STORE)
    if error.status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="{error.error}", error_description="{error.description}"'
    body = {"error": error.error, "error_description": error.description}
    return JSONResponse(body, status_code=error.status, headers=headers)


def oid4vci_router(database: Database, issuer: Issuer, policy: OfferPolicy) -> APIRouter:
    router = APIRouter(tags=["wallets (OpenID4VCI)"])

    @router.get("/.well-known/openid-credential-issuer", summary="Credential issuer metadata")
    def credential_issuer_metadata() -> JSONResponse:
        return JSONResponse(issuer_metadata(issuer), headers=OPEN_CORS)

    @router.get("/.well-known/oauth-authorization-server", summary="OAuth authorization server metadata")
    def oauth_metadata() -> JSONResponse:
        return JSONResponse(authorization_server_metadata(issuer), headers=OPEN_CORS)

    @router.get("/oid4vci/logo.svg", include_in_schema=False)
    def logo() -> Response:
        return Response(LOGO_SVG, media_type="image/svg+xml", headers={**OPEN_CORS, "Cache-Control": "max-age=86400"})

    @router.get("/oid4vci/offers/{offer_id}", summary="A credential offer, by reference")
    def credential_offer(offer_id: OfferIdPath) -> JSONResponse:
        """The offer while it is open (404 once redeemed, withdrawn, expired or out of PIN attempts)."""
        document = offering.offer_document(database, offer_id, issuer, policy)
        if document is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "there is no open offer with that id")
        return JSONResponse(document, headers={**NO_STORE, **OPEN_CORS})

    @router.post("/oid4vci/token", summary="Token endpoint (pre-authorized code grant)")
    async def token(request: Request) -> JSONResponse:
        """Form: `grant_type=urn:ietf:params:oauth:grant-type:pre-authorized_code`, `pre-authorized_code`,
        `tx_code`. Answers `{"access_token", "token_type": "Bearer", "expires_in"}`."""
        try:
            form = _token_form(request.headers.get("content-type", ""), await request.body())
            grant = await run_in_threadpool(
                offering.redeem_code, database, form["pre-authorized_code"], form["tx_code"], issuer, policy
            )
        except WalletError as error:
            return refusal(error)
        body = {"access_token": grant.access_token, "token_type": "Bearer", "expires_in": grant.expires_in}
        return JSONResponse(body, headers=NO_STORE)

    @router.post("/oid4vci/nonce", summary="Nonce endpoint")
    def nonce() -> JSONResponse:
        return JSONResponse({"c_nonce": delivering.nonce(issuer)}, headers=NO_STORE)

    @router.post("/oid4vci/credential", summary="Credential endpoint")
    async def credential(request: Request) -> JSONResponse:
        """Bearer access token; `{"credential_configuration_id": ..., "proofs": {"jwt": [<key proof>]}}`. Answers
        `{"credentials": [{"credential": ...}]}`: the W3C edition as a JSON object, the SD-JWT VC as a string."""
        try:
            token_value = _bearer(request.headers.get("authorization"))
            payload = _json_body(await request.body())
            body = await run_in_threadpool(delivering.deliver, database, issuer, token_value, payload)
        except WalletError as error:
            return refusal(error)
        return JSONResponse(body, headers=NO_STORE)

    return router


def _token_form(content_type: str, body: bytes) -> dict[str, str]:
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise WalletError("invalid_request", "the token request is an application/x-www-form-urlencoded form")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as error:
        raise WalletError("invalid_request", "the form does not parse") from error
    if any(len(values) > 1 for values in fields.values()):
        raise WalletError("invalid_request", "a parameter is repeated")
    form = {name: values[0] for name, values in fields.items()}
    if "grant_type" not in form:
        raise WalletError("invalid_request", "grant_type is required")
    if form["grant_type"] != PRE_AUTHORIZED_GRANT:
        raise WalletError("unsupported_grant_type", f"only {PRE_AUTHORIZED_GRANT} is supported")
    for name in ("pre-authorized_code", "tx_code"):
        if not form.get(name):
            raise WalletError("invalid_request", f"{name} is required")
    return form


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    found = _BEARER.match(header)
    if found is None:
        raise WalletError("invalid_token", "the Authorization header must be Bearer <access token>", 401)
    return found.group(1)


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as error:
        raise WalletError("invalid_credential_request", "the credential request is not JSON") from error
