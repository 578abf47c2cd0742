"""SD-JWT building blocks (RFC 9901): digests, concealing claims, putting disclosures back."""

from __future__ import annotations

import pytest
from certification.adapters.sd_jwt import SdJwtFormatError, conceal, digest, disclose, parse_compact

RFC_DISCLOSURE = "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"


def test_the_digest_is_over_the_base64url_text_as_in_rfc_9901():
    assert digest(RFC_DISCLOSURE) == "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"


def test_an_rfc_disclosure_is_put_back_where_its_digest_is():
    payload = {"_sd": ["X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"], "given_name": "Erika"}

    claims, names = disclose(payload, (RFC_DISCLOSURE,))

    assert claims == {"given_name": "Erika", "family_name": "Möbius"}
    assert names == ["family_name"]


def test_concealed_claims_come_back_with_all_left_out_or_one_left_out():
    disclosures: list[str] = []
    packed = conceal({"name": "Ada", "studentId": "r1", "term": "2025"}, {"name", "studentId"}, disclosures)

    assert set(packed) == {"term", "_sd"}
    assert len(packed["_sd"]) == 2 and packed["_sd"] == sorted(packed["_sd"])
    assert disclose(packed, tuple(disclosures))[0] == {"name": "Ada", "studentId": "r1", "term": "2025"}
    assert disclose(packed, ())[0] == {"term": "2025"}


def test_two_disclosures_of_the_same_value_differ_by_their_salt():
    first: list[str] = []
    second: list[str] = []
    conceal({"name": "Ada"}, {"name"}, first)
    conceal({"name": "Ada"}, {"name"}, second)

    assert first != second


@pytest.mark.parametrize(
    "extra",
    [
        RFC_DISCLOSURE,  # a well-formed disclosure the payload does not list
        "WyJzYWx0IiwgIm5hbWUiXQ",  # ["salt", "name"]: two elements
        "bm90IGpzb24",  # "not json"
    ],
)
def test_a_disclosure_the_payload_does_not_reference_makes_it_invalid(extra):
    disclosures: list[str] = []
    packed = conceal({"name": "Ada"}, {"name"}, disclosures)

    with pytest.raises(SdJwtFormatError):
        disclose(packed, (*disclosures, extra))


def test_a_repeated_disclosure_is_refused():
    disclosures: list[str] = []
    packed = conceal({"name": "Ada"}, {"name"}, disclosures)

    with pytest.raises(SdJwtFormatError, match="twice"):
        disclose(packed, (disclosures[0], disclosures[0]))


@pytest.mark.parametrize("text", ["eyJh.eyJi.c2ln", "not-a-jwt~", "a.b.c~%%~", "a.b.c~d~e.f"])
def test_malformed_compact_forms_are_refused(text):
    with pytest.raises(SdJwtFormatError):
        parse_compact(text)


def test_the_compact_form_splits_into_jwt_disclosures_and_key_binding():
    parsed = parse_compact("a.b.c~d1~d2~k.l.m")

    assert parsed.issuer_jwt == "a.b.c"
    assert parsed.disclosures == ("d1", "d2")
    assert parsed.key_binding_jwt == "k.l.m"
    assert parsed.without_key_binding == "a.b.c~d1~d2~"
