"""Certification's baseline: the same Kafka work as certification with nothing else, to measure it against.

It consumes the same three input topics (enrolment.events, assessment.events, catalogue.microcredentials) in one
group, decodes every value as JSON and keeps in a dict, in memory, what certification keeps in its database: the
catalogue entries seen, each enrolment's course ids, each enrolment's passes. When an enrolment is known, every
one of its courses has a pass and its catalogue entry was seen (or when that entry arrives, for the enrolments
waiting for it), it sends the two records certification's outbox relay sends per credential: a credential record
(JSON of the enrolment, its passes and the catalogue entry, a few KiB, where certification's CredentialIssued
carries the signed credential) to the credentials topic and an offer record to the notifications topic. With the
kit's producer settings (idempotent, acks=all, linger 0); the offsets of each `getmany` batch are committed
once that batch's sends are acknowledged. Certification writes nothing to Kafka per input event, only per
credential, so neither does this loop. No validation, no database, no signing, no provenance check: the ceiling
a Python consumer reaches on this machine for certification's Kafka traffic.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord

from benchmarks.raw_loop import Output, consume_and_pass_on
from contracts import topics

RAW_CREDENTIALS = "raw.credentials"
RAW_NOTIFICATIONS = "raw.notifications"
INPUTS = (topics.ENROLMENT_EVENTS, topics.ASSESSMENT_EVENTS, topics.CATALOGUE)


@dataclass
class Ledger:
    """What the loop remembers between records: certification's tables, as dicts."""

    catalogue: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    enrolments: dict[str, dict[str, Any]] = field(default_factory=dict)
    passes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    issued: set[str] = field(default_factory=set)

    def record(self, document: dict[str, Any]) -> list[str]:
        """Keep what `document` says; returns the enrolments whose credential is due now."""
        data = document["data"]
        kind = document["type"]
        if kind == "MicroCredentialPublished":
            key = (data["academic_year"], data["microcredential_id"])
            self.catalogue[key] = data
            return [e for e, enrolment in self.enrolments.items() if _key_of(enrolment) == key and self.due(e)]
        enrolment_id = data["enrolment_id"]
        if kind == "EnrolmentCreated":
            self.enrolments.setdefault(enrolment_id, data)
        elif kind == "CourseCompleted" and data["passed"]:
            self.passes.setdefault(enrolment_id, {})[data["course_id"]] = data
        return [enrolment_id] if self.due(enrolment_id) else []

    def due(self, enrolment_id: str) -> bool:
        enrolment = self.enrolments.get(enrolment_id)
        if enrolment is None or enrolment_id in self.issued or _key_of(enrolment) not in self.catalogue:
            return False
        passed = self.passes.get(enrolment_id, {})
        return all(course["id"] in passed for course in enrolment["microcredential"]["courses"])

    def credential(self, enrolment_id: str) -> tuple[bytes, bytes]:
        """(credential record, offer record) of a due enrolment, which is then issued."""
        self.issued.add(enrolment_id)
        enrolment = self.enrolments[enrolment_id]
        credential_id = str(uuid.uuid4())
        credential = {
            "type": "RawCredentialIssued",
            "id": str(uuid.uuid4()),
            "credential_id": credential_id,
            "enrolment": enrolment,
            "results": list(self.passes[enrolment_id].values()),
            "microcredential": self.catalogue[_key_of(enrolment)],
        }
        offer = {"type": "RawCredentialOfferCreated", "id": str(uuid.uuid4()), "credential_id": credential_id}
        return _encode(credential), _encode(offer)


def _key_of(enrolment: dict[str, Any]) -> tuple[str, str]:
    return enrolment["microcredential"]["academic_year"], enrolment["microcredential"]["id"]


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


async def raw_certification_loop(
    bootstrap: str, prefix: str, group: str, stop: asyncio.Event, max_records: int = 500
) -> int:
    """Run until `stop` is set on `prefix`'s topics; returns how many credentials were sent."""
    ledger = Ledger()

    def credentials_of(record: ConsumerRecord[bytes, bytes]) -> Iterator[Output]:
        for enrolment_id in ledger.record(json.loads(record.value)):
            credential, offer = ledger.credential(enrolment_id)
            key = enrolment_id.encode()
            yield prefix + RAW_CREDENTIALS, key, credential
            yield prefix + RAW_NOTIFICATIONS, key, offer

    await consume_and_pass_on(bootstrap, [prefix + topic for topic in INPUTS], group, stop, credentials_of, max_records)
    return len(ledger.issued)
