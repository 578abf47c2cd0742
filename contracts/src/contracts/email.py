"""The student's e-mail address: exactly what pydantic's `EmailStr` accepts, normalised the same way, checked
without `email_validator` for the plain addresses nearly every learner has.

`email_validator` takes 35-66 µs an address on the benchmark's VM (it splits, Unicode-normalises and
IDNA-maps every address), the largest single part of decoding an EnrolmentCreated, though billing never reads the
address. The common shape — an ASCII dot-atom before the @, a lower-case host name under a letters-only top-level
domain after it — is checked here by the rules `email_validator` 2.x applies to that shape: the whole address at
most 254 characters (so the domain under its 253) and each label 63, no label with two dashes in its third and fourth
places, no special-use domain (`email_validator.SPECIAL_USE_DOMAIN_NAMES`), and the RFC 2142 mailbox names, which
it lower-cases, left to it. Everything else (quoting, Unicode, a display name, upper case after the @, anything
near a limit it counts differently) goes to `EmailStr` as before, so its refusals and messages are unchanged.
tests/contracts/test_contract_email.py compares the two on generated addresses.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from pydantic import EmailStr

_PLAIN = re.compile(
    r"(?P<local>[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*)"
    r"@(?P<domain>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})"
)
_TWO_DASHES = re.compile(r"(?:^|\.)..--")
_MAILBOX_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
_SPECIAL_USE = tuple(SPECIAL_USE_DOMAIN_NAMES)


def plain_address(value: str) -> bool:
    """True when `value` has the common shape and `EmailStr` would return it unchanged."""
    match = _PLAIN.fullmatch(value)
    if match is None or len(value) > 254:
        return False
    local, domain = match["local"], match["domain"]
    if _TWO_DASHES.search(domain) or local.lower() in _MAILBOX_NAMES:
        return False
    return not any(domain == name or domain.endswith("." + name) for name in _SPECIAL_USE)


if TYPE_CHECKING:
    Email = EmailStr
else:

    class Email(EmailStr):
        """`EmailStr` (same JSON schema: a string of format email) with the common shape checked here."""

        @classmethod
        def _validate(cls, input_value: str, /) -> str:
            if plain_address(input_value):
                return input_value
            return super()._validate(input_value)
