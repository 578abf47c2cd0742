"""Interop: credentials issued by our Python code, verified by Digital Bazaar's
JavaScript stack (verify.mjs), and our own verifier must agree on every case.

Runs ``npm ci`` itself when node_modules is missing so a fresh clone (CI) works;
skips only when Node.js is not installed.
"""

from __future__ import annotations

import copy
import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from certification.adapters import (
    DocumentLoader,
    IssuerKey,
    StatusList,
    build_controller_document,
    build_status_list_credential,
    generate_secret_key,
    microcredential_context,
    sign_credential,
    verify_credential,
)
from certification.adapters.canonical import CanonicalLimitExceeded
from certification.domain import (
    AwardingBody,
    Course,
    CourseResult,
    Grade,
    Learner,
    MicroCredential,
    StatusListEntry,
    build_credential,
    microcredential_context_url,
)

from tests.certification.certification_support import look_alike_blank_nodes

pytestmark = pytest.mark.node

HERE = Path(__file__).parent
ISSUER_ID = "https://credentials.example.edu/issuers/faculty-of-engineering"
STATUS_LIST_URL = "https://credentials.example.edu/status/revocation/1"
ISSUED_AT = datetime(2025, 7, 1, 9, 30, tzinfo=UTC)
VALID_INDEX = 1234
REVOKED_INDEX = 98765


def run_verifier(node: str, credential: dict, documents: dict[str, Any]) -> dict:
    done = subprocess.run(
        [node, str(HERE / "verify.mjs")],
        input=json.dumps({"credential": credential, "documents": documents}),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=HERE,
    )
    assert done.stdout.strip(), f"verify.mjs printed nothing; stderr:\n{done.stderr}"
    result: dict = json.loads(done.stdout)
    assert not result.get("crashed"), f"verify.mjs crashed: {result}\n{done.stderr}"
    return result


def sample_microcredential(ects: str) -> MicroCredential:
    return MicroCredential(
        id="mc-applied-ml",
        title="Applied Machine Learning for Engineers",
        description="A practice-oriented micro-credential on building and evaluating ML models.",
        academic_year="2024-2025",
        ects_credits=Decimal(ects),
        courses=(
            Course(id="H0A12a", title="Foundations of Machine Learning"),
            Course(id="H0B34b", title="Machine Learning Project"),
        ),
        learning_outcomes=(
            "Select and train a suitable model for a tabular prediction problem.",
            "Evaluate a model with cross-validation and explain its limitations.",
        ),
        eqf_level=7,
        cycle="second cycle",
        assessment_type="Written exam and graded project",
        participation_form="hybrid",
        quality_assurance="Internal quality assurance, institutionally reviewed by NVAO",
        awarding_body=AwardingBody(
            name="Example University", url="https://www.example.edu", country_code="BE", region="Flanders"
        ),
        prerequisites="Bachelor in engineering or science",
        stackability="Stackable towards the Master of Artificial Intelligence",
    )


@dataclass
class Issued:
    documents: dict[str, Any]
    loader: DocumentLoader
    credentials: dict[str, dict]


@pytest.fixture(scope="module")
def issued() -> Issued:
    loader = DocumentLoader()
    old_key = IssuerKey.from_secret(ISSUER_ID, "key-2024", generate_secret_key())
    key = IssuerKey.from_secret(ISSUER_ID, "key-2025", generate_secret_key())

    def make(index: int, ects: str, signing_key: IssuerKey, credential_no: int) -> dict:
        unsigned = build_credential(
            learner=Learner(id="r0123456", given_name="Ada", family_name="Lovelace", email="ada@example.org"),
            microcredential=sample_microcredential(ects),
            results=[
                CourseResult("H0A12a", datetime(2025, 6, 12, 14, tzinfo=UTC), Grade("15", "0-20"), True, True),
                CourseResult("H0B34b", datetime(2025, 6, 25, 10, tzinfo=UTC), Grade("17", "0-20"), False, True),
            ],
            issued_at=ISSUED_AT,
            credential_id=f"https://credentials.example.edu/credentials/{credential_no}",
            issuer_id=ISSUER_ID,
            identity_salt="6f1c2a9e",
            status=StatusListEntry(STATUS_LIST_URL, index),
        )
        return sign_credential(unsigned, signing_key, loader, created=ISSUED_AT)

    status_list = StatusList()
    status_list.set(REVOKED_INDEX)
    list_credential = sign_credential(
        build_status_list_credential(
            list_credential_url=STATUS_LIST_URL, issuer_id=ISSUER_ID, status_list=status_list, valid_from=ISSUED_AT
        ),
        key,
        loader,
        created=ISSUED_AT,
    )
    documents = {
        # What a verifier fetches from us: the issuer's controller document
        # (both keys: the 2024 one still verifies what it signed), our context,
        # and the status list.
        ISSUER_ID: build_controller_document(ISSUER_ID, [old_key.public(), key.public()]),
        microcredential_context_url(): microcredential_context(),
        STATUS_LIST_URL: list_credential,
    }
    credentials = {
        "valid": make(VALID_INDEX, "6", key, 1),
        "fractional_ects": make(VALID_INDEX + 1, "4.5", key, 2),
        "signed_with_rotated_out_key": make(VALID_INDEX + 2, "6", old_key, 3),
        "revoked": make(REVOKED_INDEX, "6", key, 4),
    }
    return Issued(documents=documents, loader=loader, credentials=credentials)


