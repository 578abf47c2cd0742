"""The SD-JWT VC edition of a micro-credential (IETF SD-JWT VC, format ``dc+sd-jwt``).

Built from the stored W3C credential (the same facts, nothing added): docs/credentials.md maps every claim to its
W3C path. The layout follows the OB 3.0 names of the W3C edition, as the DC4EU micro-credential type
(``urn:eudi:micro_credential:1``: ``credentialSubject.achievement.name`` ...) does:

* public, always shown: ``iss``, ``iat``, ``exp`` (when the credential has ``validUntil``), ``vct``, ``cnf``,
  ``status``, ``validFrom`` (Annex I date of issuing), ``issuer`` (awarding body, country, region) and
  ``credentialSubject.achievement`` (title, outcomes, ECTS, EQF level, assessment, participation, quality
  assurance ...), ``credentialSubject.creditsEarned`` and ``term``;
* selectively disclosable (the learner decides per presentation): ``credentialSubject.name`` (full name),
  ``credentialSubject.studentId`` (student number) and ``credentialSubject.result`` (the grades). The W3C edition
  has no date of birth, so neither has this one (were one added, it would be disclosable too).

The W3C edition's hashed e-mail address is not carried: selective disclosure of the name does its job, and a
salted hash would be one more identifier linking presentations.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jwt

from certification.adapters.issuer import Issuer
from certification.adapters.jwt_keys import JWT_ALG
from certification.adapters.sd_jwt import SD_ALG, conceal
from certification.adapters.sd_jwt_vc_metadata import credential_configuration, type_metadata

JsonObject = dict[str, Any]

SD_JWT_VC_CONFIGURATION_ID = "microcredential_dc_sd_jwt"
"""The key of this edition in the issuer metadata's ``credential_configurations_supported``."""
SD_JWT_VC_TYP = "dc+sd-jwt"
PERSONAL_CLAIMS = frozenset({"name", "studentId", "result"})
"""The claims of ``credentialSubject`` that are selectively disclosable."""
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})

__all__ = [
    "PERSONAL_CLAIMS",
    "SD_JWT_VC_CONFIGURATION_ID",
    "SD_JWT_VC_TYP",
    "credential_configuration",
    "issue_sd_jwt_vc",
    "sd_jwt_vc_claims",
    "type_metadata",
]


def issue_sd_jwt_vc(
    issuer: Issuer,
    document: Mapping[str, Any],
    *,
    status_list_id: str,
    status_index: int,
    holder_jwk: Mapping[str, Any],
    issued_at: datetime,
) -> str:
    """The issuer-signed SD-JWT VC (``<jwt>~<disclosure>~...~``) of the stored W3C credential ``document``, bound
    to ``holder_jwk`` (``cnf.jwk``), its status at ``status_index`` of list ``status_list_id``."""
    if issued_at.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    if status_index < 0:
        raise ValueError("status_index must be >= 0")
    claims = sd_jwt_vc_claims(document)
    disclosures: list[str] = []
    claims["credentialSubject"] = conceal(claims["credentialSubject"], set(PERSONAL_CLAIMS), disclosures)
    expires = claims.pop("exp", None)
    payload: JsonObject = {
        "iss": issuer.base_url,
        "iat": int(issued_at.timestamp()),
        **({} if expires is None else {"exp": expires}),
        "vct": issuer.vct,
        "cnf": {"jwk": _public_jwk(holder_jwk)},
        "status": {"status_list": {"idx": status_index, "uri": issuer.status_list_token_url(status_list_id)}},
        **claims,
        "_sd_alg": SD_ALG,
    }
    key = issuer.jwt_key
    signed = jwt.encode(payload, key.private_key, algorithm=JWT_ALG, headers={"typ": SD_JWT_VC_TYP, "kid": key.kid})
    return "~".join((signed, *disclosures)) + "~"


def sd_jwt_vc_claims(document: Mapping[str, Any]) -> JsonObject:
    """The claims (before selective disclosure) of the W3C credential ``document``, as built by build_credential."""
    subject = document["credentialSubject"]
    identifiers = {
        i.get("identityType"): i.get("identityHash")
        for i in subject.get("identifier", [])
        if isinstance(i, dict) and not i.get("hashed")
    }
    credential_subject: JsonObject = {
        "name": identifiers.get("name"),
        "studentId": identifiers.get("sisSourcedId"),
        "achievement": _plain(subject["achievement"]),
        "creditsEarned": subject.get("creditsEarned"),
        "term": subject.get("term"),
        "result": _plain(subject.get("result")),
    }
    claims: JsonObject = {
        "validFrom": document["validFrom"],
        "issuer": _plain(document["issuer"]),
        "credentialSubject": {k: v for k, v in credential_subject.items() if v is not None},
    }
    if "validUntil" in document:
        claims["exp"] = int(datetime.fromisoformat(str(document["validUntil"])).timestamp())
    return claims


def _plain(value: Any) -> Any:
    """A W3C value without its JSON-LD ``type`` members (they type RDF nodes; a JWT claim has no use for them)."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "type"}
    return value


def _public_jwk(holder_jwk: Mapping[str, Any]) -> JsonObject:
    if not isinstance(holder_jwk, Mapping) or holder_jwk.get("kty") not in ("EC", "OKP"):
        raise ValueError("the holder key must be an EC or OKP JWK")
    if _PRIVATE_JWK_MEMBERS & holder_jwk.keys():
        raise ValueError("the holder key has private members; cnf.jwk takes the public key only")
    return dict(holder_jwk)
