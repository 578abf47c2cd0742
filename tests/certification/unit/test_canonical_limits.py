"""Canonicalisation within limits: blank nodes counted before RDFC-1.0 runs, and RDFC-1.0's work limit."""

from __future__ import annotations

import re

import pytest
from certification.adapters import canonicalize
from certification.adapters.canonical import DEFAULT_LIMITS, CanonicalLimitExceeded, CanonicalLimits
from certification.domain import build_credential
from pyld import jsonld

from tests.certification.certification_support import look_alike_blank_nodes


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


def _crowd(count: int) -> dict:
    return {"@context": {"crowd": {"@id": "https://example.org/crowd"}}, "crowd": look_alike_blank_nodes(count)}


def test_the_bounded_canonical_form_is_pyld_normalize_of_the_same_document(credential, loader):
    expected = jsonld.normalize(
        credential, {**loader.pyld_options(), "algorithm": "URDNA2015", "format": "application/n-quads", "base": None}
    )

    assert canonicalize(credential, loader) == expected


def test_a_credential_has_a_small_fraction_of_the_default_blank_node_limit(credential, loader):
    blank_nodes = set(re.findall(r"_:c14n\d+", canonicalize(credential, loader)))

    assert 0 < len(blank_nodes) <= DEFAULT_LIMITS.max_blank_nodes // 8


@pytest.mark.parametrize("count", [6, 8, 10])
def test_look_alike_blank_nodes_are_refused_by_the_work_limit(loader, count):
    with pytest.raises(CanonicalLimitExceeded, match=f"more than {count} rounds"):
        canonicalize(_crowd(count), loader)


def test_a_larger_work_factor_canonicalises_a_few_look_alike_nodes_as_pyld_does(loader):
    expected = jsonld.normalize(
        _crowd(3), {**loader.pyld_options(), "algorithm": "URDNA2015", "format": "application/n-quads", "base": None}
    )

    assert canonicalize(_crowd(3), loader, CanonicalLimits(work_factor=3)) == expected


def test_blank_nodes_over_the_limit_are_refused_before_canonicalising(loader):
    chain = {
        "@context": {"next": {"@id": "https://example.org/next"}, "rank": {"@id": "https://example.org/rank"}},
        "next": [{"@id": f"_:b{i}", "rank": i, "next": {"@id": f"_:b{i + 1}"}} for i in range(30)],
    }

    # _:b0 .. _:b30, and the document itself (it has no @id)
    with pytest.raises(CanonicalLimitExceeded, match="has 32 blank nodes; at most 20"):
        canonicalize(chain, loader, CanonicalLimits(max_blank_nodes=20))
    assert canonicalize(chain, loader, CanonicalLimits(max_blank_nodes=32))
