"""The HTTP API of the certification service: one router per resource, each route request -> use case -> response.

Open (a credential is meant to be shown, and verifiers must fetch what it points to):
  GET /credentials/{id}, GET /credentials/{id}/certificate.pdf, GET /issuer, GET /status-lists/{id},
  GET /contexts/microcredential/v1, POST /verify, GET /verify (page), /health, /metrics, /docs;
  for the SD-JWT VC edition: GET /status-lists/{id}/token, GET /.well-known/jwt-vc-issuer,
  GET /types/microcredential/v1.
Bearer token with a scope (reliability.auth):
  POST /credentials/{id}/revocation (credentials:revoke, systems only),
  GET /enrolments/{id}/progress (credentials:read; a student's token only their own, another's is 404),
  GET /credentials/held, GET /assessments/rejected (credentials:read, systems only; paginated),
  GET /credentials/{id}/offer (credentials:read; a student's token only their own), POST /credentials/{id}/offers
  (credentials:offer, systems only).
Wallets (OpenID4VCI, entrypoints/http/oid4vci.py): /.well-known/openid-credential-issuer,
  /.well-known/oauth-authorization-server, GET /oid4vci/offers/{id}, POST /oid4vci/token (pre-authorized code
  and PIN), POST /oid4vci/nonce, POST /oid4vci/credential (the access token of the token endpoint).

Credential ids are random UUIDs, so an open credential URL is a capability: whoever was given it (the learner,
an employer they showed it to, the QR code on the certificate) may read it; nobody can enumerate them. The PDF
shows no more than the JSON (the learner's name, no e-mail), so it is open on the same terms.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from reliability.http import service_app
from reliability.runtime import ServiceRuntime

from certification.adapters.canonical_workers import CanonicalWorkers
from certification.adapters.issuer import Issuer
from certification.config import CertificationSettings
from certification.entrypoints.http.credentials import credentials_router
from certification.entrypoints.http.documents import documents_router
from certification.entrypoints.http.enrolments import enrolments_router
from certification.entrypoints.http.models import RevocationRequest, VerificationOut
from certification.entrypoints.http.oid4vci import oid4vci_router
from certification.entrypoints.http.oid4vci_offers import offers_router
from certification.entrypoints.http.verification import verification_router
from certification.store import Database


def create_app(
    settings: CertificationSettings,
    database: Database,
    issuer: Issuer,
    runtime: ServiceRuntime | None = None,
    canonical_workers: CanonicalWorkers | None = None,
) -> FastAPI:
    """The app; `canonical_workers` (the processes POST /verify canonicalises in) are made from the settings
    unless given (tests share one set)."""
    app = service_app(
        title="Certification service",
        description="Micro-credentials (W3C VC 2.0 / Open Badges 3.0, eddsa-rdfc-2022) for completed enrolments: "
        "the credentials, their issuer and revocation lists, verification, and the printable certificate.",
        engine=database.engine,
        runtime=runtime,
        settings=settings,
    )

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("verify")

    app.include_router(documents_router(database, issuer))
    app.include_router(credentials_router(database, issuer))
    app.include_router(enrolments_router(database))
    # Wallets (OpenID4VCI, issue 13): the protocol's endpoints, the learner's offer page and the re-offer.
    app.include_router(oid4vci_router(database, issuer, settings.offer_policy()))
    app.include_router(offers_router(database, issuer, settings.offer_policy()))
    workers = canonical_workers or CanonicalWorkers(
        issuer.base_url,
        settings.canonical_limits(),
        workers=settings.verify_workers,
        budget_seconds=settings.verify_time_budget_seconds,
    )
    app.state.canonical_workers = workers  # started at their first job; bootstrap starts them at once
    app.include_router(verification_router(database, issuer, workers, settings.verify_max_json_depth))
    return app


__all__ = ["RevocationRequest", "VerificationOut", "create_app"]
