"""How every Kafka client of the platform authenticates and encrypts: settings from the environment, one mapping.

The same fields configure the services (they are fields of `ServiceSettings`) and ``mc-ops``
(`KafkaSecuritySettings` alone)::

    KAFKA_SECURITY_PROTOCOL   PLAINTEXT (default) | SSL | SASL_SSL | SASL_PLAINTEXT
    KAFKA_SASL_MECHANISM      SCRAM-SHA-512 (default) | SCRAM-SHA-256 | PLAIN
    KAFKA_SASL_USERNAME       the system's principal, e.g. ``billing``
    KAFKA_SASL_PASSWORD       its password (never logged: a SecretStr)
    KAFKA_SSL_CA_FILE         PEM of the CA that signed the brokers' certificates (default: the system's CAs)
    KAFKA_SSL_CERT_FILE       PEM client certificate, with KAFKA_SSL_KEY_FILE: mutual TLS
    KAFKA_SSL_KEY_FILE

`client_kwargs` turns them into aiokafka's keyword arguments (producer, consumer, admin client);
`faststream_security` into the ``security=`` object of FastStream's `KafkaBroker`, which maps it back to the same
aiokafka arguments (faststream/kafka/security.py). A misconfiguration fails at start with the variable named,
never at the first connection.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from aiokafka.helpers import create_ssl_context
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from faststream.security import BaseSecurity

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

_SASL = frozenset({"SASL_SSL", "SASL_PLAINTEXT"})
_TLS = frozenset({"SSL", "SASL_SSL"})


class KafkaSecuritySettings(BaseSettings):
    """The Kafka client security of one process; the ``kafka_*`` security fields of `ServiceSettings`."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_SSL or SASL_PLAINTEXT."
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512", description="SASL mechanism: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN."
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL username: the system's principal.")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password.")
    kafka_ssl_ca_file: Path | None = Field(default=None, description="PEM CA bundle that verifies the brokers.")
    kafka_ssl_cert_file: Path | None = Field(default=None, description="PEM client certificate (mutual TLS).")
    kafka_ssl_key_file: Path | None = Field(default=None, description="PEM private key of the client certificate.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for problem in kafka_security_problems(self):
            raise ValueError(problem)
        return self


def kafka_security_problems(settings: KafkaSecuritySettings) -> list[str]:
    """What is wrong with the settings, each naming the environment variable to fix (empty: nothing)."""
    problems: list[str] = []
    protocol = settings.kafka_security_protocol
    if protocol in _SASL:
        if not settings.kafka_sasl_username:
            problems.append(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME")
        if settings.kafka_sasl_password is None or not settings.kafka_sasl_password.get_secret_value():
            problems.append(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_PASSWORD")
    elif settings.kafka_sasl_username or settings.kafka_sasl_password is not None:
        problems.append(f"KAFKA_SASL_USERNAME/PASSWORD are set but KAFKA_SECURITY_PROTOCOL={protocol} sends no SASL")
    files = {
        "KAFKA_SSL_CA_FILE": settings.kafka_ssl_ca_file,
        "KAFKA_SSL_CERT_FILE": settings.kafka_ssl_cert_file,
        "KAFKA_SSL_KEY_FILE": settings.kafka_ssl_key_file,
    }
    if protocol not in _TLS and any(files.values()):
        set_names = ", ".join(name for name, value in files.items() if value)
        problems.append(f"{set_names} set but KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS")
    for name, path in files.items():
        if path is not None and not path.is_file():
            problems.append(f"{name}={path}: no such file")
    if (settings.kafka_ssl_cert_file is None) != (settings.kafka_ssl_key_file is None):
        problems.append("KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together (mutual TLS)")
    return problems


def ssl_context(settings: KafkaSecuritySettings) -> ssl.SSLContext | None:
    """The TLS context of SSL/SASL_SSL (hostname checked against the broker certificate), else None."""
    if settings.kafka_security_protocol not in _TLS:
        return None
    context: ssl.SSLContext = create_ssl_context(
        cafile=settings.kafka_ssl_ca_file,
        certfile=settings.kafka_ssl_cert_file,
        keyfile=settings.kafka_ssl_key_file,
    )
    return context


def client_kwargs(settings: KafkaSecuritySettings | None) -> dict[str, Any]:
    """aiokafka's security keyword arguments (AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaAdminClient)."""
    if settings is None or settings.kafka_security_protocol == "PLAINTEXT":
        return {}
    kwargs: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    context = ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    if settings.kafka_security_protocol in _SASL:
        assert settings.kafka_sasl_password is not None  # validated
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        kwargs["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return kwargs


def faststream_security(settings: KafkaSecuritySettings | None) -> BaseSecurity | None:
    """The ``security=`` of FastStream's KafkaBroker that yields the same aiokafka arguments as `client_kwargs`."""
    # Imported here: the outbox relay's own process (reliability.relay_process) has no FastStream broker.
    from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

    if settings is None or settings.kafka_security_protocol == "PLAINTEXT":
        return None
    context = ssl_context(settings)
    use_ssl = settings.kafka_security_protocol in _TLS
    if settings.kafka_security_protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    assert settings.kafka_sasl_username is not None and settings.kafka_sasl_password is not None  # validated
    mechanisms: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }
    sasl = mechanisms[settings.kafka_sasl_mechanism]
    return sasl(
        settings.kafka_sasl_username,
        settings.kafka_sasl_password.get_secret_value(),
        ssl_context=context,
        use_ssl=use_ssl,
    )


def sasl_ssl_settings(
    username: str, password: str, ca_file: Path | str, mechanism: SaslMechanism = "SCRAM-SHA-512"
) -> KafkaSecuritySettings:
    """The settings of a SASL_SSL client, given rather than read from the environment (the demo, the tests)."""
    return KafkaSecuritySettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username=username,
        kafka_sasl_password=SecretStr(password),
        kafka_ssl_ca_file=Path(ca_file),
    )


def security_env(
    username: str, password: str, ca_file: Path | str, mechanism: SaslMechanism = "SCRAM-SHA-512"
) -> dict[str, str]:
    """The environment of a SASL_SSL client (what a service process or ``mc-ops`` is started with)."""
    return {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": mechanism,
        "KAFKA_SASL_USERNAME": username,
        "KAFKA_SASL_PASSWORD": password,
        "KAFKA_SSL_CA_FILE": str(ca_file),
    }


def librdkafka_config(settings: KafkaSecuritySettings | None) -> dict[str, str]:
    """The same settings for a librdkafka client (confluent-kafka: ``mc-ops acls``, campus systems' examples)."""
    if settings is None or settings.kafka_security_protocol == "PLAINTEXT":
        return {}
    config = {"security.protocol": settings.kafka_security_protocol.lower()}
    if settings.kafka_security_protocol in _SASL:
        assert settings.kafka_sasl_password is not None  # validated
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username or ""
        config["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    files = {
        "ssl.ca.location": settings.kafka_ssl_ca_file,
        "ssl.certificate.location": settings.kafka_ssl_cert_file,
        "ssl.key.location": settings.kafka_ssl_key_file,
    }
    config.update({key: str(path) for key, path in files.items() if path is not None and settings.kafka_ssl_ca_file})
    if settings.kafka_security_protocol in _TLS:
        config["ssl.endpoint.identification.algorithm"] = "https"
    return config
