"""`docker compose up` as an operator runs it: the demo year through the published ports, every figure checked
against the independent oracle; then restart, SIGKILL mid-stream and down/up with the volumes kept — nothing lost,
nothing doubled. The stack is torn down with `down -v` whatever happens (conftest).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import subprocess
import sys
import tarfile
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from stack import scenario
from stack.demo import collect

from contracts import topics
from tests.containers.compose import ROOT, SERVICES, ComposeStack, clean_env
from tests.kafka_logins import logs_in

pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800)]


def amounts(lines: list[dict[str, Any]], key: str = "amount") -> dict[int, Decimal]:
    return {line["semester"]: Decimal(line[key]) for line in lines}


def services_of(stack: ComposeStack) -> Any:
    return {name: SimpleNamespace(base_url=stack.url(name)) for name in SERVICES}


@pytest.fixture(autouse=True)
def harness_identity(compose_stack: ComposeStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's own Kafka readers (scenario, collect) log in as the super user through the HOST listener; the
    campus systems publish as their own principals (`campus`), the services run as theirs."""
    for name, value in compose_stack.kafka_security("admin").items():
        monkeypatch.setenv(name, value)


def campus(stack: ComposeStack) -> dict[str, dict[str, Any]]:
    return {system: stack.client_kwargs(system) for system in ("student-administration", "exam-administration")}


def test_services_run_as_non_root_and_log_only_json(compose_stack):
    for name in SERVICES:
        uid = compose_stack.exec(name, "id", "-u")
        assert uid.returncode == 0 and uid.stdout.strip() not in ("", "0"), (name, uid.stdout, uid.stderr)
        logged = compose_stack.compose("logs", "--no-log-prefix", "--no-color", name).stdout
        lines = [line for line in logged.splitlines() if line.strip()]
        assert lines, f"{name} logged nothing"
        for line in lines:
            record = json.loads(line)  # raises on any line that is not JSON
            assert record["service"] == name


def check_figures(outcome: scenario.Outcome, results: dict[str, Any]) -> None:
    statements = results["statements"]
    assert set(statements) == {student.key for student in scenario.STUDENTS}
    for key, expected in outcome.expected_invoices.items():
        invoice = statements[key]["invoice"]
        assert amounts(invoice["lines"]) == expected.lines, key
        assert (Decimal(invoice["fixed_fee"]), Decimal(invoice["total"])) == (expected.fixed_fee, expected.total), key
    reimbursed = {key for key, statement in statements.items() if statement["reimbursement"] is not None}
    assert reimbursed == set(outcome.expected_reimbursements)
    for key, expected in outcome.expected_reimbursements.items():
        refund = statements[key]["reimbursement"]
        assert amounts(refund["lines"], "refunded") == expected.lines, key
        assert (Decimal(refund["fixed_fee"]), Decimal(refund["total"])) == (expected.fixed_fee, expected.total), key
    by_enrolment = {enrolment_id: key for key, enrolment_id in outcome.enrolment_ids.items()}
    issued = [event["data"] for event in results["issued"]]
    assert sorted(by_enrolment[data["enrolment_id"]] for data in issued) == sorted(outcome.expected_credentials)


async def test_the_demo_year_through_the_published_ports_gives_the_oracles_figures(compose_stack):
    urls = {name: compose_stack.url(name) for name in SERVICES}
    outcome = await scenario.run_scenario(
        urls, compose_stack.token, compose_stack.bootstrap, say=lambda _: None, campus=campus(compose_stack)
    )
    results = await collect(services_of(compose_stack), compose_stack.token, outcome, compose_stack.bootstrap, "")
    check_figures(outcome, results)
    async with httpx.AsyncClient(timeout=30) as http:
        for event in results["issued"]:
            credential = event["data"]["credential"]
            assert credential["issuer"]["id"].startswith(compose_stack.url("certification")), "PUBLIC_BASE_URL"
            verdict = (await http.post(f"{urls['certification']}/verify", json=credential)).json()
            assert verdict["verified"] is True, verdict


