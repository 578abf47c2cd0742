"""Two replicas of every service, one PostgreSQL database per service, one consumer group each.

Both replicas consume (the group splits the partitions) and both run an outbox relay (the lease lets one
publish at a time). The figures must be exactly those of one replica, with no event published twice.
"""

from __future__ import annotations

import secrets
import uuid
from collections import Counter

import pytest
from stack import scenario
from stack.demo import collect
from stack.processes import SERVICES, Stack, free_port

from contracts import topics

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
def replicas(kafka_bootstrap, secured_kafka, tmp_path, new_postgres_database):
    databases = {name: new_postgres_database() for name in SERVICES}
    token = secrets.token_urlsafe(32)
    prefix = f"scale{uuid.uuid4().hex[:8]}."
    secured_kafka.provision_now(prefix)
    pair = [
        Stack(
            workdir=tmp_path / f"replica-{n}",
            bootstrap=kafka_bootstrap,
            api_token=token,
            topic_prefix=prefix,
            ports={name: free_port() for name in SERVICES},
            database_urls=databases,
            kafka_env=secured_kafka.service_envs(),
        )
        for n in (1, 2)
    ]
    # Both certification replicas must sign with the same key, as replicas of one issuer do.
    key = pair[0]["certification"].env["CREDENTIAL_SIGNING_KEY"]
    salt = pair[0]["certification"].env["IDENTITY_SALT"]
    for stack in pair:
        stack["certification"].env.update(CREDENTIAL_SIGNING_KEY=key, IDENTITY_SALT=salt)
    pair[1]["certification"].env["PUBLIC_BASE_URL"] = pair[0]["certification"].env["PUBLIC_BASE_URL"]
    try:
        for stack in pair:
            stack.start()
        yield pair
        for stack in pair:
            stack.assert_running()  # a replica that crashed mid-test fails it, with the end of its log
    finally:
        for stack in pair:
            stack.stop()


async def test_two_replicas_of_each_service_give_the_figures_of_one(replicas, kafka_bootstrap, campus):
    first, second = replicas
    urls = {
        "enrolment": second["enrolment"].base_url,
        "billing": first["billing"].base_url,
        "certification": first["certification"].base_url,
    }
    outcome = await scenario.run_scenario(
        urls, first.api_token, kafka_bootstrap, first.topic_prefix, say=lambda _: None, campus=campus
    )
    results = await collect(first, first.api_token, outcome, kafka_bootstrap, first.topic_prefix)

    for key, expected in outcome.expected_invoices.items():
        assert results["statements"][key]["invoice"]["total"] == str(expected.total), key
    for key, expected in outcome.expected_reimbursements.items():
        assert results["statements"][key]["reimbursement"]["total"] == str(expected.total), key

    billing_events = await scenario.read_topic(kafka_bootstrap, first.topic_prefix + topics.BILLING_EVENTS)
    published = Counter(event["id"] for event in billing_events)
    assert len(published) == len(outcome.expected_invoices) + len(outcome.expected_reimbursements)
    assert max(published.values()) == 1, "an event was published twice by the two relays"
    issued = [event for event in results["issued"]]
    assert len({event["data"]["enrolment_id"] for event in issued}) == len(issued) == len(outcome.expected_credentials)
