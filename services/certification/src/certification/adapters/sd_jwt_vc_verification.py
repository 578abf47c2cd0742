"""Verify an SD-JWT VC of ours (issued, or presented with or without a key-binding JWT), without the network.

The checks, in order, each needing the ones before it, in the result shape of the W3C verification
(`VerificationResult`); reasons name what failed, never a claim's value:

| check | fails when |
| --- | --- |
| ``format`` | not ``<JWS>~<disclosures>~[<KB-JWT>]``; header not ``typ: dc+sd-jwt``, ``alg: ES256`` with a ``kid`` |
| ``verification_method`` | ``iss`` is not this issuer, or ``kid`` is none of its keys (JWT VC Issuer Metadata) |
| ``signature`` | the issuer-signed JWT was altered or signed by another key |
| ``disclosures`` | a disclosure not referenced by the signed digests (tampered, or from another credential), repeated, malformed; ``_sd_alg`` not sha-256 |
| ``vct`` | not our micro-credential type |
| ``status`` | the credential's bit in our status list is set (revoked); not our list; unknown list or index |
| ``validity_period`` | ``exp`` passed, ``iat`` or ``nbf`` in the future |
| ``key_binding`` | a KB-JWT not ``kb+jwt``, not signed by ``cnf.jwk``, ``sd_hash`` not over this presentation, ``iat`` not within the last five minutes, ``aud``/``nonce`` not the expected ones; or none when an audience or nonce was expected |

A disclosure left out is not a failure: the claim is simply not shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt

from certification.adapters.issuer import Issuer
from certification.adapters.jwt_keys import JWT_ALG, b64url
from certification.adapters.sd_jwt import SD_ALG, SdJwt, SdJwtFormatError, disclose, parse_compact
from certification.adapters.sd_jwt_vc import SD_JWT_VC_TYP
from certification.adapters.verification import Check, VerificationResult

JsonObject = dict[str, Any]
# (list id, index) -> the revocation bit; None when there is no such list (or index).
StatusOf = Callable[[str, int], bool | None]

KB_JWT_TYP = "kb+jwt"
KB_ALGS = ("ES256", "EdDSA")
KB_MAX_AGE = timedelta(minutes=5)
CLOCK_SKEW = timedelta(minutes=1)
CHECKS = (
    "format",
    "verification_method",
    "signature",
    "disclosures",
    "vct",
    "status",
    "validity_period",
    "key_binding",
)
_ANY_TIME: jwt.types.Options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False}


class _Failed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class SdJwtVcVerification:
    result: VerificationResult
    claims: JsonObject | None
    """The verified claims with what was disclosed; None unless the signature and the disclosures verified."""
    disclosed: list[str] = field(default_factory=list)


@dataclass
class _State:
    sd_jwt: SdJwt | None = None
    header: JsonObject = field(default_factory=dict)
    key: Any = None
    payload: JsonObject = field(default_factory=dict)
    claims: JsonObject | None = None
    disclosed: list[str] = field(default_factory=list)
    revoked: bool | None = None


def verify_sd_jwt_vc(
    presentation: str,
    issuer: Issuer,
    status_of: StatusOf,
    *,
    now: datetime,
    audience: str | None = None,
    nonce: str | None = None,
) -> SdJwtVcVerification:
    """Run every check (never raises for a bad presentation, only reports)."""
    state = _State()
    steps: dict[str, Callable[[], str]] = {
        "format": lambda: _format(state, presentation),
        "verification_method": lambda: _verification_method(state, issuer),
        "signature": lambda: _signature(state),
        "disclosures": lambda: _disclosures(state),
        "vct": lambda: _vct(state, issuer),
        "status": lambda: _status(state, issuer, status_of),
        "validity_period": lambda: _validity(state, now),
        "key_binding": lambda: _key_binding(state, now, audience, nonce),
    }
    checks: list[Check] = []
    chain_broken: str | None = None
    for name in CHECKS:
        if chain_broken is not None:
            checks.append(Check(name, False, f"not checked: {chain_broken}"))
            continue
        try:
            checks.append(Check(name, True, steps[name]()))
        except (_Failed, RecursionError) as failed:
            # RecursionError: JSON nested beyond the interpreter's limit in a header or payload sent to us.
            reason = failed.reason if isinstance(failed, _Failed) else "a JSON part is nested too deeply"
            checks.append(Check(name, False, reason))
            if name in ("format", "verification_method", "signature", "disclosures"):
                chain_broken = f"the {name} check failed"
    result = VerificationResult(checks=tuple(checks), revoked=state.revoked)
    return SdJwtVcVerification(result, state.claims if chain_broken is None else None, state.disclosed)


def _format(state: _State, presentation: str) -> str:
    try:
        state.sd_jwt = parse_compact(presentation.strip())
        state.header = jwt.get_unverified_header(state.sd_jwt.issuer_jwt)
    except (SdJwtFormatError, jwt.DecodeError) as error:
        raise _Failed(str(error)) from None
    header = state.header
    if header.get("typ") != SD_JWT_VC_TYP:
        raise _Failed(f"header typ is not {SD_JWT_VC_TYP}")
    if header.get("alg") != JWT_ALG:
        raise _Failed(f"header alg is not {JWT_ALG}")
    if not isinstance(header.get("kid"), str):
        raise _Failed("header has no kid")
    with_kb = "with a key-binding JWT" if state.sd_jwt.key_binding_jwt else "without key binding"
    return f"SD-JWT with {len(state.sd_jwt.disclosures)} disclosures, {with_kb}"


def _verification_method(state: _State, issuer: Issuer) -> str:
    assert state.sd_jwt is not None
    try:
        unverified = jwt.decode(state.sd_jwt.issuer_jwt, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise _Failed("the issuer-signed JWT's payload is not a JSON object") from None
    if unverified.get("iss") != issuer.base_url:
        raise _Failed(f"iss is not {issuer.base_url}: this service verifies only its own credentials")
    kid = state.header["kid"]
    key = next((k for k in issuer.jwt_keys() if k.kid == kid), None)
    if key is None:
        raise _Failed(f"kid {kid[:64]!r} is not one of the issuer's keys (/.well-known/jwt-vc-issuer)")
    state.key = key.public_key
    return f"kid {kid} is a key of {issuer.base_url}"


def _signature(state: _State) -> str:
    assert state.sd_jwt is not None
    try:
        state.payload = jwt.decode(state.sd_jwt.issuer_jwt, state.key, algorithms=[JWT_ALG], options=_ANY_TIME)
    except jwt.InvalidSignatureError:
        raise _Failed("signature does not match the issuer-signed JWT (altered, or signed by another key)") from None
    except jwt.InvalidTokenError as error:
        raise _Failed(f"the issuer-signed JWT is invalid: {type(error).__name__}") from None
    return "ES256 signature is valid"


def _disclosures(state: _State) -> str:
    assert state.sd_jwt is not None
    if state.payload.get("_sd_alg", SD_ALG) != SD_ALG:
        raise _Failed(f"_sd_alg is not {SD_ALG}")
    try:
        claims, names = disclose(state.payload, state.sd_jwt.disclosures)
    except SdJwtFormatError as error:
        raise _Failed(str(error)) from None
    claims.pop("_sd_alg", None)
    state.claims, state.disclosed = claims, names
    return f"{len(names)} disclosed ({', '.join(names) or 'none'}), each listed by the signed digests"


def _vct(state: _State, issuer: Issuer) -> str:
    if state.payload.get("vct") != issuer.vct:
        raise _Failed(f"vct is not {issuer.vct}")
    return f"vct {issuer.vct}"


def _status(state: _State, issuer: Issuer, status_of: StatusOf) -> str:
    status = state.payload.get("status")
    entry = status.get("status_list") if isinstance(status, dict) else None
    if not isinstance(entry, dict):
        raise _Failed("the credential has no status.status_list")
    index, uri = entry.get("idx"), entry.get("uri")
    list_id = issuer.status_list_token_id(uri) if isinstance(uri, str) else None
    if list_id is None:
        raise _Failed("status.status_list.uri is not one of this issuer's status lists")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise _Failed("status.status_list.idx is not a non-negative integer")
    revoked = status_of(list_id, index)
    if revoked is None:
        raise _Failed(f"there is no index {index} in status list {list_id}")
    state.revoked = revoked
    if revoked:
        raise _Failed("credential has been revoked by its issuer")
    return "not revoked"


def _validity(state: _State, now: datetime) -> str:
    moment = now.timestamp()
    for name in ("iat", "exp", "nbf"):
        if name in state.payload and not isinstance(state.payload[name], int | float):
            raise _Failed(f"{name} is not a number")
    if "exp" in state.payload and moment >= state.payload["exp"]:
        raise _Failed("expired (exp has passed)")
    for name in ("iat", "nbf"):
        if name in state.payload and state.payload[name] > moment + CLOCK_SKEW.total_seconds():
            raise _Failed(f"{name} is in the future")
    return "within iat/exp" if "exp" in state.payload else "issued in the past; no expiry"


def _key_binding(state: _State, now: datetime, audience: str | None, nonce: str | None) -> str:
    assert state.sd_jwt is not None
    kb = state.sd_jwt.key_binding_jwt
    if kb is None:
        if audience is not None or nonce is not None:
            raise _Failed("an audience or nonce was expected, but the presentation has no key-binding JWT")
        return "no key-binding JWT: nothing proves who presents it"
    cnf = state.payload.get("cnf")
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(jwk, dict):
        raise _Failed("the credential has no cnf.jwk to check the key-binding JWT against")
    claims = _kb_claims(kb, jwk)
    expected_hash = b64url(hashlib.sha256(state.sd_jwt.without_key_binding.encode("ascii")).digest())
    if claims.get("sd_hash") != expected_hash:
        raise _Failed("the key-binding JWT's sd_hash is not over this presentation (a disclosure was changed)")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise _Failed("the key-binding JWT has no iat")
    if not now - KB_MAX_AGE <= datetime.fromtimestamp(iat, now.tzinfo) <= now + CLOCK_SKEW:
        raise _Failed("the key-binding JWT is not fresh (iat more than five minutes ago, or in the future)")
    if audience is not None and claims.get("aud") != audience:
        raise _Failed("the key-binding JWT is for another audience")
    if nonce is not None and claims.get("nonce") != nonce:
        raise _Failed("the key-binding JWT has another nonce")
    checked = [name for name, wanted in (("aud", audience), ("nonce", nonce)) if wanted is not None]
    also = f", {' and '.join(checked)} as expected" if checked else ""
    return f"key-binding JWT signed by cnf.jwk over this presentation{also}"


def _kb_claims(kb: str, jwk: JsonObject) -> JsonObject:
    try:
        header = jwt.get_unverified_header(kb)
        if header.get("typ") != KB_JWT_TYP or header.get("alg") not in KB_ALGS:
            raise _Failed(f"the key-binding JWT is not typ {KB_JWT_TYP} with alg ES256 or EdDSA")
        key = jwt.PyJWK(jwk, algorithm=header["alg"])
        return jwt.decode(kb, key.key, algorithms=[header["alg"]], options=_ANY_TIME)
    except jwt.InvalidSignatureError:
        raise _Failed("the key-binding JWT is not signed by the key in cnf.jwk") from None
    except (jwt.InvalidTokenError, jwt.PyJWKError, jwt.InvalidKeyError) as error:  # InvalidKeyError: alg vs cnf kty
        raise _Failed(f"the key-binding JWT cannot be checked: {type(error).__name__}") from None
