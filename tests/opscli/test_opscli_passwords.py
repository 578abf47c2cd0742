"""`mc-ops acls apply FILE --set-passwords`: each principal's SCRAM-SHA-512 credential from
$<PRINCIPAL>_KAFKA_PASSWORD, on the session's secured broker (what compose's kafka-setup job runs on every start)."""

from __future__ import annotations

import io
import logging
import secrets
import uuid
from pathlib import Path

import pytest
import yaml
from opscli.cli import amain

from tests.kafka_fixtures import SecuredKafka
from tests.kafka_logins import logs_in


def acl_file(tmp_path: Path, *principals: str) -> Path:
    path = tmp_path / "acls.yaml"
    spec = {name: {"description": "a test principal", "describe": ["nothing.here"]} for name in principals}
    path.write_text(yaml.safe_dump({"version": 1, "principals": spec}))
    return path


def admin_env(secured: SecuredKafka, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in secured.env("admin").items():
        monkeypatch.setenv(name, value)


async def test_set_passwords_creates_a_user_then_rotates_it_and_the_old_password_stops_working(
    secured_kafka: SecuredKafka, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    campus = f"campus-{uuid.uuid4().hex[:8]}"
    variable = campus.upper().replace("-", "_") + "_KAFKA_PASSWORD"
    path = acl_file(tmp_path, campus)
    first, second = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    admin_env(secured_kafka, monkeypatch)
    assert not await logs_in(secured_kafka.bootstrap, secured_kafka.client_kwargs(campus, first)), (
        "the user must not exist before"
    )
    monkeypatch.setenv(variable, first)
    out = io.StringIO()
    assert await amain(["--topic-prefix", "pw.", "acls", "apply", str(path), "--set-passwords"], out=out) == 0
    assert f"set the SCRAM-SHA-512 password of {campus} (from {variable})" in out.getvalue()
    assert first not in out.getvalue()
    assert await logs_in(secured_kafka.bootstrap, secured_kafka.client_kwargs(campus, first))
    monkeypatch.setenv(variable, second)
    assert await amain(["acls", "apply", str(path), "--set-passwords", "--no-create-topics"], out=io.StringIO()) == 0
    assert await logs_in(secured_kafka.bootstrap, secured_kafka.client_kwargs(campus, second))
    with caplog.at_level(logging.ERROR, logger="aiokafka"):
        assert not await logs_in(secured_kafka.bootstrap, secured_kafka.client_kwargs(campus, first)), (
            "the rotated-out password still logs in"
        )
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in caplog.text


async def test_without_its_variable_a_principal_is_left_alone_and_a_short_password_is_refused(
    secured_kafka: SecuredKafka,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = acl_file(tmp_path, "billing")  # a session principal: its password must survive this test
    admin_env(secured_kafka, monkeypatch)
    monkeypatch.delenv("BILLING_KAFKA_PASSWORD", raising=False)
    out = io.StringIO()
    assert await amain(["acls", "apply", str(path), "--set-passwords", "--no-create-topics"], out=out) == 0
    assert "left the SCRAM credential of billing as it is: no BILLING_KAFKA_PASSWORD" in out.getvalue()
    assert await logs_in(
        secured_kafka.bootstrap, secured_kafka.client_kwargs("billing", secured_kafka.passwords["billing"])
    )
    monkeypatch.setenv("BILLING_KAFKA_PASSWORD", "change-me")
    assert await amain(["acls", "apply", str(path), "--set-passwords"], out=io.StringIO()) == 1
    error = capsys.readouterr().err
    assert "BILLING_KAFKA_PASSWORD: at least 16 characters" in error and "change-me" not in error
    assert await logs_in(
        secured_kafka.bootstrap, secured_kafka.client_kwargs("billing", secured_kafka.passwords["billing"])
    )


async def test_a_service_principal_cannot_set_passwords(
    secured_kafka: SecuredKafka, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in secured_kafka.env("billing").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ENROLMENT_KAFKA_PASSWORD", secrets.token_urlsafe(24))
    path = acl_file(tmp_path, "enrolment")
    assert await amain(["acls", "apply", str(path), "--set-passwords"], out=io.StringIO()) == 1
    assert "setting SCRAM credentials: CLUSTER_AUTHORIZATION_FAILED" in capsys.readouterr().err
    assert await logs_in(
        secured_kafka.bootstrap, secured_kafka.client_kwargs("enrolment", secured_kafka.passwords["enrolment"])
    )
