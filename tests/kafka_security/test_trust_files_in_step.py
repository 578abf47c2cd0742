"""The two trust files say the same thing: a CloudEvents source an event may claim belongs to a system whose Kafka
principal may write that topic, and a principal that may write an event topic has a source the consumers accept.

`deploy/event-sources.yaml` is checked by the consumers, `deploy/kafka-acls.yaml` by the broker; a system added to
one and not the other is either refused by every consumer or accepted by them without an ACL behind it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from contracts import topics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _sources() -> dict[str, dict[str, list[str]]]:
    return yaml.safe_load((DEPLOY / "event-sources.yaml").read_text())["topics"]


def _principals() -> dict[str, dict[str, list[str]]]:
    return yaml.safe_load((DEPLOY / "kafka-acls.yaml").read_text())["principals"]


def _system_of(source: str) -> str:
    # /services/<service> and /campus/<system>: the last segment is the system's Kafka principal.
    kind, _, system = source.strip("/").partition("/")
    assert kind in ("services", "campus") and system and "/" not in system, f"unexpected source form {source!r}"
    return system


def test_every_allowed_source_is_a_principal_that_may_write_its_topic() -> None:
    principals = _principals()
    for topic, types in _sources().items():
        for event_type, sources in types.items():
            for source in sources:
                system = _system_of(source)
                assert system in principals, f"{source} ({event_type} on {topic}) has no Kafka principal"
                assert topic in principals[system].get("write", []), f"{system} may not write {topic}"


def test_every_writer_of_an_event_topic_has_a_source_the_consumers_accept() -> None:
    claimed: dict[str, set[str]] = {}
    for topic, types in _sources().items():
        for sources in types.values():
            claimed.setdefault(topic, set()).update(_system_of(source) for source in sources)
    for name, grants in _principals().items():
        for topic in grants.get("write", []):
            if topic in topics.ALL:
                assert name in claimed.get(topic, set()), f"{name} may write {topic} but no source of it is accepted"


def test_the_catalogue_has_exactly_one_writer() -> None:
    writers = [name for name, grants in _principals().items() if topics.CATALOGUE in grants.get("write", [])]
    assert writers == ["enrolment"]
    assert {_system_of(s) for s in _sources()[topics.CATALOGUE]["MicroCredentialPublished"]} == {"enrolment"}
