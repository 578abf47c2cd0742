"""The Kafka client security settings: environment → aiokafka arguments and FastStream's ``security=``."""

from __future__ import annotations

import logging
import secrets
import ssl
from pathlib import Path

import pytest
from faststream.kafka.security import parse_security
from localkafka.tls import generate_broker_tls
from pydantic import ValidationError
from reliability.kafka_security import KafkaSecuritySettings, client_kwargs, faststream_security
from reliability.settings import ServiceSettings

_VARIABLES = (
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CA_FILE",
    "KAFKA_SSL_CERT_FILE",
    "KAFKA_SSL_KEY_FILE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_broker_tls(tmp_path_factory.mktemp("tls")).ca_file


def test_without_settings_the_clients_stay_plaintext() -> None:
    settings = ServiceSettings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert client_kwargs(settings) == {}
    assert faststream_security(settings) is None


def test_sasl_ssl_from_the_environment_gives_scram_over_verified_tls(
    monkeypatch: pytest.MonkeyPatch, ca_file: Path
) -> None:
    password = secrets.token_urlsafe(16)
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "billing")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", password)
    monkeypatch.setenv("KAFKA_SSL_CA_FILE", str(ca_file))

    kwargs = client_kwargs(ServiceSettings())

    context = kwargs.pop("ssl_context")
    assert kwargs == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "billing",
        "sasl_plain_password": password,
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == 1  # the configured CA, not the system's


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
def test_faststream_security_maps_to_the_same_aiokafka_arguments(protocol: str, mechanism: str, ca_file: Path) -> None:
    settings = KafkaSecuritySettings(
        kafka_security_protocol=protocol,
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="certification",
        kafka_sasl_password="s3cret-" + mechanism,
        kafka_ssl_ca_file=ca_file if protocol == "SASL_SSL" else None,
    )
    ours = client_kwargs(settings)
    theirs = parse_security(faststream_security(settings))
    assert (theirs.pop("ssl_context") is None) == ("ssl_context" not in ours)
    ours.pop("ssl_context", None)
    assert theirs == ours


def test_ssl_only_maps_to_faststream_base_security(ca_file: Path) -> None:
    settings = KafkaSecuritySettings(kafka_security_protocol="SSL", kafka_ssl_ca_file=ca_file)
    parsed = parse_security(faststream_security(settings))
    assert parsed["security_protocol"] == "SSL"
    assert isinstance(parsed["ssl_context"], ssl.SSLContext)
    assert set(client_kwargs(settings)) == {"security_protocol", "ssl_context"}


def test_sasl_without_a_username_refuses_to_start_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "x" * 20)
    with pytest.raises(ValidationError, match="KAFKA_SASL_USERNAME"):
        ServiceSettings()


def test_sasl_without_a_password_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "billing")
    with pytest.raises(ValidationError, match="KAFKA_SASL_PASSWORD"):
        ServiceSettings()


def test_a_missing_ca_file_refuses_to_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("KAFKA_SSL_CA_FILE", str(tmp_path / "absent-ca.pem"))
    with pytest.raises(ValidationError, match=r"KAFKA_SSL_CA_FILE=.*absent-ca\.pem: no such file"):
        ServiceSettings()


def test_a_client_certificate_needs_its_key(ca_file: Path) -> None:
    with pytest.raises(ValidationError, match="KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together"):
        KafkaSecuritySettings(kafka_security_protocol="SSL", kafka_ssl_ca_file=ca_file, kafka_ssl_cert_file=ca_file)


def test_credentials_on_a_plaintext_connection_are_refused() -> None:
    # A password configured but silently unused would mean a service talking to the broker unauthenticated.
    with pytest.raises(ValidationError, match="sends no SASL"):
        KafkaSecuritySettings(kafka_sasl_username="billing", kafka_sasl_password="x" * 20)


def test_an_unknown_protocol_or_mechanism_is_refused() -> None:
    with pytest.raises(ValidationError):
        KafkaSecuritySettings(kafka_security_protocol="SASL_TLS")
    with pytest.raises(ValidationError):
        KafkaSecuritySettings(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="GSSAPI",
            kafka_sasl_username="u",
            kafka_sasl_password="p",
        )


def test_the_password_is_never_in_repr_or_logs(caplog: pytest.LogCaptureFixture, ca_file: Path) -> None:
    password = secrets.token_urlsafe(16)
    settings = ServiceSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="billing",
        kafka_sasl_password=password,
        kafka_ssl_ca_file=ca_file,
    )
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings %s %r", settings, settings)
        logging.getLogger("test").info("dump %s", settings.model_dump())
    assert password not in repr(settings) and password not in str(settings)
    assert password not in caplog.text
