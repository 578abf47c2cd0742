"""The issuer as this deployment runs it: its URLs, its keys, and signing and verifying with them.

Everything a verifier dereferences derives from one public base URL:

| what | URL |
| --- | --- |
| issuer id = controller document | ``<base>/issuer`` |
| a credential | ``<base>/credentials/<uuid>`` |
| a status list credential | ``<base>/status-lists/<n>`` |
| our JSON-LD context | ``<base>/contexts/microcredential/v1`` |
| verification page (QR code) | ``<base>/verify?credential=<credential url>`` |
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from certification.adapters.contexts import DocumentLoader
from certification.adapters.keys import IssuerKey, PublicKeyEntry, build_controller_document
from certification.adapters.signing import sign_credential
from certification.adapters.status_list import StatusList, build_status_list_credential
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
    loader: DocumentLoader = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
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
    ) -> Issuer:
        issuer_id = f"{base_url.rstrip('/')}/issuer"
        return cls(
            base_url=base_url,
            key=IssuerKey.from_secret(issuer_id, key_id, secret),
            retired_keys=tuple(retired_keys),
            identity_salt=identity_salt,
            clock=clock,
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
