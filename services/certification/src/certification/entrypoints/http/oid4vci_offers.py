"""A credential's wallet offer: the learner's page with its QR code (credentials:read; a student's token only
their own, another's is 404 as everywhere) and an operator's re-offer (credentials:offer, systems only)."""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from reliability.auth import Principal, require

from certification import usecases
from certification.adapters.issuer import Issuer
from certification.adapters.oid4vci import OfferPolicy
from certification.adapters.oid4vci_metadata import offer_qr_payload, offer_url, qr_svg
from certification.entrypoints.http.models import CredentialIdPath, errors
from certification.entrypoints.http.oid4vci import NO_STORE
from certification.entrypoints.http.verification import PAGE_SECURITY
from certification.store import Database
from certification.usecases import offering

_STATE_TEXT = {
    "open": "Scan this code with your wallet app; it will ask for the 6-digit code we sent you separately.",
    "redeemed": "This offer has been used. Ask the registrar for a new one to add the credential to another wallet.",
    "expired": "This offer has expired. Ask the registrar for a new one.",
    "exhausted": "Too many wrong codes were entered: this offer no longer works. Ask the registrar for a new one.",
    "withdrawn": "This offer was replaced by a newer one.",
    "revoked": "This credential has been revoked; it can no longer be added to a wallet.",
    "none": "There is no wallet offer for this credential yet. Ask the registrar for one.",
}


def offers_router(database: Database, issuer: Issuer, policy: OfferPolicy) -> APIRouter:
    router = APIRouter(prefix="/credentials", tags=["wallets (OpenID4VCI)"])

    @router.get("/{credential_id}/offer", responses=errors(401, 403, 404, 422, 429))
    def learner_offer(
        credential_id: CredentialIdPath,
        request: Request,
        principal: Annotated[Principal, Depends(require("credentials:read"))],
    ) -> Any:
        """The credential's newest wallet offer: an HTML page with its QR code, or JSON when asked for
        (`Accept: application/json`): `state`, `credential_offer_uri`, `qr_payload`, `expires_at`."""
        view = offering.latest_offer(database, credential_id, issuer, policy)
        if view is None or not principal.sees(view.credential.student_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"there is no credential {credential_id!r}")
        out = _offer_out(view, issuer)
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(out, headers=NO_STORE)
        return HTMLResponse(_page(out), headers={**PAGE_SECURITY, **NO_STORE})

    @router.post("/{credential_id}/offers", status_code=201, responses=errors(401, 403, 404, 422, 429))
    async def reoffer(
        credential_id: CredentialIdPath,
        _principal: Annotated[Principal, Depends(require("credentials:offer", systems_only=True))],
    ) -> JSONResponse:
        """A new offer (the earlier one stops working) and a new PIN to the notification system; 409 for a
        revoked credential."""
        try:
            view = await run_in_threadpool(offering.reoffer, database, credential_id, issuer, policy)
        except usecases.CredentialNotFound as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
        except offering.CredentialRevokedError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, "a revoked credential gets no offer") from error
        return JSONResponse(_offer_out(view, issuer), status_code=201, headers=NO_STORE)

    return router


def _offer_out(view: offering.OfferView, issuer: Issuer) -> dict[str, Any]:
    out: dict[str, Any] = {"credential_id": view.credential.id, "state": view.state}
    if view.offer is not None and view.state == "open":
        out["offer_id"] = view.offer.id
        out["credential_offer_uri"] = offer_url(issuer, view.offer.id)
        out["qr_payload"] = offer_qr_payload(issuer, view.offer.id)
    if view.expires_at is not None:
        out["expires_at"] = view.expires_at.isoformat()
    return out


def _page(out: dict[str, Any]) -> str:
    qr = ""
    if "qr_payload" in out:
        link = html.escape(out["qr_payload"])
        qr = f'<figure>{qr_svg(out["qr_payload"])}<figcaption><a href="{link}">Open in a wallet on this device</a>'
        qr += f"</figcaption></figure><p>Valid until {html.escape(out['expires_at'])}.</p>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Add your credential to a wallet</title>'
        '<link rel="stylesheet" href="/static/verify.css"></head><body><main>'
        f"<h1>Add your credential to a wallet</h1><p>{html.escape(_STATE_TEXT[out['state']])}</p>{qr}"
        "</main></body></html>"
    )
