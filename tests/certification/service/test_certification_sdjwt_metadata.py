"""What a wallet reads of the SD-JWT VC edition: the type metadata at `vct`, the OpenID4VCI configuration, the logo."""

from __future__ import annotations

import pytest
from certification.adapters.sd_jwt import disclose, parse_compact
from certification.adapters.sd_jwt_vc import PERSONAL_CLAIMS, SD_JWT_VC_CONFIGURATION_ID, credential_configuration

from tests.certification.certification_support import (
    BASE_URL,
    apply,
    credential_of,
    enrolment_created,
    heritage_published,
    passes,
)
from tests.certification.sdjwt_support import Holder, payload_of, sd_jwt_of

VCT = f"{BASE_URL}/types/microcredential/v1"


def value_at(claims, path):
    """The values a claims path (null = every array element) selects; [] when it selects nothing."""
    values = [claims]
    for step in path:
        if step is None:
            values = [item for value in values if isinstance(value, list) for item in value]
        else:
            values = [value[step] for value in values if isinstance(value, dict) and step in value]
    return values


@pytest.fixture
def presented(engine, handlers, issuer, client):
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"), *passes("enr-1"))
    return sd_jwt_of(issuer, credential_of(engine, "enr-1"), Holder())


async def test_the_type_metadata_names_every_claim_with_labels_and_its_disclosure_policy(client, presented):
    response = await client.get("/types/microcredential/v1")
    metadata = response.json()
    verdict = await client.post("/verify", content=presented, headers={"Content-Type": "application/dc+sd-jwt"})

    assert response.headers["access-control-allow-origin"] == "*"
    assert metadata["vct"] == VCT
    assert [d["locale"] for d in metadata["display"]] == ["en", "nl"]
    assert metadata["display"][1]["name"] == "Microcredential"
    assert metadata["display"][0]["rendering"]["simple"]["logo"]["uri"] == f"{BASE_URL}/static/microcredential-logo.svg"
    policy = {tuple(c["path"]): c.get("sd") for c in metadata["claims"]}
    assert {p[1] for p, sd in policy.items() if sd == "always" and len(p) == 2} == set(PERSONAL_CLAIMS)
    assert policy[("credentialSubject", "achievement", "learningOutcomes")] == "never"
    assert policy[("issuer", "address", "addressCountryCode")] == "never"
    assert all({d["locale"] for d in c["display"]} == {"en", "nl"} for c in metadata["claims"])
    # Every claim the metadata describes is one the credential has (prerequisites and stackability included).
    assert verdict.json()["verified"] is True
    payload_with_disclosures = await _claims(client, presented)
    missing = [path for path in policy if not value_at(payload_with_disclosures, path)]
    assert missing == []


async def _claims(client, presented):
    claims, _ = disclose(payload_of(presented), parse_compact(presented).disclosures)
    return claims


def test_the_openid4vci_configuration_is_the_dc_sd_jwt_entry_of_version_1(issuer):
    configuration = credential_configuration(issuer)

    assert SD_JWT_VC_CONFIGURATION_ID == "microcredential_dc_sd_jwt"
    assert configuration["format"] == "dc+sd-jwt"
    assert configuration["vct"] == issuer.vct == f"{issuer.base_url}/types/microcredential/v1"
    assert configuration["cryptographic_binding_methods_supported"] == ["jwk"]
    assert configuration["credential_signing_alg_values_supported"] == ["ES256"]
    assert configuration["proof_types_supported"] == {"jwt": {"proof_signing_alg_values_supported": ["ES256", "EdDSA"]}}
    display = configuration["credential_metadata"]["display"]
    assert [d["locale"] for d in display] == ["en", "nl"]
    assert all({"name", "logo", "background_color", "text_color"} <= d.keys() for d in display)
    assert display[0]["logo"]["uri"].startswith(issuer.base_url)
    claims = configuration["credential_metadata"]["claims"]
    assert {
        "path": ["credentialSubject", "name"],
        "mandatory": True,
        "display": [{"name": "Learner", "locale": "en"}, {"name": "Lerende", "locale": "nl"}],
    } in claims
    assert "display" not in configuration and "claims" not in configuration  # 1.0 moved them into credential_metadata


async def test_the_logo_is_served_as_svg(client):
    response = await client.get("/static/microcredential-logo.svg")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.text.startswith("<svg")
