"""What the printable certificate and the verification summary show, read back from the signed credential.

The certificate is drawn from the credential document as it was signed, not from today's catalogue: the
catalogue may have changed since, and the paper must say what the credential says.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from certification.domain.model import AwardingBody, Course, MicroCredential
from certification.domain.vocabulary import EQF_FRAMEWORK, QF_EHEA_FRAMEWORK

JsonObject = dict[str, Any]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def microcredential_of_document(document: JsonObject) -> MicroCredential:
    """The MicroCredential a signed credential describes (what `build_credential` put in, read back)."""
    subject = document["credentialSubject"]
    achievement = subject["achievement"]
    issuer = document["issuer"]
    address = issuer.get("address") or {}
    alignments = [a for a in _as_list(achievement.get("alignment")) if isinstance(a, dict)]
    eqf = next(a for a in alignments if a.get("targetFramework") == EQF_FRAMEWORK)
    cycle = next((a for a in alignments if a.get("targetFramework") == QF_EHEA_FRAMEWORK), None)
    return MicroCredential(
        id=str(achievement.get("id", "")),
        title=str(achievement["name"]),
        description=str(achievement.get("description", "")),
        academic_year=str(subject.get("term", "")),
        ects_credits=Decimal(str(achievement["creditsAvailable"])),
        courses=tuple(
            Course(id=str(rd.get("id", "")), title=str(rd.get("name", "")))
            for rd in _as_list(achievement.get("resultDescription"))
            if isinstance(rd, dict)
        ),
        learning_outcomes=tuple(str(outcome) for outcome in _as_list(achievement.get("learningOutcomes"))),
        eqf_level=int(eqf["targetCode"]),
        assessment_type=str(achievement.get("assessmentType", "")),
        participation_form=str(achievement.get("participationForm", "")),
        quality_assurance=str(achievement.get("qualityAssurance", "")),
        awarding_body=AwardingBody(
            name=str(issuer.get("name", "")),
            url=str(issuer.get("url", "")),
            country_code=str(address.get("addressCountryCode", "")),
            region=_text(address.get("addressRegion")),
        ),
        cycle=None if cycle is None else _text(cycle.get("targetCode")),
        prerequisites=_text(achievement.get("prerequisites")),
        stackability=_text(achievement.get("stackability")),
    )


def issued_at_of(document: JsonObject) -> datetime:
    return datetime.fromisoformat(str(document["validFrom"]))


def summary(document: Any) -> JsonObject:
    """Who, what, by whom and when, as the document claims it (shown next to the verdict, verified or not)."""
    if not isinstance(document, dict):
        return {"credential_id": None, "learner": None, "title": None, "issuer": None, "issued": None}
    subject = document.get("credentialSubject")
    subject = subject if isinstance(subject, dict) else {}
    achievement = subject.get("achievement")
    achievement = achievement if isinstance(achievement, dict) else {}
    learner = next(
        (
            identifier.get("identityHash")
            for identifier in _as_list(subject.get("identifier"))
            if isinstance(identifier, dict)
            and identifier.get("identityType") == "name"
            and not identifier.get("hashed")
        ),
        None,
    )
    issuer = document.get("issuer")
    issuer_name = issuer.get("name") or issuer.get("id") if isinstance(issuer, dict) else issuer
    return {
        "credential_id": _text(document.get("id")),
        "learner": _text(learner),
        "title": _text(achievement.get("name")) or _text(document.get("name")),
        "issuer": _text(issuer_name),
        "issued": _text(document.get("validFrom")),
    }


def first_difference(issued: Any, submitted: Any, path: str = "") -> str | None:
    """Where `submitted` first differs from `issued` as JSON (a path like ``credentialSubject.result[0].value``),
    or None when they are the same JSON value.

    The same means: the same keys at every level (their order does not matter), arrays of the same length and
    order, strings code point for code point, booleans only equal to booleans, numbers by value as JavaScript
    compares them (6.0 is 6). Nothing is normalised beyond that: a re-encoding that JSON-LD would read the same
    (an alias, a single value for a one-element array) differs.
    """
    where = path or "(the whole document)"
    if isinstance(issued, dict):
        if not isinstance(submitted, dict):
            return where
        for key in sorted(issued.keys() | submitted.keys()):
            here = f"{path}.{key}" if path else key
            if key not in issued or key not in submitted:
                return _shortened(here)
            found = first_difference(issued[key], submitted[key], here)
            if found is not None:
                return found
        return None
    if isinstance(issued, list):
        if not isinstance(submitted, list) or len(issued) != len(submitted):
            return where
        for index, (mine, theirs) in enumerate(zip(issued, submitted, strict=True)):
            found = first_difference(mine, theirs, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    return None if _same_scalar(issued, submitted) else where


def _same_scalar(issued: Any, submitted: Any) -> bool:
    if isinstance(issued, bool) or isinstance(submitted, bool):
        return type(issued) is type(submitted) and issued == submitted
    if isinstance(issued, int | float) and isinstance(submitted, int | float):
        return bool(issued == submitted)
    return type(issued) is type(submitted) and bool(issued == submitted)


def _shortened(path: str, limit: int = 200) -> str:
    # A key only the submitted document has is the sender's text: echoed back, but not at any length.
    return path if len(path) <= limit else path[:limit] + "\u2026"