async def enrol(stack: ComposeStack, http: httpx.AsyncClient, first: int, count: int) -> list[str]:
    ids = []
    for number in range(first, first + count):
        body = {
            "student": {"id": f"s-9{number:03d}", "given_name": "Test", "family_name": f"Student{number}",
                        "email": f"student{number}@student.example.edu"},
            "microcredential_id": "mc-research-integrity",
            "academic_year": scenario.YEAR,
        }  # fmt: skip
        response = await http.post(f"{stack.url('enrolment')}/enrolments", json=body)
        response.raise_for_status()
        ids.append(response.json()["id"])
    return ids


async def invoices_per_enrolment(stack: ComposeStack) -> dict[str, set[str]]:
    events = await scenario.read_topic(stack.bootstrap, topics.BILLING_EVENTS, settle_ms=500)
    invoiced: dict[str, set[str]] = {}
    for event in events:
        if event["type"] == "TuitionInvoiced":
            invoiced.setdefault(event["data"]["enrolment_id"], set()).add(event["id"])
    return invoiced


async def test_restart_sigkill_and_down_up_lose_nothing_and_double_nothing(compose_stack):
    headers = {"Authorization": f"Bearer {compose_stack.token}"}
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        before = await enrol(compose_stack, http, 0, 8)
        compose_stack.compose("restart", "billing")
        compose_stack.up("billing")
        during = await enrol(compose_stack, http, 100, 8)
        # Mid-stream: billing is consuming the enrolments just made when it is killed without warning.
        compose_stack.compose("kill", "-s", "SIGKILL", "billing")
        assert compose_stack.state()["billing"]["State"] != "running"
        after_kill = await enrol(compose_stack, http, 200, 8)
        compose_stack.up("billing")
        compose_stack.down(volumes=False)
        compose_stack.up()
        expected = [*before, *during, *after_kill]

        async def statements_ready() -> bool:
            for enrolment_id in expected:
                response = await http.get(f"{compose_stack.url('billing')}/enrolments/{enrolment_id}/statement")
                if response.status_code != 200:
                    return False
            return True

        await scenario.wait_for(statements_ready, 180, "a statement for every enrolment after restarts")
        for enrolment_id in expected:  # the enrolment service's own data survived down/up
            assert (await http.get(f"{compose_stack.url('enrolment')}/enrolments/{enrolment_id}")).status_code == 200
    invoiced = await invoices_per_enrolment(compose_stack)
    assert {enrolment_id: len(invoiced.get(enrolment_id, ())) for enrolment_id in expected} == dict.fromkeys(
        expected, 1
    )


def mc_ops_from_the_host(stack: ComposeStack, *arguments: str, **security: str) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(), **security}
    return subprocess.run(
        [sys.executable, "-m", "opscli", "--bootstrap", stack.bootstrap, *arguments],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_mc_ops_inside_the_stack_as_the_service_and_from_the_host_as_the_operator(compose_stack):
    inside = compose_stack.exec("billing", "mc-ops", "lag", "--json")
    assert inside.returncode == 0, inside.stderr
    # Inside billing's container mc-ops is billing's principal: it sees its own group only.
    assert {row["group"] for row in json.loads(inside.stdout)} == {"billing"}
    outside = mc_ops_from_the_host(compose_stack, "lag", "--json", **compose_stack.kafka_security("operator"))
    assert outside.returncode == 0, outside.stderr
    assert {row["group"] for row in json.loads(outside.stdout)} >= {"billing", "certification"}
    anonymous = mc_ops_from_the_host(compose_stack, "lag", "--json")
    assert anonymous.returncode == 1 and not anonymous.stdout, anonymous


async def produce(stack: ComposeStack, topic: str, **security: Any) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.bootstrap, enable_idempotence=True, acks="all", request_timeout_ms=8000, **security
    )
    try:
        await asyncio.wait_for(producer.start(), 60)
        return int((await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"attack"), 60)).offset)
    finally:
        await producer.stop()


async def end_offset(stack: ComposeStack, topic: str) -> int:
    return len(await scenario.read_topic(stack.bootstrap, topic, settle_ms=500))


async def test_kafka_refuses_a_client_without_credentials_or_with_a_wrong_password(compose_stack, caplog):
    before = await end_offset(compose_stack, topics.ENROLMENT_EVENTS)
    with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
        await produce(compose_stack, topics.ENROLMENT_EVENTS)
    guessed = compose_stack.client_kwargs("student-administration", secrets.token_urlsafe(24))
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        await produce(compose_stack, topics.ENROLMENT_EVENTS, **guessed)
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in caplog.text
    assert await end_offset(compose_stack, topics.ENROLMENT_EVENTS) == before


