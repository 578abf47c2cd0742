"""Context URLs and vocabulary IRIs shared by the builder and the JSON-LD tooling."""

from __future__ import annotations

VC_V2_CONTEXT_URL = "https://www.w3.org/ns/credentials/v2"
OB_V3P0_CONTEXT_URL = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
MULTIKEY_V1_CONTEXT_URL = "https://w3id.org/security/multikey/v1"
SECURITY_V2_CONTEXT_URL = "https://w3id.org/security/v2"

# The base URL under which our own context (and vocabulary) is published. It is a
# parameter everywhere because the deployment decides the host; this default is
# what the shipped context file is written against.
DEFAULT_CONTEXT_BASE_URL = "https://credentials.example.edu"

EQF_FRAMEWORK = "European Qualifications Framework"
EQF_URL = "https://europass.europa.eu/en/description-eight-eqf-levels"
QF_EHEA_FRAMEWORK = "Qualifications Framework for the European Higher Education Area"
QF_EHEA_URL = "https://www.ehea.info/page-qualification-frameworks"


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def microcredential_context_url(base_url: str = DEFAULT_CONTEXT_BASE_URL) -> str:
    return f"{_base(base_url)}/contexts/microcredential/v1"


def microcredential_vocab(base_url: str = DEFAULT_CONTEXT_BASE_URL) -> str:
    """Namespace of our own terms; every term IRI is this plus the term name."""
    return f"{_base(base_url)}/vocab/microcredential#"


def credential_context(base_url: str = DEFAULT_CONTEXT_BASE_URL) -> list[str]:
    # Order matters: VC v2 must be first (VCDM 2.0), OB next, ours last so that
    # it can only add terms, never redefine the protected ones before it.
    return [VC_V2_CONTEXT_URL, OB_V3P0_CONTEXT_URL, microcredential_context_url(base_url)]
