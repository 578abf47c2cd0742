"""eddsa-rdfc-2022 sign -> verify, tamper detection, keys and rotation."""

from __future__ import annotations

import base64
import copy
import hashlib
from datetime import UTC, datetime, timedelta

import base58
import pytest
from certification.adapters import (
    IssuerKey,
    KeyFormatError,
    PublicKeyEntry,
    UndefinedTermError,
    build_controller_document,
    canonicalize,
    generate_secret_key,
    load_private_key,
    public_key_from_multibase,
    sign_credential,
    verify_credential,
)
from certification.adapters.signing import proof_configuration
from certification.adapters.verification import ALL_CHECKS
from certification.domain import build_credential
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat


@pytest.fixture
def unsigned(env, learner, microcredential, results):
    return build_credential(
        learner=learner,
        microcredential=microcredential,
        results=results,
        issued_at=env.issued_at,
        credential_id=env.credential_id,
        issuer_id=env.issuer_id,
        identity_salt="salt",
    )


@pytest.fixture
def signed(unsigned, issuer_key, loader, env):
    return sign_credential(unsigned, issuer_key, loader, created=env.issued_at)


def verify(doc, controller_document, loader, env, **kwargs):
    return verify_credential(
        doc, {controller_document["id"]: controller_document}.get, loader=loader, now=env.now, **kwargs
    )


# --- the proof --------------------------------------------------------------------------


def test_proof_shape(signed, issuer_key, unsigned):
    proof = signed["proof"]
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["created"] == "2025-07-01T09:30:00Z"
    assert proof["verificationMethod"] == f"{issuer_key.issuer_id}#key-2025"
    assert proof["proofPurpose"] == "assertionMethod"
    assert proof["proofValue"].startswith("z")
    assert len(base58.b58decode(proof["proofValue"][1:])) == 64
    # signing does not mutate its input
    assert "proof" not in unsigned
    assert {k: v for k, v in signed.items() if k != "proof"} == unsigned


def test_signature_is_over_proof_config_hash_then_document_hash(signed, issuer_key, loader):
    """Recompute hashData by the spec's recipe and check the signature directly."""
    unsecured = {k: v for k, v in signed.items() if k != "proof"}
    config = proof_configuration(unsecured, signed["proof"])
    assert config["@context"] == signed["@context"]
    assert "proofValue" not in config
    hash_data = (
        hashlib.sha256(canonicalize(config, loader).encode()).digest()
        + hashlib.sha256(canonicalize(unsecured, loader).encode()).digest()
    )
    signature = base58.b58decode(signed["proof"]["proofValue"][1:])
    issuer_key.private_key.public_key().verify(signature, hash_data)  # raises if wrong


def test_ed25519_signing_is_deterministic(unsigned, issuer_key, loader, env):
    one = sign_credential(unsigned, issuer_key, loader, created=env.issued_at)
    two = sign_credential(unsigned, issuer_key, loader, created=env.issued_at)
    assert one == two


def test_sign_refuses_undefined_terms(unsigned, issuer_key, loader):
    unsigned["credentialSubject"]["achievement"]["honours"] = "cum laude"
    with pytest.raises(UndefinedTermError, match="honours"):
        sign_credential(unsigned, issuer_key, loader)


def test_sign_refuses_a_key_of_another_issuer(unsigned, loader):
    other = IssuerKey.from_secret("https://other.example/issuer", "k", generate_secret_key())
    with pytest.raises(ValueError, match="not the key's controller"):
        sign_credential(unsigned, other, loader)


def test_sign_refuses_already_signed(signed, issuer_key, loader):
    with pytest.raises(ValueError, match="already has a proof"):
        sign_credential(signed, issuer_key, loader)


# --- round trip and checks ----------------------------------------------------------------


def test_round_trip_verifies(signed, controller_document, loader, env):
    result = verify(signed, controller_document, loader, env)
    assert result.verified, result.to_dict()
    assert [c.name for c in result.checks] == list(ALL_CHECKS)
    assert result.check("status").reason == "credential has no credentialStatus"
    assert result.revoked is None


def test_survives_json_round_trip(signed, controller_document, loader, env):
    import json

    again = json.loads(json.dumps(signed))
    assert verify(again, controller_document, loader, env).verified


