"""Over-bound and unsafe input through the real HTTP app: 422 naming the field, and nothing written; what the
contract accepts (names in every script) goes through to the event unchanged."""

from __future__ import annotations

import pytest

from tests.enrolment.enrolment_support import enrolment_count, enrolment_request, outbox_events, outbox_events_of


@pytest.mark.parametrize(
    ("student", "field"),
    [
        ({"given_name": "A" * 10_000}, "body.student.given_name"),
        ({"family_name": "Pee\u202eters"}, "body.student.family_name"),
        ({"family_name": "\u2066Peeters\u2069"}, "body.student.family_name"),
        ({"given_name": "Ami\x85ra"}, "body.student.given_name"),
        ({"id": "s 0123456"}, "body.student.id"),
        ({"id": "s０１２３４５６"}, "body.student.id"),
        ({"id": "s" * 65}, "body.student.id"),
    ],
    ids=ascii,
)
async def test_over_bound_or_unsafe_student_is_422_and_writes_nothing(client, engine, student, field):
    response = await client.post("/enrolments", json=enrolment_request(**student))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert any(detail["field"] == field for detail in error["details"]), error
    # The reason names the rule, never the name.
    assert all(value not in response.text for value in student.values() if "Peeters" in value)
    assert enrolment_count(engine) == 0 and outbox_events(engine) == []


async def test_a_10000_character_cancellation_reason_is_422(client, engine):
    created = await client.post("/enrolments", json=enrolment_request())
    assert created.status_code == 201
    response = await client.post(f"/enrolments/{created.json()['id']}/cancellation", json={"reason": "x" * 10_000})
    assert response.status_code == 422
    hidden = await client.post(f"/enrolments/{created.json()['id']}/cancellation", json={"reason": "ok\u202e"})
    assert hidden.status_code == 422
    assert outbox_events_of(engine, "EnrolmentCancelled") == []


@pytest.mark.parametrize(
    ("given_name", "family_name"),
    [("Zoë", "O'Brien-Ñúñez"), ("小龍", "李"), ("محمد", "عبد الله"), ("Þórunn", "Ægisdóttir")],
)
async def test_real_names_in_every_script_are_enrolled_and_published_unchanged(client, engine, given_name, family_name):
    response = await client.post("/enrolments", json=enrolment_request(given_name=given_name, family_name=family_name))
    assert response.status_code == 201, response.text
    (created,) = outbox_events_of(engine, "EnrolmentCreated")
    assert (created.data.student.given_name, created.data.student.family_name) == (given_name, family_name)
