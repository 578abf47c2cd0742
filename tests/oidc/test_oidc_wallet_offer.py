"""The learner's wallet offer page with real OpenID provider tokens: a student sees only their own credential's
offer (another's is 404, as everywhere), and only a system may re-offer (credentials:offer, systems only)."""

from __future__ import annotations

import httpx
from certification.adapters import generate_secret_key
from certification.adapters.issuer import Issuer
from certification.bootstrap import migrate as migrate_certification
from certification.config import CertificationSettings
from certification.entrypoints.http import create_app as certification_app
from certification.entrypoints.kafka import event_handlers
from certification.store import Database as CertificationDatabase
from reliability.database import create_database_engine

from tests.certification.certification_support import (
    BASE_URL,
    LEARNER,
    apply,
    credential_of,
    heritage_published,
    passes,
)
from tests.certification.certification_support import enrolment_created as certification_enrolment
from tests.oidc.oidc_provider import STUDENTS, oidc_provider, signing_key  # noqa: F401
from tests.oidc.test_oidc_access import bearer, oidc_settings

AMIRA, BRAM = STUDENTS["amira.account"], STUDENTS["bram.account"]


async def test_a_student_sees_only_their_own_offer_and_may_not_reoffer(tmp_path, oidc_provider):  # noqa: F811
    url = f"sqlite:///{tmp_path}/certification.db"
    migrate_certification(url)
    engine = create_database_engine(url)
    issuer = Issuer.create(base_url=BASE_URL, key_id="key-1", secret=generate_secret_key(), retired_keys=[])
    events = [heritage_published()]
    for student, enrolment_id in ((AMIRA, "enr-amira"), (BRAM, "enr-bram")):
        events += [certification_enrolment(enrolment_id, learner={**LEARNER, "id": student}), *passes(enrolment_id)]
    apply(engine, event_handlers(issuer), *events)
    own, other = credential_of(engine, "enr-amira"), credential_of(engine, "enr-bram")
    assert own is not None and other is not None
    settings = CertificationSettings(
        database_url=url, public_base_url=BASE_URL, **oidc_settings(oidc_provider, "certification")
    )  # type: ignore[arg-type]
    app = certification_app(settings, CertificationDatabase(engine), issuer)
    amira = {**bearer(oidc_provider.student_token("amira.account", "certification")), "Accept": "application/json"}
    registrar = bearer(oidc_provider.system_token("registrar", "certification"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        mine = await client.get(f"/credentials/{own.id}/offer", headers=amira)
        theirs = await client.get(f"/credentials/{other.id}/offer", headers=amira)
        student_reoffer = await client.post(f"/credentials/{own.id}/offers", headers=amira)
        registrar_reoffer = await client.post(f"/credentials/{other.id}/offers", headers=registrar)
    engine.dispose()

    assert mine.status_code == 200 and mine.json()["state"] == "open"
    assert mine.json()["qr_payload"].startswith("openid-credential-offer://?credential_offer_uri=")
    assert theirs.status_code == 404
    assert student_reoffer.status_code == 403  # the student's token holds credentials:offer, but it is no system
    assert registrar_reoffer.status_code == 201
