"""Patterns mean ASCII and the whole value, in the models and in the JSON Schemas alike; names and free texts
take every script but no control or bidirectional-override characters.

Each bad value must be refused twice: by `decode_event` (naming the field) and by the event's JSON Schema under
ECMA-262 semantics (what other languages' validators apply), so the two never disagree.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts import InvalidEvent, decode_event
from tests.contracts.contract_support import EXAMPLES, message, schema_validator

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ",
)

# (what, event type, field path, a valid value): every patterned field of the contract.
PATTERNED = [
    ("money", "EnrolmentCreated", "data.tuition.fixed_fee", "100.00"),
    ("money on an invoice line", "TuitionInvoiced", "data.lines.0.amount", "120.00"),
    ("credits", "EnrolmentCreated", "data.microcredential.courses.0.credits", "3"),
    ("credits or zero", "TuitionInvoiced", "data.lines.0.credits", "3"),
    ("academic year", "TuitionInvoiced", "data.academic_year", "2026-2027"),
    ("academic year of a snapshot", "EnrolmentCreated", "data.microcredential.academic_year", "2026-2027"),
    ("instant", "EnrolmentCreated", "data.enrolled_at", "2026-09-01T09:30:00+02:00"),
    ("envelope time", "CourseCompleted", "time", "2027-01-25T14:03:00+01:00"),
    ("currency", "EnrolmentCreated", "data.tuition.currency", "EUR"),
    ("enrolment id", "EnrolmentCancelled", "data.enrolment_id", "ENR-2026-000123"),
    ("subject", "EnrolmentCancelled", "subject", "ENR-2026-000123"),
    ("catalogue subject", "MicroCredentialPublished", "subject", "2026-2027/MC-DATA-101"),
    ("student id", "EnrolmentCreated", "data.student.id", "S-0042"),
    ("course id", "CourseCompleted", "data.course_id", "DL-1"),
    ("policy id", "ReimbursementCalculated", "data.policy", "cancellation-policy-2026"),
    ("event id", "EnrolmentCreated", "id", "8d6f0a52-3b1e-4c3a-9f57-000000000001"),
    ("country", "MicroCredentialPublished", "data.awarding_body.country", "BE"),
    ("language", "MicroCredentialPublished", "data.language", "en"),
]


def _bad_variants(value: str) -> list[tuple[str, str]]:
    variants = [("trailing newline", value + "\n")]
    if value.translate(ARABIC_INDIC) != value:
        variants.append(("Arabic-Indic digits", value.translate(ARABIC_INDIC)))
    variants.append(("fullwidth characters", value.translate(FULLWIDTH)))
    return variants


def _patterned_cases() -> list[Any]:
    return [
        pytest.param(type_name, path, bad, id=f"{what}: {label}")
        for what, type_name, path, good in PATTERNED
        for label, bad in _bad_variants(good)
    ]


def _decode(value: dict[str, Any], type_name: str) -> Any:
    return decode_event(json.dumps(value).encode(), key=EXAMPLES[type_name].subject.encode())


def _assert_both_refuse(type_name: str, path: str, value: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent) as caught:
        _decode(value, type_name)
    assert f"{path}:" in caught.value.reason or f"{path}." in caught.value.reason, caught.value.reason
    assert not schema_validator(type_name).is_valid(value), "the JSON Schema accepts what the decoder refuses"


def _assert_both_accept(type_name: str, value: dict[str, Any]) -> None:
    assert _decode(value, type_name).type == type_name
    errors = [error.message for error in schema_validator(type_name).iter_errors(value)]
    assert errors == []


@pytest.mark.parametrize(("what", "type_name", "path", "good"), PATTERNED, ids=[case[0] for case in PATTERNED])
def test_the_valid_value_of_each_patterned_field_passes_both(what: str, type_name: str, path: str, good: str) -> None:
    _assert_both_accept(type_name, message(type_name, {path: good}))


@pytest.mark.parametrize(("type_name", "path", "bad"), _patterned_cases())
def test_unicode_digits_and_trailing_newlines_are_refused_by_model_and_schema(
    type_name: str, path: str, bad: str
) -> None:
    _assert_both_refuse(type_name, path, message(type_name, {path: bad}))


def test_arabic_indic_money_no_longer_passes_as_120() -> None:
    # The case: Decimal("١٢٠.٠٠") == 120.00, so the invoice even added up.
    value = message("TuitionInvoiced", {"data.lines.0.amount": "١٢٠.٠٠"})
    _assert_both_refuse("TuitionInvoiced", "data.lines.0.amount", value)


# --- names and free text ---------------------------------------------------------------------------------------

NAME_FIELDS = [
    ("EnrolmentCreated", "data.student.given_name"),
    ("EnrolmentCreated", "data.student.family_name"),
    ("EnrolmentCreated", "data.microcredential.title"),
    ("EnrolmentCreated", "data.microcredential.courses.0.title"),
    ("MicroCredentialPublished", "data.title"),
    ("MicroCredentialPublished", "data.courses.1.title"),
    ("MicroCredentialPublished", "data.awarding_body.name"),
    ("CourseCompleted", "data.grade.scale"),
]
REAL_NAMES = [
    "Zoë",
    "O'Brien",
    "Jean-Luc",
    "Ñúñez-D'Alessandro",
    "Łukasz Żółć",
    "Nguyễn Thị Minh Khai",
    "李小龍",
    "محمد عبد الله",
    "שׂרה",
    "Ἀθηνᾶ",
    "Þórunn Ægisdóttir",
]
# The bidi overrides, embeddings and isolates one by one, then C0 and C1 controls.
FORBIDDEN_IN_NAMES = [f"A{chr(code)}da" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))] + [
    "Ada\x00",
    "Ada\x1b[31m",
    "Ad\ta",
    "Ada\n",
    "A\rda",
    "A\x7fda",
    "A\x85da",
    "A\x9fda",
]


@pytest.mark.parametrize("name", REAL_NAMES)
@pytest.mark.parametrize(("type_name", "path"), NAME_FIELDS)
def test_real_names_in_every_script_are_accepted(type_name: str, path: str, name: str) -> None:
    _assert_both_accept(type_name, message(type_name, {path: name}))


@pytest.mark.parametrize("name", FORBIDDEN_IN_NAMES, ids=ascii)
@pytest.mark.parametrize(("type_name", "path"), NAME_FIELDS)
def test_bidi_overrides_and_control_characters_are_refused_in_names(type_name: str, path: str, name: str) -> None:
    _assert_both_refuse(type_name, path, message(type_name, {path: name}))


PARAGRAPH_FIELDS = [
    ("EnrolmentCancelled", "data.reason"),
    ("CredentialRevoked", "data.reason"),
    ("MicroCredentialPublished", "data.description"),
    ("MicroCredentialPublished", "data.learning_outcomes.0"),
    ("MicroCredentialPublished", "data.participation_form"),
]


@pytest.mark.parametrize(("type_name", "path"), PARAGRAPH_FIELDS)
def test_free_text_may_span_lines(type_name: str, path: str) -> None:
    _assert_both_accept(type_name, message(type_name, {path: "Eerste lijn,\r\n\tdeuxième ligne: لماذا؟"}))


@pytest.mark.parametrize(
    "text", ["Fine\u202e until here", "\u2067hidden\u2069", "NUL\x00", "bell\x07", "C1\x85"], ids=ascii
)
@pytest.mark.parametrize(("type_name", "path"), PARAGRAPH_FIELDS)
def test_free_text_refuses_bidi_overrides_and_other_controls(type_name: str, path: str, text: str) -> None:
    _assert_both_refuse(type_name, path, message(type_name, {path: text}))


def test_a_name_reason_never_repeats_the_name() -> None:
    with pytest.raises(InvalidEvent) as caught:
        _decode(message("EnrolmentCreated", {"data.student.family_name": "Pee\u202eters"}), "EnrolmentCreated")
    assert "Pee" not in caught.value.reason
