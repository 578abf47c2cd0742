"""A test wallet for the OpenID4VCI tests: its keys, its key proofs, and the certification app it talks to, whose
issuer has a clock the test moves (offer expiry, nonce and proof freshness)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx
import jwt
import pytest
from certification.adapters import generate_secret_key
from certification.adapters.issuer import Issuer
from certification.config import CertificationSettings
from certification.entrypoints.http import create_app
from certification.entrypoints.kafka import event_handlers
from certification.store import CredentialRow, Database
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tests.certification.certification_support import (
    API_TOKENS,
    BASE_URL,
    LEARNER,
    TOKEN,
    apply,
    credential_of,
    enrolment_created,
    heritage_published,
    passes,
    queued_events,
)

AS_JSON = {"Accept": "application/json"}

PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
LDP_VC = "microcredential_ldp_vc"
SD_JWT = "microcredential_dc_sd_jwt"


@dataclass
class Clock:
    """The issuer's clock; starts at the real now (credentials are dated by it) and moves only when told."""

    at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


@dataclass
class WalletKey:
    private: Any
    alg: str

    @classmethod
    def es256(cls) -> WalletKey:
        return cls(ec.generate_private_key(ec.SECP256R1()), "ES256")

    @classmethod
    def eddsa(cls) -> WalletKey:
        return cls(ed25519.Ed25519PrivateKey.generate(), "EdDSA")

    @property
    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.algorithms.ECAlgorithm if self.alg == "ES256" else jwt.algorithms.OKPAlgorithm
        return dict(json.loads(algorithm.to_jwk(self.private.public_key())))

    def proof(self, nonce: str | None, *, audience: str = BASE_URL, iat: float | None = None, **header: Any) -> str:
        """A key proof as OpenID4VCI 1.0 appendix F.1 has it; `header` replaces or adds header members."""
        claims: dict[str, Any] = {"aud": audience, "iat": int(time.time() if iat is None else iat)}
        if nonce is not None:
            claims["nonce"] = nonce
        headers = {"typ": "openid4vci-proof+jwt", "jwk": self.public_jwk, **header}
        headers = {name: value for name, value in headers.items() if value is not None}
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=headers)


def offers_made(engine: Any) -> list[Mapping[str, Any]]:
    """What the notification system was sent: CredentialOfferCreated payloads, oldest first."""
    return [event.data.model_dump() for event in queued_events(engine, "CredentialOfferCreated")]


def offer_id_of(qr_payload: str) -> str:
    prefix = "openid-credential-offer://?credential_offer_uri="
    assert qr_payload.startswith(prefix)
    return unquote(qr_payload.removeprefix(prefix)).rsplit("/", 1)[1]


async def redeem(client: Any, code: str, tx_code: str | None) -> Any:
    form = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": code}
    if tx_code is not None:
        form["tx_code"] = tx_code
    return await client.post("/oid4vci/token", data=form)


async def nonce(client: Any) -> str:
    response = await client.post("/oid4vci/nonce")
    assert response.status_code == 200, response.text
    return str(response.json()["c_nonce"])


async def request_credential(client: Any, token: str | None, body: Any) -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return await client.post("/oid4vci/credential", json=body, headers=headers)


# --- fixtures (imported by the test modules) -------------------------------------------------------------------

OPERATOR_TOKEN = secrets.token_urlsafe(32)
WALLET_API_TOKENS = f"{API_TOKENS};operator:{OPERATOR_TOKEN}:credentials:offer"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def wallet_issuer(clock: Clock) -> Issuer:
    return Issuer.create(base_url=BASE_URL, key_id="key-2026", secret=generate_secret_key(), clock=clock)


@pytest.fixture
async def wallet_client(database_url, engine, wallet_issuer, canonical_workers):
    settings = CertificationSettings(
        database_url=database_url, public_base_url=BASE_URL, api_tokens=WALLET_API_TOKENS, signing_key_id="key-2026"
    )
    app = create_app(settings, Database(engine), wallet_issuer, canonical_workers=canonical_workers)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        yield client


def issue(engine: Any, issuer: Issuer, enrolment_id: str, student_id: str = "s0201234") -> CredentialRow:
    """A credential issued the way Kafka events issue it (with its first offer)."""
    learner = {**LEARNER, "id": student_id}
    apply(engine, event_handlers(issuer), enrolment_created(enrolment_id, learner=learner), *passes(enrolment_id))
    credential = credential_of(engine, enrolment_id)
    assert credential is not None
    return credential


@pytest.fixture
def published(engine, wallet_issuer) -> None:
    apply(engine, event_handlers(wallet_issuer), heritage_published())


@dataclass(frozen=True)
class Offered:
    credential: CredentialRow
    offer_id: str
    tx_code: str
    code: str


async def offered(client: Any, engine: Any, issuer: Issuer, enrolment_id: str) -> Offered:
    """Issue a credential, take its PIN from the notification event, its offer from the learner's page (as the
    registrar sees it) and its code from the offer by reference."""
    credential = issue(engine, issuer, enrolment_id)
    notice = [offer for offer in offers_made(engine) if offer["credential_id"] == credential.id][-1]
    page = await client.get(notice["offer_page_url"], headers={"Authorization": f"Bearer {TOKEN}", **AS_JSON})
    offer_id = offer_id_of(page.json()["qr_payload"])
    document = (await client.get(f"/oid4vci/offers/{offer_id}")).json()
    code = document["grants"][PRE_AUTHORIZED]["pre-authorized_code"]
    return Offered(credential, offer_id, notice["tx_code"], code)


async def access_token(client: Any, offer: Offered) -> str:
    response = await redeem(client, offer.code, offer.tx_code)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])
