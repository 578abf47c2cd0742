"""`publish-sample`: one event of every contract type, valid by construction, on the real broker."""

from __future__ import annotations

import json

import pytest

from contracts import EVENT_TYPES, decode_event
from tests.opscli.opscli_support import cli, create_topics, read_all, unique_prefix


@pytest.fixture(scope="module")
async def sample_prefix(kafka_bootstrap: str) -> str:
    prefix = unique_prefix()
    await create_topics(kafka_bootstrap, prefix)
    return prefix


def _printed(output: str) -> tuple[str, str, dict]:
    """(topic line, key, event) from publish-sample's output."""
    lines = output.splitlines()
    assert lines[0].startswith("topic  ") and lines[1].startswith("key    ")
    return lines[0].removeprefix("topic  "), lines[1].removeprefix("key    "), json.loads("\n".join(lines[2:]))


@pytest.mark.parametrize("type_name", list(EVENT_TYPES))
async def test_publish_sample_of_every_type_is_accepted_by_decode_event(
    kafka_bootstrap: str, sample_prefix: str, type_name: str
) -> None:
    model = EVENT_TYPES[type_name]
    topic = sample_prefix + model.topic
    before = len(await read_all(kafka_bootstrap, topic))

    code, output = await cli(kafka_bootstrap, sample_prefix, "publish-sample", type_name)
    assert code == 0, output
    where, key, printed = _printed(output)
    assert where.startswith(topic + "[")

    records = await read_all(kafka_bootstrap, topic)
    assert len(records) == before + 1
    record = next(r for r in records if r.key == key.encode())
    event = decode_event(record.value, key=record.key)  # what every consumer runs first
    assert event.type == type_name
    assert event.id == printed["id"]
    assert json.loads(record.value) == printed
    assert ("content-type", b"application/cloudevents+json") in list(record.headers)
    assert event.source == "/microcredentials/opscli"


async def test_publish_sample_with_enrolment_id_and_set(kafka_bootstrap: str, sample_prefix: str) -> None:
    code, output = await cli(
        kafka_bootstrap,
        sample_prefix,
        "publish-sample",
        "tuitioninvoiced",  # type names are matched case-insensitively
        "--enrolment-id",
        "ENR-OPS-1",
        "--set",
        "lines.0.amount=150.00",
        "--set",
        "total=370.00",
        "--set",
        "lines.1.semester=2",
    )
    assert code == 0, output
    _, key, printed = _printed(output)
    assert key == "ENR-OPS-1"
    assert printed["subject"] == "ENR-OPS-1"
    assert printed["data"]["lines"][0]["amount"] == "150.00"
    assert printed["data"]["total"] == "370.00"
    records = await read_all(kafka_bootstrap, sample_prefix + "billing.events")
    record = next(r for r in records if r.key == b"ENR-OPS-1")
    assert str(decode_event(record.value, key=record.key).data.total) == "370.00"

    code, output = await cli(
        kafka_bootstrap, sample_prefix, "publish-sample", "CredentialIssued", "--enrolment-id", "ENR-OPS-2"
    )
    assert code == 0
    _, _, printed = _printed(output)
    # The example's enrolment id is replaced everywhere, so the sample tells one consistent story.
    assert printed["data"]["credential_url"].endswith("/ENR-OPS-2")


async def test_publish_sample_refuses_what_breaks_the_contract(
    kafka_bootstrap: str, sample_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = sample_prefix + "billing.events"
    before = len(await read_all(kafka_bootstrap, topic))

    code, _ = await cli(kafka_bootstrap, sample_prefix, "publish-sample", "TuitionInvoiced", "--set", "total=1.00")
    assert code == 1
    assert "total" in capsys.readouterr().err

    code, _ = await cli(kafka_bootstrap, sample_prefix, "publish-sample", "TuitionInvoiced", "--set", "currency=EURO")
    assert code == 1
    assert "data.currency" in capsys.readouterr().err

    code, _ = await cli(kafka_bootstrap, sample_prefix, "publish-sample", "TuitionInvoiced", "--set", "totl=1.00")
    assert code == 1
    assert "no field 'totl'" in capsys.readouterr().err

    code, _ = await cli(kafka_bootstrap, sample_prefix, "publish-sample", "NoSuchEvent")
    assert code == 1
    assert "EnrolmentCreated" in capsys.readouterr().err

    code, _ = await cli(
        kafka_bootstrap, sample_prefix, "publish-sample", "MicroCredentialPublished", "--enrolment-id", "ENR-1"
    )
    assert code == 1

    assert len(await read_all(kafka_bootstrap, topic)) == before, "nothing invalid was published"


async def test_publish_sample_dry_run_and_list(kafka_bootstrap: str, sample_prefix: str) -> None:
    topic = sample_prefix + "catalogue.microcredentials"
    before = len(await read_all(kafka_bootstrap, topic))
    code, output = await cli(
        kafka_bootstrap,
        sample_prefix,
        "publish-sample",
        "MicroCredentialPublished",
        "--set",
        "eqf_level=5",
        "--dry-run",
    )
    assert code == 0
    _, key, printed = _printed(output)
    assert key == "2026-2027/MC-DATA-101"
    assert printed["data"]["eqf_level"] == 5
    assert len(await read_all(kafka_bootstrap, topic)) == before

    code, output = await cli(kafka_bootstrap, sample_prefix, "publish-sample", "--list")
    assert code == 0
    for type_name, model in EVENT_TYPES.items():
        assert any(line.split()[:2] == [type_name, model.topic] for line in output.splitlines())
