"""The documents a wallet reads (OpenID4VCI 1.0): issuer metadata, OAuth server metadata and credential offers.

Every URL derives from the issuer's base URL, which is also the credential issuer identifier and the
authorization server's issuer (one service plays both parts).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from qrcode.image.svg import SvgPathImage

from certification.adapters import sd_jwt_vc
from certification.adapters.issuer import Issuer
from certification.adapters.oid4vci import PRE_AUTHORIZED_GRANT, PROOF_ALGORITHMS, TX_CODE_LENGTH
from certification.domain import CREDENTIAL_TYPES
from certification.domain.vocabulary import credential_context

JsonObject = dict[str, Any]

LDP_VC_CONFIGURATION_ID = "microcredential_ldp_vc"
NAVY, WHITE = "#1F2A44", "#FFFFFF"

_ISSUER_NAMES = {"en": "University micro-credentials", "nl": "Universitaire microcredentials"}
_CREDENTIAL_NAMES = {"en": "Micro-credential", "nl": "Microcredential"}
_LDP_CLAIMS = (
    (("name",), "Micro-credential", "Microcredential"),
    (("issuer", "name"), "Awarded by", "Toegekend door"),
    (("validFrom",), "Date of issue", "Datum van uitreiking"),
    (("credentialSubject", "achievement", "name"), "Title", "Titel"),
    (("credentialSubject", "achievement", "learningOutcomes"), "Learning outcomes", "Leerresultaten"),
    (("credentialSubject", "creditsEarned"), "ECTS credits", "ECTS-studiepunten"),
    (("credentialSubject", "term"), "Academic year", "Academiejaar"),
    (("credentialSubject", "result"), "Results", "Resultaten"),
)


def credential_endpoint(issuer: Issuer) -> str:
    return f"{issuer.base_url}/oid4vci/credential"


def logo_url(issuer: Issuer) -> str:
    return f"{issuer.base_url}/oid4vci/logo.svg"


def offer_url(issuer: Issuer, offer_id: str) -> str:
    return f"{issuer.base_url}/oid4vci/offers/{offer_id}"


def offer_qr_payload(issuer: Issuer, offer_id: str) -> str:
    """What the offer QR code holds: the offer by reference."""
    return f"openid-credential-offer://?credential_offer_uri={quote(offer_url(issuer, offer_id), safe='')}"


def _display(names: dict[str, str], issuer: Issuer) -> list[JsonObject]:
    return [
        {
            "name": name,
            "locale": locale,
            "logo": {"uri": logo_url(issuer), "alt_text": names["en"]},
            "background_color": NAVY,
            "text_color": WHITE,
        }
        for locale, name in names.items()
    ]


def ldp_vc_configuration(issuer: Issuer) -> JsonObject:
    """The W3C edition: the stored credential, `credentialSubject.id` = the holder's did:jwk, eddsa-rdfc-2022."""
    return {
        "format": "ldp_vc",
        "cryptographic_binding_methods_supported": ["did:jwk"],
        "credential_signing_alg_values_supported": ["eddsa-rdfc-2022"],
        "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": list(PROOF_ALGORITHMS)}},
        "credential_definition": {
            "@context": credential_context(issuer.base_url),
            "type": list(CREDENTIAL_TYPES),
        },
        "credential_metadata": {
            "display": _display(_CREDENTIAL_NAMES, issuer),
            "claims": [
                {"path": list(path), "display": [{"name": en, "locale": "en"}, {"name": nl, "locale": "nl"}]}
                for path, en, nl in _LDP_CLAIMS
            ],
        },
    }


def credential_configurations(issuer: Issuer) -> dict[str, JsonObject]:
    """The editions this deployment can issue (the SD-JWT VC one once its module is built)."""
    configurations = {LDP_VC_CONFIGURATION_ID: ldp_vc_configuration(issuer)}
    try:
        configurations[sd_jwt_vc.SD_JWT_VC_CONFIGURATION_ID] = sd_jwt_vc.credential_configuration(issuer)
    except NotImplementedError:
        pass
    return configurations


def issuer_metadata(issuer: Issuer) -> JsonObject:
    return {
        "credential_issuer": issuer.base_url,
        "authorization_servers": [issuer.base_url],
        "credential_endpoint": credential_endpoint(issuer),
        "nonce_endpoint": f"{issuer.base_url}/oid4vci/nonce",
        "display": [
            {"name": name, "locale": locale, "logo": {"uri": logo_url(issuer), "alt_text": name}}
            for locale, name in _ISSUER_NAMES.items()
        ],
        "credential_configurations_supported": credential_configurations(issuer),
    }


def authorization_server_metadata(issuer: Issuer) -> JsonObject:
    return {
        "issuer": issuer.base_url,
        "token_endpoint": f"{issuer.base_url}/oid4vci/token",
        "grant_types_supported": [PRE_AUTHORIZED_GRANT],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "pre-authorized_grant_anonymous_access_supported": True,
    }


def credential_offer(issuer: Issuer, pre_authorized_code: str) -> JsonObject:
    return {
        "credential_issuer": issuer.base_url,
        "credential_configuration_ids": list(credential_configurations(issuer)),
        "grants": {
            PRE_AUTHORIZED_GRANT: {
                "pre-authorized_code": pre_authorized_code,
                "tx_code": {
                    "input_mode": "numeric",
                    "length": TX_CODE_LENGTH,
                    "description": "The 6-digit code we sent you with the notice of your credential",
                },
            }
        },
    }


LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
    f'<rect width="64" height="64" rx="10" fill="{NAVY}"/>'
    '<path d="M14 26 32 16l18 10-18 10z" fill="#FFFFFF"/>'
    '<path d="M22 32v10c6 5 14 5 20 0V32l-10 6z" fill="#FFFFFF"/></svg>'
)
"""The wallet-card logo: drawn here as text, so no binary image enters the repository."""


def qr_svg(data: str) -> str:
    """A QR code as an inline SVG element (vector, no image file)."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=2, image_factory=SvgPathImage)
    qr.add_data(data)
    qr.make(fit=True)
    svg: str = qr.make_image().to_string(encoding="unicode")
    return svg
