"""The npm verifier against the running service: uvicorn on a local port, PUBLIC_BASE_URL that address, and
`@sd-jwt/sd-jwt-vc` fetching what it needs itself (the JWKS from the well-known URL of `iss`, the status list token
with its content-type check, the type metadata at `vct`)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from certification.adapters import generate_secret_key
from certification.adapters.issuer import Issuer
from certification.bootstrap import migrate
from certification.config import CertificationSettings
from certification.entrypoints.http import create_app
from certification.entrypoints.kafka import event_handlers
from certification.store import Database
from reliability.database import create_database_engine

from tests.certification.certification_support import (
    API_TOKENS,
    TOKEN,
    apply,
    credential_of,
    enrolment_created,
    heritage_published,
    passes,
)
from tests.certification.sdjwt.test_sdjwt_node import AUDIENCE, NONCE, run_verifier
from tests.certification.sdjwt_support import Holder, sd_jwt_of

pytestmark = pytest.mark.node


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{tmp_path_factory.mktemp('sdjwt')}/certification.db"
    issuer = Issuer.create(base_url=base_url, key_id="key-1", secret=generate_secret_key())
    migrate(database_url)
    engine = create_database_engine(database_url)
    handlers = event_handlers(issuer)
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"), *passes("enr-1"))
    apply(engine, handlers, enrolment_created("enr-2"), *passes("enr-2"))
    settings = CertificationSettings(database_url=database_url, public_base_url=base_url, api_tokens=API_TOKENS)
    app = create_app(settings, Database(engine), issuer)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield {"base_url": base_url, "issuer": issuer, "engine": engine}
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.canonical_workers.close()
        engine.dispose()


def test_the_npm_verifier_fetches_our_documents_and_agrees(node, running):
    base_url, issuer, engine = running["base_url"], running["issuer"], running["engine"]
    valid, revoked = credential_of(engine, "enr-1"), credential_of(engine, "enr-2")
    assert valid is not None and revoked is not None
    answer = httpx.post(
        f"{base_url}/credentials/{revoked.id}/revocation",
        json={"reason": "issued in error"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 200
    holder = Holder()
    token_url = f"{base_url}/status-lists/1/token"

    cases = run_verifier(
        node,
        {
            "online": True,
            "holder_jwk": holder.private_jwk,
            "credentials": {"valid": sd_jwt_of(issuer, valid, holder), "revoked": sd_jwt_of(issuer, revoked, holder)},
            "audience": AUDIENCE,
            "nonce": NONCE,
            "probe": {"list_uri": token_url, "indices": [valid.status_index, revoked.status_index]},
        },
    )["cases"]

    assert cases["issued"]["ok"], cases["issued"]
    assert cases["issued"]["type_name"] == "University micro-credential"
    assert cases["presented_with_kb"]["ok"], cases["presented_with_kb"]
    assert cases["disclosure_removed"]["ok"]
    assert "name" not in cases["disclosure_removed"]["claims"]["credentialSubject"]
    assert not cases["tampered_with_kb"]["ok"]
    assert not cases["revoked"]["ok"] and "Status is not valid" in cases["revoked"]["error"]