@pytest.mark.parametrize(
    "path, value",
    [
        (("credentialSubject", "achievement", "creditsAvailable"), 60),
        (("credentialSubject", "creditsEarned"), 60),
        (("credentialSubject", "result", 0, "value"), "20"),
        (("credentialSubject", "identifier", 0, "identityHash"), "Eve Mallory"),
        (("credentialSubject", "achievement", "name"), "Quantum Computing"),
        (("credentialSubject", "achievement", "alignment", 0, "targetCode"), "8"),
        (("credentialSubject", "achievement", "participationForm"), "on-site"),
        (("issuer", "address", "addressCountryCode"), "NL"),
        (("validFrom",), "2020-01-01T00:00:00Z"),
    ],
    ids=lambda v: ".".join(map(str, v)) if isinstance(v, tuple) else str(v),
)
def test_any_change_breaks_the_signature(signed, controller_document, loader, env, path, value):
    tampered = copy.deepcopy(signed)
    node = tampered
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    result = verify(tampered, controller_document, loader, env)
    assert not result.verified
    assert not result.check("signature").ok
    assert "signature does not match" in result.check("signature").reason


def test_changed_proof_options_break_the_signature(signed, controller_document, loader, env):
    tampered = copy.deepcopy(signed)
    tampered["proof"]["created"] = "2030-01-01T00:00:00Z"
    assert not verify(tampered, controller_document, loader, env).check("signature").ok


def test_term_added_after_signing_is_reported(signed, controller_document, loader, env):
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["achievement"]["honours"] = "summa cum laude"
    check = verify(tampered, controller_document, loader, env).check("signature")
    assert not check.ok and "honours" in check.reason


def test_missing_proof(unsigned, controller_document, loader, env):
    result = verify(unsigned, controller_document, loader, env)
    assert not result.check("proof_present").ok
    assert result.check("signature").reason.startswith("not checked")
    assert not result.verified


def test_unsupported_cryptosuite(signed, controller_document, loader, env):
    other = copy.deepcopy(signed)
    other["proof"]["cryptosuite"] = "ecdsa-rdfc-2019"
    result = verify(other, controller_document, loader, env)
    assert not result.check("cryptosuite_supported").ok
    assert "ecdsa-rdfc-2019" in result.check("cryptosuite_supported").reason


def test_validity_dates(signed, controller_document, loader, env):
    too_early = verify_credential(
        signed, {controller_document["id"]: controller_document}.get, loader=loader, now=env.issued_at - timedelta(1)
    )
    assert not too_early.check("validity_period").ok
    assert too_early.check("signature").ok


# --- verification method resolution ---------------------------------------------------------


def test_unknown_controller(signed, loader, env):
    result = verify_credential(signed, lambda url: None, loader=loader, now=env.now)
    assert not result.check("verification_method").ok
    assert "not found" in result.check("verification_method").reason


def test_resolver_errors_are_reported_not_raised(signed, loader, env):
    def broken(url):
        raise ConnectionError("timeout")

    result = verify_credential(signed, broken, loader=loader, now=env.now)
    assert "timeout" in result.check("verification_method").reason


def test_key_not_authorised_for_assertion(signed, controller_document, loader, env):
    doc = copy.deepcopy(controller_document)
    doc["assertionMethod"] = []
    result = verify(signed, doc, loader, env)
    assert "not authorised for assertionMethod" in result.check("verification_method").reason


def test_key_of_another_controller_cannot_sign_for_the_issuer(unsigned, loader, env):
    # An attacker's key listed in *their* controller document, claiming our issuer.
    attacker = IssuerKey.from_secret(unsigned["issuer"]["id"], "key-2025", generate_secret_key())
    forged = sign_credential(unsigned, attacker, loader, created=env.issued_at)
    honest = build_controller_document(
        unsigned["issuer"]["id"],
        [PublicKeyEntry("key-2025", IssuerKey.from_secret("x", "k", generate_secret_key()).public_key_multibase)],
    )
    result = verify(forged, honest, loader, env)
    assert not result.check("signature").ok


def test_revoked_key_no_longer_verifies(signed, issuer_key, loader, env):
    entry = PublicKeyEntry("key-2025", issuer_key.public_key_multibase, revoked=env.issued_at + timedelta(days=1))
    doc = build_controller_document(issuer_key.issuer_id, [entry])
    result = verify(signed, doc, loader, env)
    assert not result.check("verification_method").ok


