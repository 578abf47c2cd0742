"""The kit's event rules: storable text and deterministic event ids (no broker, no database)."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reliability.consumer import RejectEvent
from reliability.events import EventIds, require_storable


def test_a_nul_character_in_any_text_rejects_the_event_with_a_reason() -> None:
    require_storable("Jonas", "Peeters")
    with pytest.raises(RejectEvent, match="NUL"):
        require_storable("Jonas", "Pee\x00ters")


def test_event_ids_stay_the_ones_already_published() -> None:
    # Ids published before this helper existed (uuid5 of the service's URN namespace): a rebuild must reproduce
    # them exactly, or every consumer would apply the rebuilt events a second time.
    assert EventIds("billing").of("invoice", "e1") == "296c727a-9cc3-5247-91eb-9fc7cd5466af"


def test_event_ids_differ_by_service_kind_and_subject() -> None:
    ids = {EventIds(s).of(k, e) for s in ("billing", "certification") for k in ("a", "b") for e in ("e1", "e2")}
    assert len(ids) == 8


@given(kind=st.text(max_size=30), subject=st.text(max_size=80))
def test_event_ids_are_the_standard_librarys_version_5_uuids(kind: str, subject: str) -> None:
    # `of` computes the UUID by hand (for speed); the standard library is the independent reference.
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "urn:microcredentials:services:billing")
    assert EventIds("billing").of(kind, subject) == str(uuid.uuid5(namespace, f"{kind}:{subject}"))
