"""The issue's attack, replayed on a real broker against the whole service: forged sources, a snapshot that
disagrees with the catalogue and a future-dated catalogue entry get no credential."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from certification.bootstrap import build
from certification.config import CertificationSettings

from contracts import CloudEvent, new_event, topics
from tests.certification.broker.test_certification_flow import publish, read
from tests.certification.certification_support import (
    API_TOKENS,
    BASE_URL,
    HERITAGE_TITLE,
    TOKEN,
    course_completed,
    credential_of,
    enrolment_created,
    heritage_published,
    passes,
)

pytestmark = pytest.mark.kafka

MALLORY = {"id": "s0666666", "given_name": "Mallory", "family_name": "Forged", "email": "mallory@example.org"}


def from_source(event: CloudEvent, source: str) -> CloudEvent:
    return new_event(event.data, source=source, time=event.time)


def reasons(records) -> dict[bytes, str]:
    return {record.key: dict(record.headers)["dlq-reason"].decode() for record in records}


async def test_forgeries_get_no_credential_and_the_genuine_enrolment_still_does(kafka_bootstrap, issuer, tmp_path):
    prefix = f"prov{uuid.uuid4().hex[:8]}."
    settings = CertificationSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=f"sqlite:///{tmp_path}/certification.db",
        topic_prefix=prefix,
        api_tokens=API_TOKENS,
        public_base_url=BASE_URL,
        signing_key_id=issuer.key.key_id,
    )
    app, runtime = build(settings, issuer=issuer)
    # 1. An unprovisioned writer publishes a catalogue entry, an enrolment and a pass: all claim other sources.
    forged_catalogue = from_source(
        heritage_published(microcredential_id="mc-forgery", title="Master of Forgery"), "/campus/mallory"
    )
    forged_enrolment = from_source(enrolment_created("enr-mallory", learner=MALLORY), "/campus/mallory")
    # A real system publishing what is not its own: student administration does not report assessments.
    misplaced_pass = from_source(course_completed("enr-mallory", "2026MCHAR1"), "/campus/student-administration")
    # 2. Student administration's (allowed) enrolment whose snapshot names another title than the catalogue.
    disagreeing = enrolment_created("enr-retitled", title="Master of Forgery")
    # 3. The enrolment service's source on an entry dated two hours ahead: it would win over every later entry.
    future = heritage_published(title="Master of Forgery", event_time=issuer.clock() + timedelta(hours=2))

    async with runtime.background():
        await publish(
            kafka_bootstrap,
            prefix,
            [
                forged_catalogue,
                future,
                heritage_published(),
                forged_enrolment,
                misplaced_pass,
                disagreeing,
                *passes("enr-retitled"),
                enrolment_created("enr-genuine"),
                *passes("enr-genuine"),
            ],
        )
        issued = await read(kafka_bootstrap, prefix + topics.CERTIFICATION_EVENTS, at_least=1, then_wait=3.0)
        catalogue_dead = await read(kafka_bootstrap, prefix + topics.dead_letter_topic(topics.CATALOGUE), at_least=2)
        enrolment_dead = await read(
            kafka_bootstrap, prefix + topics.dead_letter_topic(topics.ENROLMENT_EVENTS), at_least=1
        )
        assessment_dead = await read(
            kafka_bootstrap, prefix + topics.dead_letter_topic(topics.ASSESSMENT_EVENTS), at_least=1
        )
        assert runtime.failed_task() is None
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
            held = (await client.get("/credentials/held", headers={"Authorization": f"Bearer {TOKEN}"})).json()

    # Only the genuine enrolment got a credential, described by the real catalogue entry.
    assert [record.key for record in issued] == [b"enr-genuine"]
    genuine = credential_of(runtime.engine, "enr-genuine")
    assert genuine is not None
    assert genuine.document["credentialSubject"]["achievement"]["name"] == HERITAGE_TITLE
    assert credential_of(runtime.engine, "enr-mallory") is None
    assert credential_of(runtime.engine, "enr-retitled") is None

    catalogue = reasons(catalogue_dead)
    assert catalogue[b"2025-2026/mc-forgery"] == (
        "source not allowed: '/campus/mallory' may not publish MicroCredentialPublished on "
        "catalogue.microcredentials by the event-source allow-list"
    )
    future_reason = catalogue[b"2025-2026/mc-heritage-adaptive-reuse"]
    assert future_reason.startswith("catalogue entry 2025-2026/mc-heritage-adaptive-reuse refused: event time")
    assert "120 min ahead of this service's clock" in future_reason
    [mallory] = enrolment_dead
    assert reasons(enrolment_dead)[b"enr-mallory"] == (
        "source not allowed: '/campus/mallory' may not publish EnrolmentCreated on enrolment.events "
        "by the event-source allow-list"
    )
    assert b"Mallory" not in dict(mallory.headers)["dlq-reason"]  # the reason names systems, never people
    assert reasons(assessment_dead)[b"enr-mallory"].startswith(
        "source not allowed: '/campus/student-administration' may not publish CourseCompleted on assessment.events"
    )

    assert held["count"] == 1
    [waiting] = held["held"]
    assert waiting["enrolment_id"] == "enr-retitled"
    assert waiting["missing"] == [
        "snapshot disagrees with the catalogue: title (the catalogue's is 'Heritage and Adaptive Reuse')"
    ]
