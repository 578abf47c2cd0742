"""Verify a credential we (or anyone using the same stack) issued.

The result lists every check with a reason so that an API or UI can say *why* a
credential is not valid; ``verified`` is true only if every check passed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from cryptography.exceptions import InvalidSignature

from certification.adapters.canonical import CanonicalisationUnavailable, CanonicalLimitExceeded, failure_reason
from certification.adapters.contexts import DocumentLoader
from certification.adapters.keys import KeyFormatError, decode_multibase_base58btc, public_key_from_multibase
from certification.adapters.signing import CRYPTOSUITE, PROOF_PURPOSE, PROOF_TYPE, proof_configuration
from certification.adapters.signing import hash_data as rdfc_hash_data
from certification.adapters.status_list import StatusListError, status_list_from_credential

JsonObject = dict[str, Any]
# Given a URL, return the JSON document published there (or None if unknown).
Resolver = Callable[[str], JsonObject | None]
# (unsecured document, proof configuration) -> the eddsa-rdfc-2022 hashData; raises CanonicalLimitExceeded over
# the limits (the verification is refused, not answered) or any other error for a document it cannot canonicalise.
HashData = Callable[[JsonObject, JsonObject], bytes]

CHECK_PROOF_PRESENT = "proof_present"
CHECK_CRYPTOSUITE = "cryptosuite_supported"
CHECK_VERIFICATION_METHOD = "verification_method"
CHECK_SIGNATURE = "signature"
CHECK_STATUS = "status"
CHECK_VALIDITY = "validity_period"
ALL_CHECKS = (
    CHECK_PROOF_PRESENT,
    CHECK_CRYPTOSUITE,
    CHECK_VERIFICATION_METHOD,
    CHECK_SIGNATURE,
    CHECK_STATUS,
    CHECK_VALIDITY,
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    reason: str


@dataclass(frozen=True)
class VerificationResult:
    checks: tuple[Check, ...]
    # True/False once the status bit was read; None if there is no status or it
    # could not be read.
    revoked: bool | None = None

    @property
    def verified(self) -> bool:
        return all(check.ok for check in self.checks)

    def check(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.ok)

    def to_dict(self) -> JsonObject:
        return {
            "verified": self.verified,
            "revoked": self.revoked,
            "checks": [{"name": c.name, "ok": c.ok, "reason": c.reason} for c in self.checks],
        }


class _Failed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _RevokedError(_Failed):
    def __init__(self) -> None:
        super().__init__("credential has been revoked by its issuer")


def _parse_datetime(value: Any, label: str) -> datetime:
    if not isinstance(value, str):
        raise _Failed(f"{label} is not a date-time string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Failed(f"{label} {value!r} is not an XSD dateTime") from None
    if moment.tzinfo is None:
        raise _Failed(f"{label} {value!r} has no time zone")
    return moment


def _issuer_id(doc: JsonObject) -> str | None:
    issuer = doc.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def _single_proof(doc: JsonObject) -> JsonObject:
    proof = doc.get("proof")
    if isinstance(proof, list):
        if len(proof) != 1:
            raise _Failed(f"expected exactly one proof, found {len(proof)}")
        proof = proof[0]
    if not isinstance(proof, dict):
        raise _Failed("credential has no proof")
    return proof


def _check_cryptosuite(proof: JsonObject) -> None:
    if proof.get("type") != PROOF_TYPE:
        raise _Failed(f"proof type {proof.get('type')!r} is not {PROOF_TYPE}")
    if proof.get("cryptosuite") != CRYPTOSUITE:
        raise _Failed(f"cryptosuite {proof.get('cryptosuite')!r} is not supported (only {CRYPTOSUITE})")
    if proof.get("proofPurpose") != PROOF_PURPOSE:
        raise _Failed(f"proof purpose {proof.get('proofPurpose')!r} is not {PROOF_PURPOSE}")
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z"):
        raise _Failed("proofValue is missing or not multibase base58btc")
    if "created" in proof:
        _parse_datetime(proof["created"], "proof.created")


def _find_verification_method(
    doc: JsonObject, proof: JsonObject, resolve_controller: Resolver, now: datetime
) -> JsonObject:
    vm_id = proof.get("verificationMethod")
    if isinstance(vm_id, dict):
        vm_id = vm_id.get("id")
    if not isinstance(vm_id, str) or "#" not in vm_id:
        raise _Failed("proof.verificationMethod must be a '<controller>#<key>' URL")
    controller_id = vm_id.split("#", 1)[0]
    issuer_id = _issuer_id(doc)
    if controller_id != issuer_id:
        raise _Failed(f"key {vm_id!r} is not controlled by the issuer {issuer_id!r}")
    try:
        controller = resolve_controller(controller_id)
    except Exception as exc:  # a resolver may do I/O; any failure means "unknown"
        raise _Failed(f"could not resolve controller document {controller_id!r}: {exc}") from exc
    if not isinstance(controller, dict):
        raise _Failed(f"controller document {controller_id!r} not found")
    if controller.get("id") != controller_id:
        raise _Failed(f"controller document id {controller.get('id')!r} is not {controller_id!r}")
    methods = controller.get("verificationMethod") or []
    methods = methods if isinstance(methods, list) else [methods]
    vm = next((m for m in methods if isinstance(m, dict) and m.get("id") == vm_id), None)
    if vm is None:
        raise _Failed(f"verification method {vm_id!r} is not listed by its controller")
    if vm.get("type") != "Multikey":
        raise _Failed(f"verification method type {vm.get('type')!r} is not Multikey")
    if vm.get("controller") != controller_id:
        raise _Failed(f"verification method controller {vm.get('controller')!r} is not {controller_id!r}")
    assertion = controller.get("assertionMethod") or []
    assertion = assertion if isinstance(assertion, list) else [assertion]
    authorised = {a if isinstance(a, str) else a.get("id") for a in assertion if isinstance(a, str | dict)}
    if vm_id not in authorised:
        raise _Failed(f"verification method {vm_id!r} is not authorised for assertionMethod")
    if "revoked" in vm:
        revoked = _parse_datetime(vm["revoked"], "verificationMethod.revoked")
        if revoked <= now:
            raise _Failed(f"verification method {vm_id!r} was revoked at {vm['revoked']}")
    return vm


def _check_signature(doc: JsonObject, proof: JsonObject, vm: JsonObject, hashing: HashData) -> None:
    try:
        public_key = public_key_from_multibase(str(vm.get("publicKeyMultibase", "")))
        signature = decode_multibase_base58btc(proof["proofValue"])
    except KeyFormatError as exc:
        raise _Failed(str(exc)) from exc
    unsecured = {k: copy.deepcopy(v) for k, v in doc.items() if k != "proof"}
    proof_context = proof.get("@context")
    if proof_context is not None:
        # Data Integrity: a proof's own @context must be a prefix of the document's.
        doc_context = doc.get("@context")
        doc_list = doc_context if isinstance(doc_context, list) else [doc_context]
        proof_list = proof_context if isinstance(proof_context, list) else [proof_context]
        if doc_list[: len(proof_list)] != proof_list:
            raise _Failed("proof @context does not match the start of the document @context")
    try:
        data = hashing(unsecured, proof_configuration(unsecured, proof))
    except (CanonicalLimitExceeded, CanonicalisationUnavailable):
        raise
    except Exception as exc:
        raise _Failed(failure_reason(exc)) from exc
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        raise _Failed("signature does not match the credential (altered, or signed by another key)") from None


def _check_validity(doc: JsonObject, now: datetime) -> str:
    if "validFrom" in doc:
        valid_from = _parse_datetime(doc["validFrom"], "validFrom")
        if now < valid_from:
            raise _Failed(f"not valid before {doc['validFrom']}")
    if "validUntil" in doc:
        valid_until = _parse_datetime(doc["validUntil"], "validUntil")
        if now >= valid_until:
            raise _Failed(f"expired at {doc['validUntil']}")
    return "within validFrom/validUntil"


def _check_status(
    doc: JsonObject,
    resolve_controller: Resolver,
    resolve_status_list: Resolver | None,
    hashing: HashData,
    now: datetime,
) -> tuple[str, bool | None]:
    status = doc.get("credentialStatus")
    if status is None:
        return "credential has no credentialStatus", None
    entries = status if isinstance(status, list) else [status]
    revocation = [
        e
        for e in entries
        if isinstance(e, dict)
        and e.get("type") == "BitstringStatusListEntry"
        and e.get("statusPurpose") == "revocation"
    ]
    if not revocation:
        raise _Failed("credentialStatus has no BitstringStatusListEntry with purpose revocation")
    if resolve_status_list is None:
        raise _Failed("the credential has a status list but no status list resolver was given")
    revoked = False
    for entry in revocation:
        url = entry.get("statusListCredential")
        try:
            index = int(entry.get("statusListIndex", ""))
        except (TypeError, ValueError):
            raise _Failed("statusListIndex is not an integer") from None
        if not isinstance(url, str):
            raise _Failed("statusListCredential is missing")
        try:
            list_credential = resolve_status_list(url)
        except Exception as exc:  # a resolver may do I/O
            raise _Failed(f"could not fetch status list {url!r}: {exc}") from exc
        if not isinstance(list_credential, dict):
            raise _Failed(f"status list {url!r} not found")
        if "BitstringStatusListCredential" not in (list_credential.get("type") or []):
            raise _Failed(f"{url!r} is not a BitstringStatusListCredential")
        if _issuer_id(list_credential) != _issuer_id(doc):
            raise _Failed("status list and credential have different issuers")
        list_result = verify_credential(
            list_credential, resolve_controller, hash_data=hashing, now=now, check_status=False
        )
        if not list_result.verified:
            reasons = "; ".join(f"{c.name}: {c.reason}" for c in list_result.failures)
            raise _Failed(f"status list credential does not verify ({reasons})")
        subject = list_credential.get("credentialSubject") or {}
        if isinstance(subject, dict) and subject.get("statusPurpose") != entry.get("statusPurpose"):
            raise _Failed("status list purpose does not match the credential's status entry")
        try:
            bits = status_list_from_credential(list_credential)
            revoked = revoked or bits.get(index)
        except (StatusListError, IndexError) as exc:
            raise _Failed(f"cannot read status list: {exc}") from exc
    if revoked:
        raise _RevokedError
    return "not revoked", False


def verify_credential(
    doc: JsonObject,
    resolve_controller: Resolver,
    *,
    resolve_status_list: Resolver | None = None,
    loader: DocumentLoader | None = None,
    now: datetime | None = None,
    check_status: bool = True,
    hash_data: HashData | None = None,
    signature_refused: str | None = None,
) -> VerificationResult:
    """Run every check; never raises for a bad credential, only reports.

    ``resolve_controller(url)`` returns the controller document published at the
    issuer id; ``resolve_status_list(url)`` returns a status list credential.
    ``hash_data`` canonicalises (default: in this thread, with the default
    limits); over its limits it raises :class:`CanonicalLimitExceeded`, which
    propagates: such a document is refused, not judged. ``signature_refused``
    fails the signature check with that reason without canonicalising (the
    caller knows the document is not the one that was signed).
    """
    if not isinstance(doc, dict):
        # Untrusted input (e.g. an uploaded file) may be any JSON value.
        return VerificationResult(
            checks=tuple(Check(name, False, "credential is not a JSON object") for name in ALL_CHECKS)
        )
    hashing = hash_data or partial(rdfc_hash_data, loader=loader or DocumentLoader())
    now = now or datetime.now(UTC)
    checks = _Checks()
    _check_proof_chain(checks, doc, resolve_controller, hashing, now, signature_refused)
    revoked = (
        _record_status(checks, doc, resolve_controller, resolve_status_list, hashing, now) if check_status else None
    )
    checks.record(CHECK_VALIDITY, lambda: _check_validity(doc, now))
    return VerificationResult(checks=tuple(checks.done), revoked=revoked)


class _Checks:
    """The checks run so far, in order, each passed (with what was found) or failed (with why)."""

    def __init__(self) -> None:
        self.done: list[Check] = []

    def record(self, name: str, step: Callable[[], str]) -> bool:
        try:
            reason = step()
        except _Failed as exc:
            self.done.append(Check(name, False, exc.reason))
            return False
        self.done.append(Check(name, True, reason))
        return True


def _skipped(reason: str) -> Callable[[], str]:
    def fail() -> str:
        raise _Failed(f"not checked: {reason}")

    return fail


def _check_proof_chain(
    checks: _Checks,
    doc: JsonObject,
    resolve_controller: Resolver,
    hashing: HashData,
    now: datetime,
    signature_refused: str | None,
) -> None:
    """Proof, cryptosuite, verification method, signature: each needs the one before it."""
    proof: JsonObject = {}
    vm: JsonObject = {}

    def step_proof() -> str:
        nonlocal proof
        proof = _single_proof(doc)
        return "one proof"

    def step_suite() -> str:
        _check_cryptosuite(proof)
        return f"{PROOF_TYPE} / {CRYPTOSUITE}"

    def step_vm() -> str:
        nonlocal vm
        vm = _find_verification_method(doc, proof, resolve_controller, now)
        return f"{vm['id']} is an assertionMethod of {vm['controller']}"

    def step_signature() -> str:
        if signature_refused is not None:
            raise _Failed(signature_refused)
        _check_signature(doc, proof, vm, hashing)
        return "Ed25519 signature over RDFC-1.0 canonical form is valid"

    have_proof = checks.record(CHECK_PROOF_PRESENT, step_proof)
    suite_ok = checks.record(CHECK_CRYPTOSUITE, step_suite if have_proof else _skipped("no proof"))
    vm_ok = checks.record(CHECK_VERIFICATION_METHOD, step_vm if suite_ok else _skipped("unsupported proof"))
    checks.record(CHECK_SIGNATURE, step_signature if vm_ok else _skipped("no usable verification method"))


def _record_status(
    checks: _Checks,
    doc: JsonObject,
    resolve_controller: Resolver,
    resolve_status_list: Resolver | None,
    hashing: HashData,
    now: datetime,
) -> bool | None:
    """The status check; returns the revocation bit once it could be read."""
    revoked: bool | None = None

    def step_status() -> str:
        nonlocal revoked
        try:
            reason, revoked = _check_status(doc, resolve_controller, resolve_status_list, hashing, now)
        except _RevokedError:
            revoked = True
            raise
        return reason

    checks.record(CHECK_STATUS, step_status)
    return revoked
