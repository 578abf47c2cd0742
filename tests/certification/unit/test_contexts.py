"""Offline document loading and our own JSON-LD context."""

from __future__ import annotations

import pytest
from certification.adapters import DocumentLoader, DocumentNotFoundError, microcredential_context, standard_documents
from certification.domain import OB_V3P0_CONTEXT_URL, VC_V2_CONTEXT_URL, microcredential_context_url


def test_standard_contexts_are_preloaded():
    documents = standard_documents()
    assert set(documents) == {
        VC_V2_CONTEXT_URL,
        OB_V3P0_CONTEXT_URL,
        "https://w3id.org/security/multikey/v1",
        "https://w3id.org/security/v2",
        "https://credentials.example.edu/contexts/microcredential/v1",
    }
    # sanity: the real documents, not stubs
    assert "OpenBadgeCredential" in documents[OB_V3P0_CONTEXT_URL]["@context"]
    assert "BitstringStatusListEntry" in documents[VC_V2_CONTEXT_URL]["@context"]


def test_own_context_is_protected_and_rebased():
    default = microcredential_context()
    assert default["@context"]["@protected"] is True
    rebased = microcredential_context("https://vc.uni.example")
    for term, definition in rebased["@context"].items():
        if isinstance(definition, dict):
            assert definition["@id"] == f"https://vc.uni.example/vocab/microcredential#{term}"


def test_own_context_does_not_redefine_standard_terms():
    # Redefining a protected VC/OB term would make every credential fail to expand.
    ours = set(microcredential_context()["@context"]) - {"@protected", "id", "type"}
    standard: set[str] = set()
    for url in (VC_V2_CONTEXT_URL, OB_V3P0_CONTEXT_URL):
        context = standard_documents()[url]["@context"]
        standard |= set(context)
        for definition in context.values():
            if isinstance(definition, dict) and isinstance(definition.get("@context"), dict):
                standard |= set(definition["@context"])
    assert not ours & standard


def test_loader_is_offline_and_serves_registered_documents():
    loader = DocumentLoader(base_url="https://vc.uni.example", extra_documents={"https://x.example/doc": {"a": 1}})
    assert loader("https://x.example/doc")["document"] == {"a": 1}
    assert microcredential_context_url("https://vc.uni.example") in loader.documents
    with pytest.raises(DocumentNotFoundError, match="not preloaded"):
        loader("https://www.w3.org/2018/credentials/v1")


def test_loader_returns_copies():
    loader = DocumentLoader()
    loader(VC_V2_CONTEXT_URL)["document"]["@context"]["name"] = "tampered"
    assert loader(VC_V2_CONTEXT_URL)["document"]["@context"]["name"] == "https://schema.org/name"


def test_signing_under_a_custom_base_url(env, learner, microcredential, results, issuer_key, controller_document):
    from certification.adapters import canonicalize, sign_credential, verify_credential
    from certification.domain import build_credential

    base = "https://vc.uni.example"
    loader = DocumentLoader(base_url=base)
    credential = build_credential(
        learner=learner,
        microcredential=microcredential,
        results=results,
        issued_at=env.issued_at,
        credential_id=env.credential_id,
        issuer_id=env.issuer_id,
        identity_salt="s",
        context_base_url=base,
    )
    assert f"<{base}/vocab/microcredential#assessmentType>" in canonicalize(credential, loader)
    signed = sign_credential(credential, issuer_key, loader)
    result = verify_credential(signed, {env.issuer_id: controller_document}.get, loader=loader)
    assert result.verified, result.to_dict()
    # A verifier configured for another base URL does not know our context.
    elsewhere = verify_credential(signed, {env.issuer_id: controller_document}.get, loader=DocumentLoader())
    assert not elsewhere.check("signature").ok
    assert "not preloaded" in elsewhere.check("signature").reason
