"""The demo scenario end to end: three service processes on a real broker, every figure checked.

Expected invoices and reimbursements come from `stack.oracle`, written from the policy text apart from
billing's engine; expected credentials from the scenario's results (latest assessment per course).
"""

from __future__ import annotations

import secrets
import uuid
from decimal import Decimal

import httpx
import pytest
from stack import scenario
from stack.demo import collect
from stack.processes import Stack, free_port

pytestmark = pytest.mark.kafka


@pytest.fixture
def stack(kafka_bootstrap, secured_kafka, tmp_path):
    prefix = f"e2e{uuid.uuid4().hex[:8]}."
    secured_kafka.provision_now(prefix)
    stack = Stack(
        workdir=tmp_path / "stack",
        bootstrap=kafka_bootstrap,
        api_token=secrets.token_urlsafe(32),
        topic_prefix=prefix,
        kafka_env=secured_kafka.service_envs(),
        ports={name: free_port() for name in ("enrolment", "billing", "certification")},
    )
    try:
        stack.start()
        yield stack
        stack.assert_running()  # a service that crashed mid-test fails it, with the end of its log
    finally:
        stack.stop()


def amounts(lines, key="amount"):
    return {line["semester"]: Decimal(line[key]) for line in lines}


async def test_the_demo_scenario_produces_exactly_the_figures_the_policy_prescribes(stack, kafka_bootstrap, campus):
    urls = {name: stack[name].base_url for name in ("enrolment", "billing", "certification")}
    outcome = await scenario.run_scenario(
        urls, stack.api_token, kafka_bootstrap, stack.topic_prefix, say=lambda _: None, campus=campus
    )
    results = await collect(stack, stack.api_token, outcome, kafka_bootstrap, stack.topic_prefix)

    statements = results["statements"]
    assert set(statements) == {student.key for student in scenario.STUDENTS}
    for key, expected in outcome.expected_invoices.items():
        invoice = statements[key]["invoice"]
        assert amounts(invoice["lines"]) == expected.lines, key
        assert Decimal(invoice["fixed_fee"]) == expected.fixed_fee, key
        assert Decimal(invoice["total"]) == expected.total, key
    reimbursed = {key for key, statement in statements.items() if statement["reimbursement"] is not None}
    assert reimbursed == set(outcome.expected_reimbursements)
    for key, expected in outcome.expected_reimbursements.items():
        refund = statements[key]["reimbursement"]
        assert amounts(refund["lines"], "refunded") == expected.lines, key
        assert Decimal(refund["fixed_fee"]) == expected.fixed_fee, key
        assert Decimal(refund["total"]) == expected.total, key
        assert refund["policy"].startswith("uantwerp-en"), key

    by_enrolment = {enrolment_id: key for key, enrolment_id in outcome.enrolment_ids.items()}
    issued = [event["data"] for event in results["issued"]]
    assert sorted(by_enrolment[data["enrolment_id"]] for data in issued) == sorted(outcome.expected_credentials)
    async with httpx.AsyncClient(timeout=30) as http:
        for data in issued:
            verdict = (await http.post(f"{urls['certification']}/verify", json=data["credential"])).json()
            assert verdict["verified"] is True, verdict
    assert outcome.expected_held == {"hugo"}
    assert "hugo" not in {by_enrolment[data["enrolment_id"]] for data in issued}
