"""Credentials: read one as signed (open; its random id is the capability), its printable certificate (open,
showing no more than the JSON), the ones held for want of metadata (credentials:read) and revocation
(credentials:revoke); both for systems only, never a student's token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from reliability.auth import Principal, require
from reliability.pagination import PageRequest, cursor_after, page_request

from certification import usecases
from certification.adapters.issuer import Issuer
from certification.entrypoints.http.documents import OPEN_CORS
from certification.entrypoints.http.models import (
    CredentialIdPath,
    HeldList,
    RevocationOut,
    RevocationRequest,
    errors,
    held_out,
)
from certification.store import Database


def credentials_router(database: Database, issuer: Issuer) -> APIRouter:
    router = APIRouter(prefix="/credentials", tags=["credentials"])

    # Declared before /{credential_id}, which would otherwise take "held" for an id.
    @router.get("/held", responses=errors(401, 403, 422, 429))
    def list_held(
        _principal: Annotated[Principal, Depends(require("credentials:read", systems_only=True))],
        page: Annotated[PageRequest, Depends(page_request)],
    ) -> HeldList:
        """Complete enrolments whose credential waits for catalogue metadata (issued when it arrives); a page of
        at most `limit`, `next_cursor` names the next one."""
        rows = usecases.held_credentials(database, page.offset, page.fetch_limit())
        next_cursor = cursor_after(page, len(rows))
        rows = rows[: page.limit]
        return HeldList(count=len(rows), held=[held_out(row) for row in rows], next_cursor=next_cursor)

    @router.get("/{credential_id}", responses=errors(404, 422))
    def get_credential(credential_id: CredentialIdPath) -> JSONResponse:
        """The signed credential exactly as issued (a revoked one too: its status list says it is revoked)."""
        document = usecases.credential_document(database, credential_id)
        if document is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"there is no credential {credential_id!r}")
        return JSONResponse(document, headers=OPEN_CORS)

    @router.get(
        "/{credential_id}/certificate.pdf",
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}}}, **errors(404, 422)},
    )
    def get_certificate(credential_id: CredentialIdPath) -> Response:
        """A printable one-page certificate of the credential, with a QR code to its verification page."""
        pdf = usecases.certificate_pdf(database, issuer, credential_id)
        if pdf is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"there is no credential {credential_id!r}")
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="certificate-{credential_id}.pdf"'},
        )

    router.add_api_route(
        "/{credential_id}/revocation",
        revocation_route(database, issuer),
        methods=["POST"],
        dependencies=[Depends(require("credentials:revoke", systems_only=True))],
        responses=errors(401, 403, 404, 413, 422, 429),
    )
    return router


def revocation_route(database: Database, issuer: Issuer) -> Any:
    async def revoke_credential(credential_id: CredentialIdPath, request: RevocationRequest) -> RevocationOut:
        """Revoke: sets the credential's bit in its status list, re-signs the list, publishes CredentialRevoked.

        Repeating it changes nothing and publishes nothing; the first reason stands."""
        try:
            outcome = await run_in_threadpool(
                usecases.revoke_credential, database, credential_id, request.reason, issuer
            )
        except usecases.CredentialNotFound as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
        credential = outcome.credential
        assert credential.revoked_at is not None and credential.revocation_reason is not None
        return RevocationOut(
            credential_id=credential.id,
            enrolment_id=credential.enrolment_id,
            revoked_at=credential.revoked_at,
            reason=credential.revocation_reason,
            status_list=issuer.status_list_url(credential.status_list_id),
            status_list_index=credential.status_index,
            already_revoked=not outcome.changed,
        )

    return revoke_credential
