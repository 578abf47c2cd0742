"""What "the same document" means when a submitted document claims one of our credential ids."""

from __future__ import annotations

import pytest
from certification.domain.certificate import first_difference

ISSUED = {
    "id": "https://credentials.example.edu/credentials/1",
    "credentialSubject": {"result": [{"value": "18"}, {"value": "16"}], "credits": 6, "passed": True},
    "proof": {"proofValue": "z3abc"},
}


def test_the_same_json_with_keys_in_another_order_is_the_same():
    reordered = {key: ISSUED[key] for key in reversed(list(ISSUED))}

    assert first_difference(ISSUED, reordered) is None


def test_an_integral_number_written_with_a_fraction_is_the_same_as_in_javascript():
    submitted = {**ISSUED, "credentialSubject": {**ISSUED["credentialSubject"], "credits": 6.0}}

    assert first_difference(ISSUED, submitted) is None


@pytest.mark.parametrize(
    ("change", "where"),
    [
        pytest.param(
            lambda d: d["credentialSubject"]["result"][1].update(value="20"), "credentialSubject.result[1].value"
        ),
        pytest.param(lambda d: d["credentialSubject"].update(passed=1), "credentialSubject.passed", id="true vs 1"),
        pytest.param(lambda d: d["credentialSubject"].update(credits="6"), "credentialSubject.credits", id="6 vs '6'"),
        pytest.param(lambda d: d["credentialSubject"]["result"].pop(), "credentialSubject.result", id="shorter list"),
        pytest.param(lambda d: d.update(extra={}), "extra", id="an added key"),
        pytest.param(lambda d: d["proof"].pop("proofValue"), "proof.proofValue", id="a removed key"),
        pytest.param(lambda d: d.update(proof=[d["proof"]]), "proof", id="a one-element array for the object"),
    ],
)
def test_any_other_change_is_a_difference_named_by_its_path(change, where):
    submitted = {
        "id": ISSUED["id"],
        "credentialSubject": {
            "result": [dict(r) for r in ISSUED["credentialSubject"]["result"]],
            "credits": 6,
            "passed": True,
        },
        "proof": dict(ISSUED["proof"]),
    }
    change(submitted)

    assert first_difference(ISSUED, submitted) == where


def test_a_long_key_only_the_sender_has_is_not_echoed_at_length():
    where = first_difference(ISSUED, {**ISSUED, "k" * 10_000: 1})

    assert where is not None and len(where) < 250
