"""The SD-JWT VC edition verified by someone else's code: the OpenWallet Foundation's `@sd-jwt/sd-jwt-vc` (verify.mjs).

What the library is given is what the service serves over its HTTP stack (the FastAPI app through ASGI): the JWT VC
Issuer Metadata, the Token Status List tokens and the type metadata. The library checks our bytes: the ES256
signature by kid, the disclosures, cnf (the key-binding JWT it builds as the wallet), the status list (its own
decoder, so the bit order is not ours), and the type metadata against its schema.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.certification.certification_support import (
    BASE_URL,
    TOKEN,
    apply,
    credential_of,
    enrolment_created,
    heritage_published,
    passes,
)
from tests.certification.sdjwt_support import Holder, payload_of, sd_jwt_of

pytestmark = pytest.mark.node

HERE = Path(__file__).parent
AUDIENCE = "https://employer.example.com"
NONCE = "n-0S6_WzA2Mj"


def run_verifier(node: str, request: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [node, str(HERE / "verify.mjs")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=HERE,
    )
    assert done.returncode == 0 and done.stdout.strip(), f"verify.mjs failed:\n{done.stdout}\n{done.stderr}"
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


@pytest.fixture
async def served(client, engine, handlers, issuer):
    """Two credentials, the second revoked over HTTP; their SD-JWT VCs; what a verifier fetches, over HTTP."""
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"), *passes("enr-1"))
    apply(engine, handlers, enrolment_created("enr-2"), *passes("enr-2"))
    valid_row, revoked_row = credential_of(engine, "enr-1"), credential_of(engine, "enr-2")
    assert valid_row is not None and revoked_row is not None
    revoked = await client.post(
        f"/credentials/{revoked_row.id}/revocation",
        json={"reason": "issued in error"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert revoked.status_code == 200
    holder = Holder()
    credentials = {"valid": sd_jwt_of(issuer, valid_row, holder), "revoked": sd_jwt_of(issuer, revoked_row, holder)}
    token_url = f"{BASE_URL}/status-lists/1/token"
    token = await client.get("/status-lists/1/token")
    assert token.headers["content-type"] == "application/statuslist+jwt"
    metadata = await client.get("/.well-known/jwt-vc-issuer")
    type_metadata = await client.get("/types/microcredential/v1")
    mirror = revoked_row.status_index ^ 7  # the same byte, bit order reversed: where a wrong encoding puts it
    return {
        "holder": holder,
        "rows": {"valid": valid_row, "revoked": revoked_row},
        "request": {
            "metadata": metadata.json(),
            "status_lists": {token_url: token.text},
            "type_metadata": {f"{BASE_URL}/types/microcredential/v1": type_metadata.json()},
            "holder_jwk": holder.private_jwk,
            "credentials": credentials,
            "audience": AUDIENCE,
            "nonce": NONCE,
            "probe": {
                "list_uri": token_url,
                "indices": [valid_row.status_index, revoked_row.status_index, mirror],
            },
        },
    }


async def test_the_npm_verifier_accepts_what_we_issue_and_refuses_what_it_must(node, served, client):
    answer = run_verifier(node, served["request"])
    cases = answer["cases"]

    issued = cases["issued"]
    assert issued["ok"], issued
    assert issued["header"] == {"typ": "dc+sd-jwt", "alg": "ES256", "kid": "jwt-key-1"}
    claims = issued["claims"]
    assert claims["iss"] == BASE_URL
    assert claims["vct"] == f"{BASE_URL}/types/microcredential/v1"
    assert claims["cnf"] == {"jwk": served["holder"].public_jwk}
    assert claims["credentialSubject"]["name"] == "Amira Peeters"
    assert claims["credentialSubject"]["studentId"] == "s0201234"
    assert claims["credentialSubject"]["achievement"]["name"] == "Heritage and Adaptive Reuse"
    assert issued["type_name"] == "University micro-credential"

    with_kb = cases["presented_with_kb"]
    assert with_kb["ok"], with_kb
    assert with_kb["kb"]["aud"] == AUDIENCE and with_kb["kb"]["nonce"] == NONCE

    removed = cases["disclosure_removed"]
    assert removed["ok"], removed
    assert "name" not in removed["claims"]["credentialSubject"]
    assert removed["claims"]["credentialSubject"]["studentId"] == "s0201234"

    assert not cases["tampered_with_kb"]["ok"]
    assert "sd_hash" in cases["tampered_with_kb"]["error"]
    assert not cases["tampered_required_claim"]["ok"]
    assert "Missing required claim keys" in cases["tampered_required_claim"]["error"]
    assert not cases["wrong_nonce"]["ok"]
    assert not cases["revoked"]["ok"]
    assert "Status is not valid" in cases["revoked"]["error"]


async def test_the_npm_status_list_decoder_reads_our_bits_where_the_bitstring_list_has_them(node, served):
    answer = run_verifier(node, served["request"])
    valid, revoked, mirror = served["request"]["probe"]["indices"]

    assert answer["statuses"][str(revoked)] == 1
    assert answer["statuses"][str(valid)] == 0
    if mirror != valid:
        assert answer["statuses"][str(mirror)] == 0


async def test_our_verifier_accepts_the_presentation_the_npm_wallet_made(node, served, client):
    presentation = run_verifier(node, served["request"])["presentation_with_kb"]

    right = await client.post(f"/verify?aud={AUDIENCE}&nonce={NONCE}", content=presentation)
    wrong = await client.post(f"/verify?aud={AUDIENCE}&nonce=another", content=presentation)

    assert right.status_code == 200
    assert right.json()["verified"] is True, right.json()["checks"]
    assert wrong.json()["verified"] is False
    assert payload_of(presentation)["cnf"]["jwk"] == served["holder"].public_jwk