async def test_one_services_principal_cannot_write_another_services_topic(compose_stack):
    before = await end_offset(compose_stack, topics.ENROLMENT_EVENTS)
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(compose_stack, topics.ENROLMENT_EVENTS, **compose_stack.client_kwargs("billing"))
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(compose_stack, topics.CERTIFICATION_EVENTS, **compose_stack.client_kwargs("enrolment"))
    # TopicAuthorization, not a failed login: both logged in, the ACLs refused the write.
    assert await end_offset(compose_stack, topics.ENROLMENT_EVENTS) == before


def test_each_service_logs_in_as_its_own_principal(compose_stack):
    for name in SERVICES:
        seen = compose_stack.exec(name, "printenv", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_USERNAME")
        assert seen.stdout.split() == ["SASL_PLAINTEXT", name], (name, seen.stdout, seen.stderr)


# Done by the fixture before the stack starts: the operator's .env (written with fresh secrets and free ports)
# and the stand-in images (deploy/images/build, in prepare_engine_and_images).
SET_UP = {"cp .env.example .env", "deploy/images/build"}


def guide_commands() -> list[str]:
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("## Running the platform with Docker Compose", 1)[1].split("## Operations: the Kafka side")[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def as_run_here(command: str, stack: ComposeStack) -> str:
    """The guide's command for this test's stack: its project, env file (also where the guide edits `.env`), ports
    and venv."""
    compose = f"docker compose -f {ROOT / 'docker-compose.yml'} -p {stack.project} --env-file {stack.env_file} "
    replaced = (
        command.replace("docker compose ", compose)
        .replace("127.0.0.1:8002", stack.url("billing").removeprefix("http://"))
        .replace("127.0.0.1:9094", stack.bootstrap)
        .replace("uv run mc-ops", str(Path(sys.executable).parent / "mc-ops"))
    )
    return re.sub(r"(?<=\s)\.env(?=[\s)]|$)", str(stack.env_file), replaced)


def test_the_operations_guide_runs_as_written(compose_stack, tmp_path):
    """Last in the module: it stops and restarts the stack as the guide does."""
    commands = guide_commands()
    assert set(commands) >= SET_UP and len(commands) > 15, commands
    rotated_out = compose_stack.kafka_password("billing")
    outputs = {}
    for command in commands:
        if command in SET_UP:
            continue
        done = subprocess.run(
            ["bash", "-c", as_run_here(command, compose_stack)], cwd=tmp_path, env=clean_env(),
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
        outputs[command] = done.stdout
    dump = (tmp_path / "postgres-backup.sql").read_text()
    assert all(f"CREATE ROLE {name};" in dump and f"CREATE DATABASE {name}" in dump for name in SERVICES)
    with tarfile.open(tmp_path / "kafka-data.tgz") as archive:
        assert "./meta.properties" in archive.getnames()
    public_key = next(text for command, text in outputs.items() if command.endswith("certification public-key"))
    assert re.fullmatch(r"key-1=z6Mk\w+\njwt-key-1=B[\w-]{86}\n", public_key), public_key
    assert "billing" in outputs["docker compose exec -T billing mc-ops lag"]
    provisioned = outputs["docker compose logs --no-log-prefix kafka-setup"]
    assert all(f"set the SCRAM-SHA-512 password of {name} " in provisioned for name in SERVICES), provisioned
    operator = next(text for command, text in outputs.items() if "KAFKA_SASL_USERNAME=operator" in command)
    assert "billing" in operator and "certification" in operator, operator
    # The rotation: billing (recreated, and its mc-ops above) runs on the new password; the old one is refused.
    new_password = compose_stack.kafka_password("billing")
    assert new_password != rotated_out
    assert asyncio.run(logs_in(compose_stack.bootstrap, compose_stack.client_kwargs("billing", new_password)))
    assert not asyncio.run(logs_in(compose_stack.bootstrap, compose_stack.client_kwargs("billing", rotated_out)))
    assert compose_stack.exec("billing", "printenv", "KAFKA_SASL_PASSWORD").stdout.strip() == new_password
    assert (
        "mc_" in outputs["curl -fsS http://127.0.0.1:8002/metrics"]
        or "# TYPE" in outputs["curl -fsS http://127.0.0.1:8002/metrics"]
    )
