"""Which characters a text or an identifier of the contract may hold, said once for the models and the schemas.

Every pattern here means the same in Python's `re.fullmatch`, in Pydantic's Rust engine and in ECMA-262 (what
JSON Schema validators in other languages use): ASCII classes only (no `\\d`, which is Unicode-aware in Python
and Rust), and `$` only under full-match semantics (Python's `$` also matches before a trailing newline, so the
models check the raw value with `fullmatch` before Pydantic strips surrounding blanks).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

# C0 and C1 control characters, and the bidirectional overrides, embeddings and isolates (U+202A-U+202E,
# U+2066-U+2069) with which a text can display differently from what it says ("Trojan Source").
_BIDI_CONTROLS = r"\u202A-\u202E\u2066-\u2069"
NAME_PATTERN = rf"^[^\x00-\x1F\x7F-\x9F{_BIDI_CONTROLS}]*$"
"""One line of text: a name, a title, a grade. Accents, apostrophes, hyphens and every script are welcome."""
PARAGRAPH_PATTERN = rf"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F{_BIDI_CONTROLS}]*$"
"""Free text that may span lines: as a name, plus tab, line feed and carriage return."""
IDENTIFIER_PATTERN = r"^[\x21-\x7E]+$"
"""Visible ASCII: no blanks, controls or look-alike letters from other scripts."""
# The characters RFC 3986 allows in a URI-reference (unreserved, reserved and %-escapes): catches spaces and
# non-ASCII text (an IRI is sent percent-encoded), which are the mistakes a hand-written URL makes.
URI_REFERENCE_PATTERN = r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"
LANGUAGE_PATTERN = r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$"


def fullmatch(pattern: str, what: str) -> BeforeValidator:
    """Check the value as it arrived, before Pydantic strips it: "2026-2027\\n" is not an academic year.

    The reason names the rule, never the value (names and e-mails must not reach logs or dead-letter reasons).
    """
    compiled = re.compile(pattern)

    def check(value: Any) -> Any:
        if isinstance(value, str) and compiled.fullmatch(value) is None:
            raise ValueError(f"must be {what}")
        return value

    return BeforeValidator(check)


Name = Annotated[
    str,
    Field(pattern=NAME_PATTERN),
    fullmatch(NAME_PATTERN, "one line without control or bidirectional-override characters"),
]
"""A name or a title; each field gives its own length bounds."""
Paragraph = Annotated[
    str,
    Field(pattern=PARAGRAPH_PATTERN),
    fullmatch(PARAGRAPH_PATTERN, "text without control (other than tab and line breaks) or bidi-override characters"),
]
"""Free text; each field gives its own length bounds."""
Identifier = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN),
    fullmatch(IDENTIFIER_PATTERN, "1-64 visible ASCII characters (no blanks)"),
]
"""An id of a student, course, micro-credential, credential or policy: short, because ids are repeated in URLs
and keys (a credential repeats each course id twice, percent-encoded)."""
UriReference = Annotated[
    str,
    Field(pattern=URI_REFERENCE_PATTERN),
    fullmatch(
        URI_REFERENCE_PATTERN, "a URI-reference (RFC 3986 characters only: no blanks, non-ASCII percent-encoded)"
    ),
]
"""A URL; each field gives its own length bound."""
CountryCode = Annotated[
    str,
    Field(pattern=COUNTRY_PATTERN, description="ISO 3166-1 alpha-2 country code of the issuer."),
    fullmatch(COUNTRY_PATTERN, "an ISO 3166-1 alpha-2 code such as BE"),
]
LanguageTag = Annotated[
    str,
    Field(min_length=2, max_length=35, pattern=LANGUAGE_PATTERN),
    fullmatch(LANGUAGE_PATTERN, 'a BCP 47 language tag such as "en" or "nl-BE"'),
]
