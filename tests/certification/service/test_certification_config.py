"""Configuration, start-up wiring, the command line, and the migration against the models."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from certification.adapters import IssuerKey, generate_secret_key, load_private_key, public_key_multibase
from certification.bootstrap import build, create_issuer
from certification.config import CertificationSettings, SigningKeyMissing
from certification.store import schema_metadata
from pydantic import ValidationError
from reliability.migrations import for_dialect

from tests.certification.certification_support import BASE_URL, ISSUER_ID


@pytest.fixture(autouse=True)
def _no_service_environment(monkeypatch):
    # The settings read the process environment; a developer's exported variables must not leak in.
    for name in ("CREDENTIAL_SIGNING_KEY", "DEV_MODE", "RETIRED_PUBLIC_KEYS", "PUBLIC_BASE_URL", "IDENTITY_SALT"):
        monkeypatch.delenv(name, raising=False)


def test_a_signing_key_is_required_outside_development():
    with pytest.raises(SigningKeyMissing, match="CREDENTIAL_SIGNING_KEY is not set"):
        create_issuer(CertificationSettings())


def test_dev_mode_makes_an_ephemeral_key_and_warns(caplog):
    settings = CertificationSettings(dev_mode=True)
    with caplog.at_level(logging.WARNING, logger="certification.config"):
        first, second = create_issuer(settings), create_issuer(settings)
    assert first.key.public_key_multibase != second.key.public_key_multibase
    assert "ephemeral development key" in caplog.text


@pytest.mark.parametrize(
    "public_base_url",
    ["https://credentials.example.edu", "http://localhost.attacker.example:8003", "http://10.0.0.5:8003"],
)
def test_dev_mode_refuses_a_public_base_url_that_is_not_localhost(public_base_url):
    with pytest.raises(ValidationError, match="DEV_MODE is for development on this machine only"):
        CertificationSettings(dev_mode=True, public_base_url=public_base_url)


@pytest.mark.parametrize("public_base_url", ["http://127.0.0.1:8003", "http://localhost:8003", "http://[::1]:8003"])
def test_dev_mode_is_allowed_on_localhost(public_base_url):
    assert CertificationSettings(dev_mode=True, public_base_url=public_base_url).dev_mode is True


def test_the_service_does_not_start_in_dev_mode_on_a_public_url(tmp_path):
    environment = {
        "PATH": "/usr/bin:/bin",
        "DEV_MODE": "true",
        "PUBLIC_BASE_URL": "https://credentials.example.edu",
        "DATABASE_URL": f"sqlite:///{tmp_path}/certification.db",
    }
    started = subprocess.run(
        [sys.executable, "-m", "certification"], env=environment, capture_output=True, text=True, timeout=60
    )
    assert started.returncode != 0
    assert "DEV_MODE is for development on this machine only" in started.stderr


def test_settings_from_the_environment(monkeypatch, retired_key):
    secret = generate_secret_key()
    monkeypatch.setenv("CREDENTIAL_SIGNING_KEY", secret)
    monkeypatch.setenv("SIGNING_KEY_ID", "key-2026")
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE_URL + "/")
    monkeypatch.setenv("RETIRED_PUBLIC_KEYS", f"key-2025={retired_key.public_key_multibase}")
    monkeypatch.setenv("IDENTITY_SALT", "a secret salt")

    settings = CertificationSettings()
    issuer = create_issuer(settings)

    assert settings.public_base_url == BASE_URL
    assert settings.issuer_id == ISSUER_ID
    assert "a secret salt" not in repr(settings) and secret not in repr(settings)
    assert issuer.key.verification_method == f"{ISSUER_ID}#key-2026"
    assert issuer.key.public_key_multibase == public_key_multibase(load_private_key(secret).public_key())
    controller = issuer.controller_document()
    assert [m["id"] for m in controller["verificationMethod"]] == [f"{ISSUER_ID}#key-2026", f"{ISSUER_ID}#key-2025"]
    # The salt is derived: the same enrolment always gets the same salt, another enrolment another one.
    assert issuer.salt_for("enr-1") == issuer.salt_for("enr-1") != issuer.salt_for("enr-2")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("public_base_url", "credentials.example.edu"),
        ("public_base_url", "https://credentials.example.edu/?x=1"),
        ("retired_public_keys", "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"),
        ("retired_public_keys", "key-1=not-a-key"),
        ("signing_key_id", "key#1"),
    ],
)
def test_invalid_settings_are_refused_at_start(name, value):
    with pytest.raises(ValidationError):
        CertificationSettings(**{name: value})


def test_a_retired_key_cannot_reuse_the_signing_key_id():
    old = IssuerKey.from_secret(ISSUER_ID, "key-1", generate_secret_key())
    settings = CertificationSettings(
        credential_signing_key=generate_secret_key(), retired_public_keys=[f"key-1={old.public_key_multibase}"]
    )
    with pytest.raises(ValueError, match="key ids must be unique"):
        create_issuer(settings)


def test_build_migrates_and_wires_the_service(tmp_path):
    settings = CertificationSettings(
        database_url=f"sqlite:///{tmp_path}/var/certification.db",
        credential_signing_key=generate_secret_key(),
        public_base_url=BASE_URL,
    )
    app, runtime = build(settings)

    assert (tmp_path / "var" / "certification.db").is_file()
    assert set(runtime.consumed_topics()) == {"enrolment.events", "assessment.events", "catalogue.microcredentials"}
    assert set(runtime.declared().handlers()) == {
        "EnrolmentCreated",
        "EnrolmentCancelled",
        "CourseCompleted",
        "MicroCredentialPublished",
    }
    assert "assessment.events.dlq" in runtime.all_topics()
    assert {"/issuer", "/verify", "/health"} <= set(app.openapi()["paths"])


def test_migrations_produce_exactly_the_models_schema(engine):
    with engine.connect() as connection:
        options = {"compare_type": True, "include_object": for_dialect(connection.dialect.name)}
        context = MigrationContext.configure(connection, opts=options)
        differences = compare_metadata(context, schema_metadata())
    assert differences == []


def test_generate_key_prints_a_usable_secret():
    done = subprocess.run(
        [sys.executable, "-m", "certification", "generate-key"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    public = public_key_multibase(load_private_key(secret).public_key())
    assert secret.startswith("z") and public in done.stderr
