"""A revocation reason is published in CredentialRevoked: the HTTP layer refuses what the contract would refuse
(422), instead of failing to build the event."""

from __future__ import annotations

import pytest

from tests.certification.certification_support import (
    TOKEN,
    apply,
    credential_of,
    enrolment_created,
    heritage_published,
    passes,
    queued_events,
)

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def issued(engine, handlers):
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"), *passes("enr-1"))
    return credential_of(engine, "enr-1")


@pytest.mark.parametrize(
    "reason", ["grade \u202ecorrected", "\u2066hidden\u2069", "bell\x07", "C1\x85inside", "x" * 10_000], ids=ascii
)
async def test_a_reason_the_contract_refuses_is_422_and_revokes_nothing(client, issued, engine, reason):
    response = await client.post(f"/credentials/{issued.id}/revocation", json={"reason": reason}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert queued_events(engine, "CredentialRevoked") == []


async def test_a_reason_over_several_lines_in_any_script_is_published(client, issued, engine):
    reason = "Issued in error.\nCorrigé : la note de DL-2 — 李"
    response = await client.post(f"/credentials/{issued.id}/revocation", json={"reason": reason}, headers=AUTH)
    assert response.status_code == 200
    (event,) = queued_events(engine, "CredentialRevoked")
    assert event.data.reason == reason
