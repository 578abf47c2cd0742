"""The issuer as this deployment runs it: its URLs, its keys, and signing and verifying with them.

Everything a verifier dereferences derives from one public base URL:

| what | URL |
| --- | --- |
| issuer id = controller document | ``<base>/issuer`` |
| a credential | ``<base>/credentials/<uuid>`` |
| a status list credential | ``<base>/status-lists/<n>`` |
| our JSON-LD context | ``<base>/contexts/microcredential/v1`` |
| verification page (QR code) | ``<base>/verify?credential=<credential url>`` |
| SD-JWT VC issuer (``iss``), its keys | ``<base>``, ``<base>/.well-known/jwt-vc-issuer`` |
| SD-JWT VC type (``vct``) | ``<base>/types/microcredential/v1`` |
| a Token Status List | ``<base>/status-lists/<n>/token`` |
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from certification.adapters.contexts import DocumentLoader
from certification.adapters.jwt_keys import JwtPublicKey, JwtSigningKey
from certification.adapters.keys import IssuerKey, PublicKeyEntry, build_controller_document
from certification.adapters.signing import sign_credential
from certification.adapters.status_list import StatusList, build_status_list_credential
from certification.adapters.token_status_list import TOKEN_LIFETIME, status_list_token
from certification.adapters.verification import HashData, VerificationResult, verify_credential

JsonObject = dict[str, Any]


def utc_now() -> datetime:
    return datetime.now(UTC)


class ForeignDocument(LookupError):
    """A verifier asked for a document of another issuer; we only vouch for our own (and fetch nothing)."""


@dataclass
class Issuer:
    base_url: str
    key: IssuerKey
    retired_keys: Sequence[PublicKeyEntry] = ()
    identity_salt: str | None = None
    """Secret the per-credential e-mail hash salt is derived from; None: a random salt per credential."""
    clock: Callable[[], datetime] = utc_now
    jwt_key: JwtSigningKey = field(default_factory=JwtSigningKey.generate)
    """ES256, for the SD-JWT VC edition and the status list tokens; bootstrap passes the configured one (a
    library user who gives none gets a throw-away key)."""
    retired_jwt_keys: Sequence[JwtPublicKey] = ()
    loader: DocumentLoader = field(init=False)
    _tokens: dict[str, tuple[int, bytes, datetime, str]] = field(init=False, default_factory=dict, repr=False)
    _tokens_lock: threading.Lock = field(init=False, default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        kids = [self.jwt_key.kid, *(key.kid for key in self.retired_jwt_keys)]
        if len(set(kids)) != len(kids):
            raise ValueError(f"JWT key ids must be unique: {kids}")
        if self.key.issuer_id != self.issuer_id:
            raise ValueError(f"signing key belongs to {self.key.issuer_id!r}, not to {self.issuer_id!r}")
        listed = [self.key.public(), *self.retired_keys]
        ids = [entry.key_id for entry in listed]
        if len(set(ids)) != len(ids):
            raise ValueError(
                f"key ids must be unique; the signing key id {self.key.key_id!r} or a retired key id repeats: {ids}"
            )
        # One loader per process: it caches resolved contexts, and our context is rebased onto base_url.
        self.loader = DocumentLoader(self.base_url)

    @classmethod
    def create(
        cls,
        base_url: str,
        key_id: str,
        secret: str,
        retired_keys: Sequence[PublicKeyEntry] = (),
        identity_salt: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        jwt_key: JwtSigningKey | None = None,
        retired_jwt_keys: Sequence[JwtPublicKey] = (),
    ) -> Issuer:
        issuer_id = f"{base_url.rstrip('/')}/issuer"
        return cls(
            base_url=base_url,
            key=IssuerKey.from_secret(issuer_id, key_id, secret),
            retired_keys=tuple(retired_keys),
            identity_salt=identity_salt,
            clock=clock,
            jwt_key=jwt_key or JwtSigningKey.generate(),
            retired_jwt_keys=tuple(retired_jwt_keys),
        )

    # --- URLs ---

    @property
    def issuer_id(self) -> str:
        return f"{self.base_url}/issuer"

    def credential_url(self, credential_id: str) -> str:
        return f"{self.base_url}/credentials/{credential_id}"

    def credential_id(self, url: str) -> str | None:
        """The credential id in one of our credential URLs, or None for anything else."""
        prefix = self.credential_url("")
        rest = url.removeprefix(prefix)
        return rest if url.startswith(prefix) and rest and "/" not in rest and "#" not in rest else None

    def status_list_url(self, list_id: str) -> str:
        return f"{self.base_url}/status-lists/{list_id}"

    def status_list_id(self, url: str) -> str | None:
        """The list id in one of our status list URLs, or None for anything else."""
        prefix = self.status_list_url("")
        rest = url.removeprefix(prefix)
        return rest if url.startswith(prefix) and rest and "/" not in rest and "#" not in rest else None

    def verification_url(self, credential_url: str) -> str:
        return f"{self.base_url}/verify?credential={quote(credential_url, safe='')}"

    @property
    def vct(self) -> str:
        """The SD-JWT VC type, also the URL of its type metadata."""
        return f"{self.base_url}/types/microcredential/v1"

    def status_list_token_url(self, list_id: str) -> str:
        return f"{self.status_list_url(list_id)}/token"

    def status_list_token_id(self, url: str) -> str | None:
        """The list id in one of our status list token URLs, or None for anything else."""
        list_id = self.status_list_id(url.removesuffix("/token")) if url.endswith("/token") else None
        return list_id if list_id is not None and list_id.isdigit() else None

    # --- documents ---

    def controller_document(self) -> JsonObject:
        """Served at the issuer id: the signing key first, then the retired keys that still verify."""
        return build_controller_document(self.issuer_id, [self.key.public(), *self.retired_keys])

    def salt_for(self, enrolment_id: str) -> str:
        """The salt of the learner's e-mail hash: different per credential, so hashes cannot be linked across
        credentials; derived from a secret when one is configured, so re-issuing an enrolment gives the same hash."""
        if self.identity_salt:
            digest = hmac.new(self.identity_salt.encode("utf-8"), enrolment_id.encode("utf-8"), hashlib.sha256)
            return digest.hexdigest()[:32]
        return secrets.token_hex(16)

    def jwt_keys(self) -> list[JwtPublicKey]:
        """The ES256 keys that verify: the signing key first, then the retired ones."""
        return [self.jwt_key.public(), *self.retired_jwt_keys]

    def jwt_vc_issuer_metadata(self) -> JsonObject:
        """JWT VC Issuer Metadata (draft-ietf-oauth-sd-jwt-vc), served at ``/.well-known/jwt-vc-issuer``."""
        return {"issuer": self.base_url, "jwks": {"keys": [key.jwk() for key in self.jwt_keys()]}}

    def status_list_token(self, list_id: str, bits: bytes, revision: int) -> str:
        """The signed Token Status List of ``bits``: signed once per list revision (and bits: a restored database
        may repeat a revision number) and kept in memory until half its lifetime has passed."""
        now = self.clock()
        with self._tokens_lock:
            cached = self._tokens.get(list_id)
        if cached is not None and cached[:2] == (revision, bits) and now < cached[2] + TOKEN_LIFETIME / 2:
            return cached[3]
        token = status_list_token(
            self.jwt_key, issuer=self.base_url, uri=self.status_list_token_url(list_id), bitstring=bits, at=now
        )
        with self._tokens_lock:
            self._tokens[list_id] = (revision, bits, now, token)
        return token

    def sign(self, unsigned: JsonObject, created: datetime) -> JsonObject:
        return sign_credential(unsigned, self.key, self.loader, created=created)

    def signed_status_list(self, list_id: str, bits: StatusList, at: datetime) -> JsonObject:
        unsigned = build_status_list_credential(
            list_credential_url=self.status_list_url(list_id), issuer_id=self.issuer_id, status_list=bits, valid_from=at
        )
        return self.sign(unsigned, at)

    # --- verification ---

    def verify(
        self,
        document: Any,
        status_list_of: Callable[[str], JsonObject | None],
        *,
        hash_data: HashData | None = None,
        signature_refused: str | None = None,
    ) -> VerificationResult:
        """Verify with our own controller document and status lists; `status_list_of(list_id)` reads a list.

        Nothing is fetched from the network: a credential of another issuer fails the verification_method check
        with a reason saying so. `hash_data` and `signature_refused`: see `verify_credential`.
        """

        def resolve_controller(url: str) -> JsonObject | None:
            if url != self.issuer_id:
                raise ForeignDocument(f"this service verifies only credentials issued by {self.issuer_id}")
            return self.controller_document()

        def resolve_status_list(url: str) -> JsonObject | None:
            list_id = self.status_list_id(url)
            if list_id is None:
                raise ForeignDocument(f"{url} is not one of this issuer's status lists")
            return status_list_of(list_id)

        return verify_credential(
            document,
            resolve_controller,
            resolve_status_list=resolve_status_list,
            loader=self.loader,
            now=self.clock(),
            hash_data=hash_data,
            signature_refused=signature_refused,
        )
