"""Settings of the certification service, from environment variables (see reliability.settings for the shared ones).

Every URL a verifier resolves derives from PUBLIC_BASE_URL: the issuer id (``<base>/issuer``), credential ids,
status lists and our JSON-LD context. Those URLs end up inside signed credentials, so once credentials are issued
the base URL must never change.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode
from reliability.settings import ServiceSettings

from certification.adapters import KeyFormatError, PublicKeyEntry, generate_secret_key, public_key_from_multibase
from certification.adapters.canonical import CanonicalLimits
from certification.adapters.jwt_keys import (
    JwtPublicKey,
    JwtSigningKey,
    derive_jwt_secret,
    load_jwt_private_key,
    parse_retired_jwt_key,
)
from certification.adapters.oid4vci import OfferPolicy

log = logging.getLogger(__name__)

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


class SigningKeyMissing(RuntimeError):
    """No CREDENTIAL_SIGNING_KEY and no permission to make up a throw-away one."""


class CertificationSettings(ServiceSettings):
    http_port: int = Field(default=8003, ge=1, le=65535, description="Port of the HTTP API.")
    database_url: str = Field(
        default="sqlite:///./var/certification.db", description="SQLAlchemy URL; PostgreSQL in production."
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8003",
        description="Public URL of this service; issuer id, credential ids, status lists and the context derive "
        "from it and are signed into credentials, so it must never change once credentials are issued.",
    )
    credential_signing_key: SecretStr | None = Field(
        default=None,
        description="Ed25519 secret key (secretKeyMultibase 'z...' or base64 of the 32-byte seed); "
        "`python -m certification generate-key` makes one. Required unless DEV_MODE is true.",
    )
    signing_key_id: str = Field(
        default="key-1",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Fragment naming the signing key in the controller document (<issuer id>#<key id>).",
    )
    retired_public_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description='Comma-separated "key-id=z6Mk..." public keys of earlier signing keys; still listed in the '
        "controller document so the credentials they signed keep verifying.",
    )
    credential_jwt_signing_key: SecretStr | None = Field(
        default=None,
        description="ES256 (P-256) secret key of the SD-JWT VC edition and the status list tokens: base64url of the "
        "32-byte private scalar or a PEM key; `python -m certification generate-jwt-key` makes one. Unset: derived "
        "from CREDENTIAL_SIGNING_KEY (HKDF-SHA256), so it is as stable as that key and rotates with it.",
    )
    jwt_signing_key_id: str = Field(
        default="jwt-key-1",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="kid of the ES256 key in the JWT headers and in /.well-known/jwt-vc-issuer.",
    )
    retired_jwt_public_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description='Comma-separated "kid=<base64url of the uncompressed P-256 point>" of earlier ES256 keys; still '
        "listed in /.well-known/jwt-vc-issuer so the SD-JWT VCs they signed keep verifying "
        "(`python -m certification public-key` prints the current one in that form).",
    )
    identity_salt: SecretStr | None = Field(
        default=None,
        description="Secret from which each credential's e-mail hash salt is derived (HMAC of the enrolment id); "
        "without it every credential gets a random salt.",
    )
    dev_mode: bool = Field(
        default=False,
        description="Development only: allows an ephemeral signing key (regenerated at every start, so earlier "
        "credentials stop verifying) when CREDENTIAL_SIGNING_KEY is unset; refused unless PUBLIC_BASE_URL is a "
        "localhost URL.",
    )

    # --- wallets (OpenID4VCI, issue 13) ---
    offer_lifetime_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="A credential offer (its QR code and PIN) works this many days after it was made; then an "
        "operator re-offers (POST /credentials/{id}/offers). Applies to open offers too.",
    )
    offer_max_pin_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Wrong PINs (tx_code) after which an offer's pre-authorized code is dead.",
    )

    verify_max_json_depth: int = Field(
        default=64,
        ge=8,
        le=500,
        description="POST /verify: a body nested deeper (objects and arrays) is refused (422) before anything else.",
    )
    verify_max_blank_nodes: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description="POST /verify: a document with more blank nodes in its RDF dataset is refused (422) before "
        "RDFC-1.0 runs (an issued credential has a few dozen).",
    )
    verify_work_factor: int = Field(
        default=1,
        ge=0,
        le=4,
        description="RDFC-1.0 work limit: (look-alike blank nodes) ** this many Hash N-Degree Quads calls per "
        "canonicalisation, beyond that 422; 1 is rdf-canonize's default (Digital Bazaar's verifiers).",
    )
    verify_time_budget_seconds: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="POST /verify: wall-clock budget of one canonicalisation job in a worker process; a worker "
        "still busy after it is killed and replaced, and the document refused (422).",
    )
    verify_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Worker processes canonicalising submitted documents; when all stay busy for a whole "
        "budget, POST /verify answers 503 with Retry-After.",
    )

    @field_validator("public_base_url")
    @classmethod
    def _absolute_base(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or "#" in value or "?" in value:
            raise ValueError(
                "must be an absolute http(s) URL without query or fragment, e.g. https://credentials.example.edu"
            )
        return value

    @model_validator(mode="after")
    def _dev_mode_only_on_localhost(self) -> CertificationSettings:
        # A throw-away key on a public URL would put credentials into the world that stop verifying at the next
        # restart, signed by a key nobody holds; development happens on this machine.
        if self.dev_mode and urlsplit(self.public_base_url).hostname not in LOCAL_HOSTS:
            raise ValueError(
                f"DEV_MODE is for development on this machine only: PUBLIC_BASE_URL {self.public_base_url!r} is not "
                "a localhost URL. Unset DEV_MODE and set CREDENTIAL_SIGNING_KEY (python -m certification generate-key)"
            )
        return self

    @field_validator("retired_public_keys", "retired_jwt_public_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
        return value

    @field_validator("retired_public_keys")
    @classmethod
    def _parse_keys(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_public_key_entry(entry)
        return value

    @field_validator("retired_jwt_public_keys")
    @classmethod
    def _parse_jwt_keys(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                parse_retired_jwt_key(entry)
            except KeyFormatError as error:
                raise ValueError(str(error)) from error
        return value

    @field_validator("credential_jwt_signing_key")
    @classmethod
    def _parse_jwt_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            try:
                load_jwt_private_key(value.get_secret_value())
            except KeyFormatError as error:
                raise ValueError(str(error)) from None  # the message never quotes the secret
        return value

    def jwt_signing_key(self, signing_secret: str) -> JwtSigningKey:
        """The configured ES256 key, or the one derived from the Ed25519 secret in use (`signing_secret`)."""
        configured = self.credential_jwt_signing_key
        if configured is not None and configured.get_secret_value().strip():
            return JwtSigningKey.from_secret(self.jwt_signing_key_id, configured.get_secret_value())
        return JwtSigningKey.from_secret(self.jwt_signing_key_id, derive_jwt_secret(signing_secret))

    def retired_jwt_keys(self) -> list[JwtPublicKey]:
        return [parse_retired_jwt_key(entry) for entry in self.retired_jwt_public_keys]

    @property
    def issuer_id(self) -> str:
        return f"{self.public_base_url}/issuer"

    def canonical_limits(self) -> CanonicalLimits:
        return CanonicalLimits(max_blank_nodes=self.verify_max_blank_nodes, work_factor=self.verify_work_factor)

    def offer_policy(self) -> OfferPolicy:
        return OfferPolicy(lifetime=timedelta(days=self.offer_lifetime_days), max_attempts=self.offer_max_pin_attempts)

    def retired_keys(self) -> list[PublicKeyEntry]:
        return [parse_public_key_entry(entry) for entry in self.retired_public_keys]

    def signing_secret(self) -> str:
        """The configured secret key, or (DEV_MODE only) a fresh one for this process."""
        if self.credential_signing_key is not None and self.credential_signing_key.get_secret_value().strip():
            return self.credential_signing_key.get_secret_value()
        if not self.dev_mode:
            raise SigningKeyMissing(
                "CREDENTIAL_SIGNING_KEY is not set. Generate one with `python -m certification generate-key` and "
                "put it in the environment (never in the repository); for local development only, DEV_MODE=true "
                "lets the service make up a throw-away key."
            )
        log.warning(
            "no CREDENTIAL_SIGNING_KEY: signing with an ephemeral development key; credentials issued now will not "
            "verify after a restart"
        )
        return generate_secret_key()


def parse_public_key_entry(entry: str) -> PublicKeyEntry:
    """``key-id=z6Mk...`` -> a key listed in the controller document."""
    key_id, separator, multibase = entry.strip().partition("=")
    key_id, multibase = key_id.strip(), multibase.strip()
    if not separator or not key_id or not multibase or "#" in key_id:
        raise ValueError(f'retired public key {entry!r} must look like "key-id=z6Mk..."')
    try:
        public_key_from_multibase(multibase)
    except KeyFormatError as error:
        raise ValueError(f"retired public key {key_id!r}: {error}") from error
    return PublicKeyEntry(key_id=key_id, public_key_multibase=multibase)