def python_verify(issued: Issued, credential: dict):
    return verify_credential(
        credential,
        issued.documents.get,
        resolve_status_list=issued.documents.get,
        loader=issued.loader,
    )


@pytest.mark.parametrize("case", ["valid", "fractional_ects", "signed_with_rotated_out_key"])
def test_issued_credential_verifies_in_both(node, issued, case):
    credential = issued.credentials[case]
    js = run_verifier(node, credential, issued.documents)
    assert js["verified"] is True, js
    assert js["errors"] == []
    assert js["status"] == {"verified": True, "status": False, "errors": []}
    py = python_verify(issued, credential)
    assert py.verified, py.to_dict()
    assert py.revoked is False


def _tamper_credits(c: dict) -> None:
    c["credentialSubject"]["achievement"]["creditsAvailable"] = 60


def _tamper_grade(c: dict) -> None:
    c["credentialSubject"]["result"][0]["value"] = "20"


def _tamper_learner_name(c: dict) -> None:
    name = next(i for i in c["credentialSubject"]["identifier"] if i["identityType"] == "name")
    name["identityHash"] = "Eve Mallory"


def _tamper_issuer_region(c: dict) -> None:
    c["issuer"]["address"]["addressRegion"] = "Wallonia"


def _tamper_learning_outcome(c: dict) -> None:
    c["credentialSubject"]["achievement"]["learningOutcomes"][0] = "Can design nuclear reactors."


@pytest.mark.parametrize(
    "tamper",
    [
        _tamper_credits,
        _tamper_grade,
        _tamper_learner_name,
        _tamper_issuer_region,
        _tamper_learning_outcome,
    ],
    ids=lambda f: f.__name__.removeprefix("_tamper_"),
)
def test_tampered_credential_is_rejected_by_both(node, issued, tamper):
    credential = copy.deepcopy(issued.credentials["valid"])
    tamper(credential)
    js = run_verifier(node, credential, issued.documents)
    assert js["verified"] is False, js
    py = python_verify(issued, credential)
    assert not py.verified
    assert not py.check("signature").ok
    assert "signature does not match" in py.check("signature").reason


def test_revoked_credential_status_bit_is_reported_by_both(node, issued):
    credential = issued.credentials["revoked"]
    js = run_verifier(node, credential, issued.documents)
    # Digital Bazaar's checkStatus reports the bit; the proof itself is fine.
    assert js["status"] is not None, js
    assert js["status"]["verified"] is True
    assert js["status"]["status"] is True
    py = python_verify(issued, credential)
    assert py.revoked is True
    assert py.check("signature").ok
    assert not py.check("status").ok
    assert not py.verified


def test_revoked_credential_repointed_at_a_clean_bit_is_rejected_by_both(node, issued):
    credential = copy.deepcopy(issued.credentials["revoked"])
    credential["credentialStatus"]["statusListIndex"] = str(VALID_INDEX)
    credential["credentialStatus"]["id"] = f"{STATUS_LIST_URL}#{VALID_INDEX}"
    js = run_verifier(node, credential, issued.documents)
    assert js["verified"] is False, js
    py = python_verify(issued, credential)
    assert not py.check("signature").ok


def test_undefined_term_added_after_signing_is_rejected_by_both(node, issued):
    # JSON-LD would drop the unknown key, so the signature alone still matches;
    # both verifiers must refuse the document instead of ignoring the data.
    credential = copy.deepcopy(issued.credentials["valid"])
    credential["credentialSubject"]["achievement"]["honours"] = "summa cum laude"
    js = run_verifier(node, credential, issued.documents)
    assert js["verified"] is False, js
    py = python_verify(issued, credential)
    assert not py.verified
    assert "honours" in py.check("signature").reason


def test_key_not_in_controller_document_is_rejected_by_both(node, issued):
    documents = dict(issued.documents)
    controller = copy.deepcopy(documents[ISSUER_ID])
    controller["verificationMethod"] = [m for m in controller["verificationMethod"] if m["id"].endswith("2024")]
    controller["assertionMethod"] = [m["id"] for m in controller["verificationMethod"]]
    documents[ISSUER_ID] = controller
    credential = issued.credentials["valid"]
    js = run_verifier(node, credential, documents)
    assert js["verified"] is False, js
    py = verify_credential(credential, documents.get, resolve_status_list=documents.get, loader=issued.loader)
    assert not py.check("verification_method").ok


@pytest.mark.parametrize("blank_nodes", [3, 6])
def test_look_alike_blank_nodes_over_the_work_limit_are_refused_by_both(node, issued, blank_nodes):
    """The RDFC-1.0 work limit is rdf-canonize's default: what our verifier refuses, Digital Bazaar's does too."""
    valid = issued.credentials["valid"]
    poison = {key: copy.deepcopy(valid[key]) for key in ("@context", "type", "issuer", "validFrom", "proof")}
    poison["credentialSubject"] = {"https://example.org/crowd": look_alike_blank_nodes(blank_nodes)}

    js = run_verifier(node, poison, issued.documents)

    assert js["verified"] is False
    assert any("deep iterations" in error for error in js["errors"]), js
    with pytest.raises(CanonicalLimitExceeded, match=r"RDFC-1\.0 work limit"):
        python_verify(issued, poison)
