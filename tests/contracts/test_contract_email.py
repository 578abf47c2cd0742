"""The contract's e-mail check refuses what pydantic's `EmailStr` refuses and returns what it returns.

`contracts.email.Email` answers the common shape of address itself and hands everything else to `EmailStr`; these
tests generate addresses around every rule of that shape (lengths, labels, dashes, case, special-use domains,
RFC 2142 mailbox names, characters just outside the shape) and compare the two validators on each.
"""

from __future__ import annotations

import pytest
from contracts.email import Email, plain_address
from email_validator import SPECIAL_USE_DOMAIN_NAMES
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import EmailStr, TypeAdapter, ValidationError

OURS, PYDANTICS = TypeAdapter(Email), TypeAdapter(EmailStr)

_ATOM = st.text(st.sampled_from("aZ09_+-!#'é"), min_size=0, max_size=8)
_LOCAL = st.one_of(
    st.lists(_ATOM, min_size=1, max_size=4).map(".".join),
    st.sampled_from(CASE_INSENSITIVE_MAILBOX_NAMES).map(str.upper),
    st.sampled_from(CASE_INSENSITIVE_MAILBOX_NAMES),
    st.text(st.sampled_from("ab"), min_size=60, max_size=70),
)
_LABEL = st.one_of(
    st.text(st.sampled_from("az09-A"), min_size=0, max_size=6),
    st.sampled_from(["xn--", "ab--c", "a--b", "xn--bcher-kva", "-a", "a-"]),
    st.integers(60, 66).map(lambda n: "a" * n),
)
_TLD = st.one_of(st.sampled_from(["org", "be", "COM", "x", "a1", "1", "onion", "local", "test", "ab-c"]), _LABEL)
_DOMAIN = st.one_of(
    st.tuples(st.lists(_LABEL, min_size=0, max_size=4), _TLD).map(lambda parts: ".".join([*parts[0], parts[1]])),
    st.sampled_from(SPECIAL_USE_DOMAIN_NAMES).map(lambda name: f"uni.{name}"),
    st.sampled_from(SPECIAL_USE_DOMAIN_NAMES),
    st.integers(240, 256).map(lambda n: ("a" * 60 + ".") * (n // 61) + "a" * (n % 61 or 1) + ".be"),
)
_ADDRESS = st.one_of(
    st.tuples(_LOCAL, _DOMAIN).map("@".join),
    st.text(st.sampled_from('aZ0_+-.@é <>"'), max_size=30),
)


def outcome(adapter: TypeAdapter, value: str) -> tuple[bool, str]:
    try:
        return True, adapter.validate_python(value)
    except ValidationError as error:
        return False, str(error.errors()[0]["msg"])


@settings(max_examples=4000, deadline=None)
@given(_ADDRESS)
@example("ada.peeters@example.org")
@example("postmaster@uantwerpen.be")
@example("a@b.onion")
@example("a@xn--bcher-kva.be")
@example("a@ab--c.be")
@example("a" * 64 + "@" + "b" * 63 + ".be")
def test_the_contracts_check_answers_as_email_str_does(address: str) -> None:
    assert outcome(OURS, address) == outcome(PYDANTICS, address)


@pytest.mark.parametrize(
    "address",
    ["ada.peeters@example.org", "jan_de-smet+mc@student.uantwerpen.be", "s0123456@ad.ua.ac.be", "a.b.c@x-y.eu"],
)
def test_a_learners_usual_address_takes_the_short_way(address: str) -> None:
    assert plain_address(address)
    assert OURS.validate_python(address) == PYDANTICS.validate_python(address) == address


@pytest.mark.parametrize(
    "address",
    ["Ada <ada@example.org>", "ada@Example.org", '"ada"@example.org', "postmaster@example.org", "a@b.local", "é@b.be"],
)
def test_anything_else_goes_to_email_str(address: str) -> None:
    assert not plain_address(address)


def test_the_published_schema_is_email_strs() -> None:
    assert OURS.json_schema() == PYDANTICS.json_schema() == {"type": "string", "format": "email"}
