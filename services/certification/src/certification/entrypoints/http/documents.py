"""The documents verifiers and wallets dereference (open, CORS): the issuer's controller document, our JSON-LD
context and the status lists (W3C Bitstring and IETF Token Status List); for the SD-JWT VC edition, the JWT VC
Issuer Metadata (its ES256 keys), the type metadata ``vct`` names and the logo it shows."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import JSONResponse, Response

from certification import usecases
from certification.adapters.contexts import microcredential_context
from certification.adapters.issuer import Issuer
from certification.adapters.sd_jwt_vc import type_metadata
from certification.adapters.sd_jwt_vc_metadata import LOGO_SVG
from certification.adapters.token_status_list import STATUS_LIST_MEDIA_TYPE
from certification.entrypoints.http.models import StatusListIdPath, errors
from certification.store import Database

JSON_LD = "application/ld+json"
# Verifiers, wallets and the verification page of another site fetch these from the browser.
OPEN_CORS = {"Access-Control-Allow-Origin": "*"}


def documents_router(database: Database, issuer: Issuer) -> APIRouter:
    router = APIRouter(tags=["issuer"])

    @router.get("/issuer", summary="Controller document of the issuer (its public keys)")
    def issuer_document() -> JSONResponse:
        """Resolves the issuer id: every key that signs or signed credentials, as Multikey verification methods."""
        return JSONResponse(issuer.controller_document(), headers=OPEN_CORS)

    @router.get("/contexts/microcredential/v1", summary="Our JSON-LD context")
    def context_document() -> Response:
        return _json(microcredential_context(issuer.base_url), JSON_LD, {**OPEN_CORS, "Cache-Control": "max-age=86400"})

    @router.get("/status-lists/{list_id}", responses=errors(404, 422))
    def status_list(list_id: StatusListIdPath) -> JSONResponse:
        """The signed BitstringStatusListCredential (revocation); re-signed at every revocation."""
        document = usecases.status_list_document(database, list_id)
        if document is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"there is no status list {list_id!r}")
        # Revocations must reach verifiers promptly: caches revalidate every time.
        return JSONResponse(document, headers={**OPEN_CORS, "Cache-Control": "no-cache"})

    @router.get("/status-lists/{list_id}/token", responses=errors(404, 422), response_class=Response)
    def status_list_token(list_id: StatusListIdPath) -> Response:
        """The IETF Token Status List (`application/statuslist+jwt`, ES256) of the same bits: the SD-JWT VC
        edition's revocation. Signed once per revision of the list."""
        token = usecases.status_list_token(database, issuer, list_id)
        if token is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"there is no status list {list_id!r}")
        return Response(token, media_type=STATUS_LIST_MEDIA_TYPE, headers={**OPEN_CORS, "Cache-Control": "no-cache"})

    @router.get("/.well-known/jwt-vc-issuer", summary="JWT VC Issuer Metadata (the SD-JWT VC edition's keys)")
    def jwt_vc_issuer() -> JSONResponse:
        """`issuer` (the SD-JWT VC `iss`) and `jwks`: the ES256 key that signs, then the retired ones that still
        verify, each with its `kid`."""
        return JSONResponse(issuer.jwt_vc_issuer_metadata(), headers={**OPEN_CORS, "Cache-Control": "max-age=3600"})

    @router.get("/types/microcredential/v1", summary="SD-JWT VC type metadata of the micro-credential")
    def type_metadata_document() -> JSONResponse:
        """What `vct` names: display (en, nl) and every claim's labels and selective-disclosure policy."""
        return JSONResponse(type_metadata(issuer), headers={**OPEN_CORS, "Cache-Control": "max-age=86400"})

    @router.get("/static/microcredential-logo.svg", include_in_schema=False)
    def logo() -> Response:
        return Response(LOGO_SVG, media_type="image/svg+xml", headers={**OPEN_CORS, "Cache-Control": "max-age=86400"})

    return router


def _json(document: Any, media_type: str, headers: dict[str, str]) -> Response:
    return Response(json.dumps(document, ensure_ascii=False), media_type=media_type, headers=headers)
