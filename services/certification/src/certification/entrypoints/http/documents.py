"""The documents verifiers dereference (open, CORS): the issuer's controller document, our JSON-LD context and
the status lists."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import JSONResponse, Response

from certification import usecases
from certification.adapters.contexts import microcredential_context
from certification.adapters.issuer import Issuer
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

    return router


def _json(document: Any, media_type: str, headers: dict[str, str]) -> Response:
    return Response(json.dumps(document, ensure_ascii=False), media_type=media_type, headers=headers)