# --- key rotation ---------------------------------------------------------------------------


def test_key_rotation_old_credentials_still_verify(unsigned, loader, env):
    issuer = unsigned["issuer"]["id"]
    old = IssuerKey.from_secret(issuer, "key-2024", generate_secret_key())
    new = IssuerKey.from_secret(issuer, "key-2025", generate_secret_key())
    before = sign_credential(unsigned, old, loader, created=env.issued_at)
    after = sign_credential(unsigned, new, loader, created=env.issued_at)

    rotated = build_controller_document(issuer, [old.public(), new.public()])
    assert rotated["assertionMethod"] == [f"{issuer}#key-2024", f"{issuer}#key-2025"]
    assert verify(before, rotated, loader, env).verified
    assert verify(after, rotated, loader, env).verified

    # Dropping the old key (e.g. it leaked) invalidates what it signed only.
    new_only = build_controller_document(issuer, [new.public()])
    assert not verify(before, new_only, loader, env).verified
    assert verify(after, new_only, loader, env).verified


def test_controller_document_shape(controller_document, issuer_key):
    assert controller_document["@context"] == [
        "https://w3id.org/security/v2",
        "https://w3id.org/security/multikey/v1",
    ]
    (vm,) = controller_document["verificationMethod"]
    assert vm == {
        "id": issuer_key.verification_method,
        "type": "Multikey",
        "controller": issuer_key.issuer_id,
        "publicKeyMultibase": issuer_key.public_key_multibase,
    }
    assert controller_document["assertionMethod"] == [issuer_key.verification_method]


def test_controller_document_refuses_duplicate_key_ids(issuer_key):
    with pytest.raises(ValueError, match="duplicate"):
        build_controller_document(issuer_key.issuer_id, [issuer_key.public(), issuer_key.public()])


# --- key formats ----------------------------------------------------------------------------


def test_public_key_multibase_is_ed25519_multikey(issuer_key):
    raw = issuer_key.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    mb = issuer_key.public_key_multibase
    assert mb.startswith("z6Mk")  # every Ed25519 Multikey starts like this
    assert base58.b58decode(mb[1:]) == b"\xed\x01" + raw
    assert public_key_from_multibase(mb).public_bytes(Encoding.Raw, PublicFormat.Raw) == raw


def test_secret_key_formats_are_equivalent():
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    forms = [
        "z" + base58.b58encode(b"\x80\x26" + seed).decode(),
        base64.b64encode(seed).decode(),
        base64.urlsafe_b64encode(seed).decode().rstrip("="),
        base64.b64encode(seed + public).decode(),
        "  " + base64.b64encode(seed).decode() + "\n",
    ]
    for form in forms:
        loaded = load_private_key(form)
        assert loaded.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()) == seed, form


def test_generated_secret_is_multibase():
    secret = generate_secret_key()
    assert secret.startswith("z3u2")  # 0x8026 prefix under base58btc
    assert len(base58.b58decode(secret[1:])) == 34


@pytest.mark.parametrize("bad", ["", "not a key", base64.b64encode(b"short").decode(), "z111"])
def test_bad_secret_keys_are_refused(bad):
    with pytest.raises(KeyFormatError):
        load_private_key(bad)


def test_mismatched_64_byte_secret_is_refused():
    seed = bytes(32)
    with pytest.raises(KeyFormatError, match="does not match"):
        load_private_key(base64.b64encode(seed + bytes(32)).decode())


def test_issuer_key_repr_hides_the_secret(issuer_key):
    assert "private" not in repr(issuer_key).lower()
    assert issuer_key.verification_method in repr(issuer_key)


def test_created_defaults_to_now(unsigned, issuer_key, loader):
    proof = sign_credential(unsigned, issuer_key, loader)["proof"]
    created = datetime.fromisoformat(proof["created"])
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize("garbage", [[], "credential", 42, None])
def test_non_object_input_is_reported_not_raised(garbage, controller_document):
    result = verify_credential(garbage, {controller_document["id"]: controller_document}.get)
    assert not result.verified
    assert result.check("proof_present").reason == "credential is not a JSON object"
