"""The ES256 key of the SD-JWT VC edition: from the environment, derived, ephemeral in DEV_MODE, rotated."""

from __future__ import annotations

import subprocess
import sys

import pytest
from certification.adapters.issuer import Issuer
from certification.adapters.jwt_keys import JwtSigningKey, generate_jwt_secret, load_jwt_private_key, point_of
from certification.adapters.keys import generate_secret_key
from certification.adapters.sd_jwt_vc import issue_sd_jwt_vc
from certification.adapters.sd_jwt_vc_verification import verify_sd_jwt_vc
from certification.bootstrap import create_issuer
from certification.config import CertificationSettings
from pydantic import ValidationError

from tests.certification.certification_support import BASE_URL, now_utc
from tests.certification.sdjwt_support import Holder

NAMES = ("CREDENTIAL_SIGNING_KEY", "CREDENTIAL_JWT_SIGNING_KEY", "JWT_SIGNING_KEY_ID", "RETIRED_JWT_PUBLIC_KEYS")


@pytest.fixture(autouse=True)
def _no_service_environment(monkeypatch):
    for name in (*NAMES, "DEV_MODE", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def public_point(key: JwtSigningKey) -> str:
    return point_of(key.private_key.public_key())


def test_the_configured_key_its_kid_and_the_retired_keys_are_published(monkeypatch):
    old, new = JwtSigningKey.generate("jwt-2025"), generate_jwt_secret()
    monkeypatch.setenv("CREDENTIAL_SIGNING_KEY", generate_secret_key())
    monkeypatch.setenv("CREDENTIAL_JWT_SIGNING_KEY", new)
    monkeypatch.setenv("JWT_SIGNING_KEY_ID", "jwt-2026")
    monkeypatch.setenv("RETIRED_JWT_PUBLIC_KEYS", f"jwt-2025={public_point(old)}")
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE_URL)

    settings = CertificationSettings()
    issuer = create_issuer(settings)

    assert new not in repr(settings)
    assert issuer.jwt_key.kid == "jwt-2026"
    assert public_point(issuer.jwt_key) == point_of(load_jwt_private_key(new).public_key())
    keys = issuer.jwt_vc_issuer_metadata()["jwks"]["keys"]
    assert [key["kid"] for key in keys] == ["jwt-2026", "jwt-2025"]
    assert all(key["alg"] == "ES256" and "d" not in key for key in keys)


def test_without_a_jwt_key_one_is_derived_from_the_signing_key_and_stays_the_same():
    secret, other = generate_secret_key(), generate_secret_key()

    first = create_issuer(CertificationSettings(credential_signing_key=secret))
    again = create_issuer(CertificationSettings(credential_signing_key=secret))
    rotated = create_issuer(CertificationSettings(credential_signing_key=other))

    assert public_point(first.jwt_key) == public_point(again.jwt_key)
    assert public_point(first.jwt_key) != public_point(rotated.jwt_key)


def test_dev_mode_makes_throw_away_keys_for_both_editions():
    settings = CertificationSettings(dev_mode=True)

    first, second = create_issuer(settings), create_issuer(settings)

    assert public_point(first.jwt_key) != public_point(second.jwt_key)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("credential_jwt_signing_key", "c2hvcnQ"),
        ("credential_jwt_signing_key", "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"),
        ("retired_jwt_public_keys", "jwt-1=AAAA"),
        ("retired_jwt_public_keys", "no-separator"),
        ("jwt_signing_key_id", "jwt key"),
    ],
)
def test_invalid_jwt_settings_are_refused_at_start_without_echoing_the_secret(name, value):
    with pytest.raises(ValidationError) as refused:
        CertificationSettings(**{name: value})
    if name == "credential_jwt_signing_key":
        assert value not in str(refused.value)


def test_a_retired_jwt_key_cannot_reuse_the_signing_kid():
    old = JwtSigningKey.generate("jwt-key-1")
    settings = CertificationSettings(
        credential_signing_key=generate_secret_key(), retired_jwt_public_keys=[f"jwt-key-1={public_point(old)}"]
    )
    with pytest.raises(ValueError, match="JWT key ids must be unique"):
        create_issuer(settings)


def test_an_sd_jwt_vc_signed_by_a_retired_key_still_verifies():
    old, holder = JwtSigningKey.generate("jwt-2025"), Holder()
    before = Issuer.create(BASE_URL, "key-1", generate_secret_key(), jwt_key=old)
    after = Issuer.create(
        BASE_URL,
        "key-1",
        generate_secret_key(),
        jwt_key=JwtSigningKey.generate("jwt-2026"),
        retired_jwt_keys=[old.public()],
    )
    forgotten = Issuer.create(BASE_URL, "key-1", generate_secret_key(), jwt_key=JwtSigningKey.generate("jwt-2026"))
    document = {
        "validFrom": "2026-07-01T09:30:00Z",
        "issuer": {"id": f"{BASE_URL}/issuer", "name": "University of Antwerp"},
        "credentialSubject": {"achievement": {"name": "Heritage and Adaptive Reuse"}},
    }
    sd_jwt = issue_sd_jwt_vc(
        before, document, status_list_id="1", status_index=7, holder_jwk=holder.public_jwk, issued_at=now_utc()
    )

    kept = verify_sd_jwt_vc(sd_jwt, after, lambda list_id, index: False, now=now_utc())
    dropped = verify_sd_jwt_vc(sd_jwt, forgotten, lambda list_id, index: False, now=now_utc())

    assert kept.result.verified, kept.result.failures
    assert dropped.result.check("verification_method").reason.startswith("kid 'jwt-2025' is not one of")


def test_generate_jwt_key_prints_a_usable_secret_and_public_key_prints_both(monkeypatch):
    done = subprocess.run(
        [sys.executable, "-m", "certification", "generate-jwt-key"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    assert point_of(load_jwt_private_key(secret).public_key()) in done.stderr

    environment = {"PATH": "/usr/bin:/bin", "CREDENTIAL_SIGNING_KEY": generate_secret_key()}
    environment |= {"CREDENTIAL_JWT_SIGNING_KEY": secret, "JWT_SIGNING_KEY_ID": "jwt-2026"}
    public = subprocess.run(
        [sys.executable, "-m", "certification", "public-key"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert public.returncode == 0, public.stderr
    assert f"jwt-2026={point_of(load_jwt_private_key(secret).public_key())}" in public.stdout.splitlines()
