"""Rules every service applies to the events it consumes and produces, kept once here."""

from __future__ import annotations

import uuid

from reliability.consumer import RejectEvent


def require_storable(*texts: str) -> None:
    """Reject an event whose text cannot be stored, before it reaches the database.

    PostgreSQL text cannot hold NUL; without this check such an event would fail on every retry and only then
    reach the dead-letter topic, with a database error instead of a reason.
    """
    for value in texts:
        if "\x00" in value:
            raise RejectEvent("a text field contains a NUL character, which cannot be stored")


class EventIds:
    """Deterministic CloudEvents ids of the events one service produces.

    The id of the event announcing a fact is derived from the fact (e.g. "invoice" of an enrolment), so a rebuild
    from offset 0 produces the same ids and consumers de-duplicate it; a random id would make every rebuild new.
    """

    def __init__(self, service: str) -> None:
        self._namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:microcredentials:services:{service}")

    def of(self, kind: str, subject: str) -> str:
        return str(uuid.uuid5(self._namespace, f"{kind}:{subject}"))
