"""FastStream's AsyncAPI document of each service's subscribers, held to the contract's own (contracts/asyncapi.yaml).

Every channel a service's subscribers read must be a channel of the contract, and every message they name there
(the event types their handlers apply) one of that channel's messages. A subscriber on a topic the contract
does not have fails the check; so does a document with no message at all (a subscriber that applies nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from reliability.runtime import ServiceRuntime
from reliability.settings import ServiceSettings
from reliability.subscribers import KafkaKit
from sqlalchemy import create_engine

from contracts import EnrolmentCancelled, topics

CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "asyncapi.yaml"


def contract_channels() -> dict[str, set[str]]:
    document = yaml.safe_load(CONTRACT.read_text())
    return {channel["address"]: set(channel.get("messages", {})) for channel in document["channels"].values()}


def subscriber_channels(runtime: ServiceRuntime) -> dict[str, set[str]]:
    """Channel address -> names of the payload types, as FastStream generated them from the subscribers."""
    document = runtime.asyncapi().to_specification().to_jsonable()
    components = document["components"]
    found: dict[str, set[str]] = {}
    for channel in document["channels"].values():
        address = channel["address"].removeprefix(runtime.settings.topic_prefix)
        names = found.setdefault(address, set())
        for reference in channel["messages"].values():
            message = components["messages"][reference["$ref"].rsplit("/", 1)[-1]]
            payload = _resolve(components, message["payload"])
            items = payload.get("items", {})
            for alternative in items.get("anyOf", items.get("oneOf", [items])):
                if "$ref" in alternative:
                    names.add(alternative["$ref"].rsplit("/", 1)[-1])
    return found


def _resolve(components: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def mismatches(runtime: ServiceRuntime) -> list[str]:
    contract = contract_channels()
    problems = []
    for address, names in subscriber_channels(runtime).items():
        if address not in contract:
            problems.append(f"{runtime.service} subscribes to {address}, which is no channel of the contract")
        elif not names:
            problems.append(f"{runtime.service}'s subscriber on {address} names no message")
        elif not names <= contract[address]:
            problems.append(f"{runtime.service} on {address}: {sorted(names - contract[address])} not in the contract")
    return problems


def _billing(tmp_path: Path) -> ServiceRuntime:
    from billing.bootstrap import build
    from billing.config import BillingSettings

    return build(BillingSettings(database_url=f"sqlite:///{tmp_path}/billing.db"))[1]


def _enrolment(tmp_path: Path) -> ServiceRuntime:
    from enrolment.bootstrap import build
    from enrolment.config import EnrolmentSettings

    return build(EnrolmentSettings(database_url=f"sqlite:///{tmp_path}/enrolment.db"))[1]


def _certification(tmp_path: Path) -> ServiceRuntime:
    from certification.bootstrap import build
    from certification.config import CertificationSettings

    return build(CertificationSettings(database_url=f"sqlite:///{tmp_path}/certification.db", dev_mode=True))[1]


@pytest.mark.parametrize("build", [_billing, _enrolment, _certification], ids=["billing", "enrolment", "certification"])
def test_the_subscribers_of_every_service_read_the_contract_channels_and_messages(
    build: Callable[[Path], ServiceRuntime], tmp_path: Path
) -> None:
    runtime = build(tmp_path)
    channels = subscriber_channels(runtime)
    assert set(channels) == set(runtime.consumed_topics())  # one channel per consumed topic
    assert mismatches(runtime) == []


def test_a_subscriber_on_a_topic_the_contract_does_not_have_fails_the_check() -> None:
    def subscribers(kit: KafkaKit) -> None:
        @kit.handler(EnrolmentCancelled)
        def cancel(session: Any, event: Any) -> None: ...

        kit.subscribe("grades.events")

    runtime = ServiceRuntime(
        "made-up",
        ServiceSettings(),
        create_engine("sqlite://"),
        consumes=[topics.ENROLMENT_EVENTS],
        subscribers=subscribers,
    )
    assert subscriber_channels(runtime)[topics.ENROLMENT_EVENTS] == {"EnrolmentCancelled"}
    assert mismatches(runtime) == ["made-up subscribes to grades.events, which is no channel of the contract"]
