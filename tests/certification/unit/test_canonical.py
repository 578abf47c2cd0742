"""Canonicalisation safety: nothing may be silently left out of the signed form."""

from __future__ import annotations

import pytest
from certification.adapters import (
    DocumentLoader,
    DocumentNotFoundError,
    UndefinedTermError,
    assert_fully_defined,
    canonicalize,
)
from certification.domain import build_credential


@pytest.fixture
def credential(env, learner, microcredential, results):
    return build_credential(
        learner=learner,
        microcredential=microcredential,
        results=results,
        issued_at=env.issued_at,
        credential_id=env.credential_id,
        issuer_id=env.issuer_id,
        identity_salt="salt",
    )


def test_built_credential_is_fully_defined(credential, loader):
    assert_fully_defined(credential, loader)


def test_every_annex1_extension_term_reaches_the_canonical_form(credential, loader):
    nquads = canonicalize(credential, loader)
    vocab = "https://credentials.example.edu/vocab/microcredential#"
    for term in (
        "learningOutcomes",
        "assessmentType",
        "participationForm",
        "qualityAssurance",
        "prerequisites",
        "stackability",
        "gradingScale",
        "assessmentDate",
        "supervisedAssessment",
        "identityVerified",
    ):
        assert f"<{vocab}{term}>" in nquads, term
    assert '"6"^^<https://www.w3.org/2001/XMLSchema#float>' in nquads  # creditsAvailable


def test_undefined_property_is_named_with_its_path(credential, loader):
    credential["credentialSubject"]["achievement"]["honours"] = "cum laude"
    with pytest.raises(UndefinedTermError) as err:
        assert_fully_defined(credential, loader)
    assert "'honours'" in str(err.value)
    assert "credentialSubject.achievement.honours" in str(err.value)


def test_undefined_top_level_property(credential, loader):
    credential["learnerNickname"] = "Ada"
    with pytest.raises(UndefinedTermError, match="learnerNickname"):
        canonicalize(credential, loader)


def test_property_defined_only_in_another_types_scope_is_rejected(credential, loader):
    # `addressRegion` is defined inside OB's Address scope, not on a Result.
    credential["credentialSubject"]["result"][0]["addressRegion"] = "Flanders"
    with pytest.raises(UndefinedTermError, match="addressRegion"):
        assert_fully_defined(credential, loader)


def test_undefined_type_is_rejected(credential, loader):
    credential["credentialSubject"]["achievement"]["type"] = ["Achievement", "HonoursAchievement"]
    with pytest.raises(UndefinedTermError, match="HonoursAchievement"):
        assert_fully_defined(credential, loader)


def test_null_value_is_rejected(credential, loader):
    credential["credentialSubject"]["achievement"]["prerequisites"] = None
    with pytest.raises(UndefinedTermError, match=r"null value at credentialSubject\.achievement\.prerequisites"):
        assert_fully_defined(credential, loader)


def test_relative_identifier_is_rejected(credential, loader):
    credential["id"] = "credential-1"
    with pytest.raises(UndefinedTermError, match="not an absolute IRI"):
        assert_fully_defined(credential, loader)


def test_unknown_context_fails_without_network(credential):
    credential["@context"] = [*credential["@context"], "https://example.org/some/remote/context"]
    with pytest.raises(DocumentNotFoundError, match="not preloaded"):
        canonicalize(credential, DocumentLoader())


def test_integral_floats_canonicalise_like_javascript(credential, loader):
    as_int = canonicalize(credential, loader)
    credential["credentialSubject"]["achievement"]["creditsAvailable"] = 6.0
    credential["credentialSubject"]["creditsEarned"] = 6.0
    assert canonicalize(credential, loader) == as_int


def test_canonical_form_is_independent_of_key_order(credential, loader):
    reordered = dict(reversed(list(credential.items())))
    assert canonicalize(reordered, loader) == canonicalize(credential, loader)
