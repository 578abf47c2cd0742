"""Who may see and do what, with access tokens of a real OpenID provider (oidc-provider) on the real HTTP stack.

Campus systems get client-credentials tokens, two students authorization-code tokens; the services check them
against the provider's JWKS (found through discovery). Every refusal is an HTTP answer of the real app.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from billing import usecases as billing_usecases
from billing.adapters.policy_files import load_builtin_policy
from billing.bootstrap import MIGRATIONS as BILLING_MIGRATIONS
from billing.config import BillingSettings
from billing.entrypoints.http import create_app as billing_app
from billing.store import Database as BillingDatabase
from billing.store import Store as BillingStore
from certification.adapters import generate_secret_key
from certification.adapters.issuer import Issuer
from certification.bootstrap import migrate as migrate_certification
from certification.config import CertificationSettings
from certification.entrypoints.http import create_app as certification_app
from certification.entrypoints.kafka import event_handlers
from certification.store import Database as CertificationDatabase
from enrolment.adapters.catalogue import load_catalogue
from enrolment.config import EnrolmentSettings
from enrolment.entrypoints.http import create_app as enrolment_app
from enrolment.store import Database as EnrolmentDatabase
from enrolment.store import migrate as migrate_enrolment
from reliability.database import create_database_engine, transaction
from reliability.migrations import upgrade_to_head

from tests.billing.billing_support import catalogue_of, enrolment_created, record_catalogue
from tests.certification.certification_support import BASE_URL, LEARNER, apply
from tests.certification.certification_support import enrolment_created as certification_enrolment
from tests.enrolment.enrolment_support import enrolment_request
from tests.oidc.oidc_provider import STUDENTS, OpenIdProvider, oidc_provider, signing_key  # noqa: F401

AMIRA, BRAM = STUDENTS["amira.account"], STUDENTS["bram.account"]


def oidc_settings(provider: OpenIdProvider, service: str) -> dict[str, object]:
    return {
        "oidc_issuer": provider.issuer,
        "oidc_audience": f"urn:mc:{service}",
        "oidc_leeway_seconds": 0,
        "oidc_jwks_min_refresh_seconds": 0,
    }


@dataclass
class Services:
    enrolment: httpx.AsyncClient
    billing: httpx.AsyncClient
    amira_enrolment: str
    bram_enrolment: str


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def services(tmp_path: Path, oidc_provider: OpenIdProvider) -> AsyncIterator[Services]:  # noqa: F811
    enrolment_url, billing_url = f"sqlite:///{tmp_path}/enrolment.db", f"sqlite:///{tmp_path}/billing.db"
    migrate_enrolment(enrolment_url)
    upgrade_to_head(billing_url, BILLING_MIGRATIONS)
    enrolment_engine, billing_engine = create_database_engine(enrolment_url), create_database_engine(billing_url)
    enrolment = enrolment_app(
        EnrolmentSettings(database_url=enrolment_url, **oidc_settings(oidc_provider, "enrolment")),  # type: ignore[arg-type]
        EnrolmentDatabase(enrolment_engine),
        load_catalogue(),
    )
    billing = billing_app(
        BillingSettings(database_url=billing_url, **oidc_settings(oidc_provider, "billing")),  # type: ignore[arg-type]
        BillingDatabase(billing_engine),
    )
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=enrolment), base_url="http://enrolment") as enrolling,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=billing), base_url="http://billing") as billed,
    ):
        registry = bearer(oidc_provider.system_token("student-administration", "enrolment"))
        ids = []
        for student in (AMIRA, BRAM):
            created = await enrolling.post("/enrolments", json=enrolment_request(student), headers=registry)
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        policy = load_builtin_policy("uantwerp-en", 1)
        enrolled = [enrolment_created(i, student_id=s) for i, s in zip(ids, (AMIRA, BRAM), strict=True)]
        # Billing prices from the catalogue: its entry comes first, as the enrolment service publishes it.
        record_catalogue(billing_engine, policy, *catalogue_of(*enrolled))
        with transaction(billing_engine) as session:
            for event in enrolled:
                billing_usecases.bill_enrolment_event(BillingStore(session), event, policy)
        yield Services(enrolling, billed, ids[0], ids[1])
    enrolment_engine.dispose()
    billing_engine.dispose()


async def test_a_student_reads_their_own_statement_and_another_students_is_not_found(services, oidc_provider):  # noqa: F811
    amira = bearer(oidc_provider.student_token("amira.account", "billing"))
    finance = bearer(oidc_provider.system_token("finance-office", "billing"))

    own = await services.billing.get(f"/enrolments/{services.amira_enrolment}/statement", headers=amira)
    other = await services.billing.get(f"/enrolments/{services.bram_enrolment}/statement", headers=amira)
    unknown = await services.billing.get("/enrolments/enr-never-existed/statement", headers=amira)
    seen_by_finance = await services.billing.get(f"/enrolments/{services.bram_enrolment}/statement", headers=finance)

    assert own.status_code == 200 and own.json()["student_id"] == AMIRA
    assert other.status_code == 404 and BRAM not in other.text
    assert unknown.status_code == 404
    assert other.json()["error"]["message"].replace(services.bram_enrolment, "ID") == unknown.json()["error"][
        "message"
    ].replace("enr-never-existed", "ID")
    assert seen_by_finance.status_code == 200 and seen_by_finance.json()["student_id"] == BRAM


async def test_a_student_sees_and_cancels_only_their_own_enrolments(services, oidc_provider):  # noqa: F811
    amira = bearer(oidc_provider.student_token("amira.account", "enrolment"))
    registry = bearer(oidc_provider.system_token("student-administration", "enrolment"))

    other = await services.enrolment.get(f"/enrolments/{services.bram_enrolment}", headers=amira)
    cancel_other = await services.enrolment.post(f"/enrolments/{services.bram_enrolment}/cancellation", headers=amira)
    list_other = await services.enrolment.get("/enrolments", params={"student_id": BRAM}, headers=amira)
    list_own = await services.enrolment.get("/enrolments", headers=amira)
    enrol_other = await services.enrolment.post("/enrolments", json=enrolment_request(BRAM), headers=amira)
    bram_after = await services.enrolment.get(f"/enrolments/{services.bram_enrolment}", headers=registry)

    assert other.status_code == 404 and cancel_other.status_code == 404
    assert list_other.status_code == 200 and list_other.json() == []
    assert [entry["id"] for entry in list_own.json()] == [services.amira_enrolment]
    assert enrol_other.status_code == 403
    assert bram_after.status_code == 200 and bram_after.json()["status"] == "active"


async def test_a_token_without_the_operations_scope_is_forbidden(services, oidc_provider):  # noqa: F811
    reader = bearer(oidc_provider.system_token("finance-office", "billing", scope="billing:read"))
    student = bearer(oidc_provider.student_token("amira.account", "billing"))
    registry_on_billing = bearer(oidc_provider.system_token("student-administration", "billing"))

    export = await services.billing.get("/reimbursements", headers=reader)
    pending = await services.billing.get("/cancellations/pending", headers=student)
    statement = await services.billing.get(
        f"/enrolments/{services.amira_enrolment}/statement", headers=registry_on_billing
    )

    for refused in (export, pending, statement):
        assert refused.status_code == 403, refused.text
        assert refused.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_expired_misaddressed_foreign_and_tampered_tokens_are_invalid(
    services,
    oidc_provider,  # noqa: F811
    tmp_path,
):
    expired = oidc_provider.system_token("short-lived", "billing")
    for_enrolment = oidc_provider.system_token("finance-office", "enrolment", scope="billing:read")
    good = oidc_provider.system_token("finance-office", "billing")
    header, payload, signature = _segments(good)
    claims = jwt.decode(good, options={"verify_signature": False})
    more_scope = f"{header}.{_b64({**claims, 'sub': 'registrar', 'client_id': 'registrar'})}.{signature}"
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    unsigned = f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{payload}."
    # The classic confusion: HMAC keyed with the issuer's *public* key, which anyone can fetch from the JWKS.
    public_jwk = {key: value for key, value in oidc_provider.keys[0].items() if key != "d"}
    hs_input = f"{_b64({'alg': 'HS256', 'typ': 'at+jwt', 'kid': public_jwk['kid']})}.{payload}"
    hs_mac = hmac.new(json.dumps(public_jwk).encode(), hs_input.encode(), hashlib.sha256).digest()
    hs256 = f"{hs_input}.{base64.urlsafe_b64encode(hs_mac).decode().rstrip('=')}"
    # Another issuer holding the very same keys: only `iss` tells its tokens apart.
    elsewhere = OpenIdProvider(workdir=tmp_path, keys=oidc_provider.keys)
    elsewhere.start()
    try:
        foreign = elsewhere.system_token("finance-office", "billing")
    finally:
        elsewhere.stop()
    await asyncio.sleep(2.1)  # the short-lived client's tokens live one second; the service allows no leeway here

    attempts = {
        "expired": expired,
        "wrong audience": for_enrolment,
        "wrong issuer": foreign,
        "tampered claims": more_scope,
        "tampered signature": f"{header}.{payload}.{flipped}",
        "alg none": unsigned,
        "HS256 with the public key as secret": hs256,
    }
    for attempt, token in attempts.items():
        response = await services.billing.get("/reimbursements", headers=bearer(token))
        assert response.status_code == 401, attempt
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"', attempt
    assert (await services.billing.get("/reimbursements", headers=bearer(good))).status_code == 200


async def test_tokens_keep_working_when_the_provider_rotates_its_signing_key(tmp_path):
    provider = OpenIdProvider(workdir=tmp_path, keys=[signing_key()])
    provider.start()
    try:
        url = f"sqlite:///{tmp_path}/billing.db"
        upgrade_to_head(url, BILLING_MIGRATIONS)
        engine = create_database_engine(url)
        app = billing_app(
            BillingSettings(database_url=url, **oidc_settings(provider, "billing")),  # type: ignore[arg-type]
            BillingDatabase(engine),
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://billing") as client:
            before = provider.system_token("finance-office", "billing")
            assert (await client.get("/reimbursements", headers=bearer(before))).status_code == 200
            provider.rotate()
            after = provider.system_token("finance-office", "billing")
            assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
            assert (await client.get("/reimbursements", headers=bearer(after))).status_code == 200
            assert (await client.get("/reimbursements", headers=bearer(before))).status_code == 200
        engine.dispose()
    finally:
        provider.stop()


async def test_a_student_sees_only_their_own_progress_and_may_not_revoke_or_list(tmp_path, oidc_provider):  # noqa: F811
    url = f"sqlite:///{tmp_path}/certification.db"
    migrate_certification(url)
    engine = create_database_engine(url)
    issuer = Issuer.create(base_url=BASE_URL, key_id="key-1", secret=generate_secret_key(), retired_keys=[])
    learners = {AMIRA: "enr-amira", BRAM: "enr-bram"}
    apply(
        engine,
        event_handlers(issuer),
        *(
            certification_enrolment(enrolment_id, learner={**LEARNER, "id": student})
            for student, enrolment_id in learners.items()
        ),
    )
    app = certification_app(
        CertificationSettings(
            database_url=url, public_base_url=BASE_URL, **oidc_settings(oidc_provider, "certification")
        ),  # type: ignore[arg-type]
        CertificationDatabase(engine),
        issuer,
    )
    amira = bearer(oidc_provider.student_token("amira.account", "certification"))
    registrar = bearer(oidc_provider.system_token("registrar", "certification"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        own = await client.get("/enrolments/enr-amira/progress", headers=amira)
        other = await client.get("/enrolments/enr-bram/progress", headers=amira)
        held = await client.get("/credentials/held", headers=amira)
        revoke = await client.post("/credentials/any-id/revocation", json={"reason": "mine"}, headers=amira)
        seen_by_registrar = await client.get("/enrolments/enr-bram/progress", headers=registrar)
        held_for_registrar = await client.get("/credentials/held", headers=registrar)
    engine.dispose()

    assert own.status_code == 200 and own.json()["enrolment_id"] == "enr-amira"
    assert other.status_code == 404
    assert held.status_code == 403 and revoke.status_code == 403  # the student's token holds both scopes
    assert seen_by_registrar.status_code == 200 and held_for_registrar.status_code == 200
