"""The enrolment- and certification-throughput sections' pieces, without a broker: the input certification is fed
must be input it issues a credential for (or the benchmark would wait for credentials that never come), the raw
loop must issue exactly when certification would, and the ratio is taken per round."""

from __future__ import annotations

import json

from certification.adapters import generate_secret_key
from certification.adapters.issuer import Issuer
from certification.bootstrap import migrate
from certification.entrypoints.kafka import event_handlers
from reliability.database import create_database_engine, transaction
from reliability.provenance import REPOSITORY_EVENT_SOURCES, load_event_sources
from reliability.tables import OutboxMessage
from sqlalchemy import select
from sqlmodel import Session

from benchmarks import credential_input
from benchmarks.raw_certification import Ledger
from benchmarks.service_throughput import ServiceRun, summarise, summary_lines
from contracts import decode_event, topics


def input_events(seed: str, learners: int) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) of the benchmark's certification input, in the order it is prefilled."""
    key, value = credential_input.catalogue_event()
    events = [(topics.CATALOGUE, key, value)]
    for key, created, passes in credential_input.learners(seed, learners):
        events.append((topics.ENROLMENT_EVENTS, key, created))
        events += [(topics.ASSESSMENT_EVENTS, key, value) for value in passes]
    return events


def test_the_benchmark_input_is_allowed_and_issues_one_credential_per_learner(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/certification.db"
    migrate(url)
    engine = create_database_engine(url)
    issuer = Issuer.create(base_url="http://127.0.0.1:8003", key_id="key-bench", secret=generate_secret_key())
    handlers = event_handlers(issuer)
    sources = load_event_sources(REPOSITORY_EVENT_SOURCES)
    # Assessments before their enrolments, the catalogue entry last: certification issues all the same.
    for topic, key, value in sorted(input_events("test", 3), key=lambda e: e[0] != topics.ASSESSMENT_EVENTS):
        event = decode_event(value, key=key)
        assert sources.refusal(topic, event.type, event.source) is None
        with transaction(engine) as session:
            handlers[event.type](session, event)
    with Session(engine) as session:
        rows = list(session.scalars(select(OutboxMessage)))
    engine.dispose()
    issued = [json.loads(row.value) for row in rows if json.loads(row.value)["type"] == "CredentialIssued"]
    assert sorted(event["subject"] for event in issued) == [credential_input.enrolment_id("test", i) for i in range(3)]


def test_the_same_seed_gives_the_same_input_and_another_seed_another() -> None:
    assert input_events("a", 4) == input_events("a", 4)
    assert {value for _, _, value in input_events("a", 4)}.isdisjoint(
        value for topic, _, value in input_events("b", 4) if topic != topics.CATALOGUE
    )


def test_the_raw_loop_issues_once_when_the_last_pass_and_the_catalogue_are_in() -> None:
    ledger = Ledger()
    [catalogue, (_, _, created), (_, _, first), (_, _, second)] = input_events("raw", 1)
    due = [ledger.record(json.loads(value)) for value in (first, created, second, second)]
    assert due == [[], [], [], []]  # no catalogue entry yet
    [enrolment_id] = ledger.record(json.loads(catalogue[2]))
    credential, offer = ledger.credential(enrolment_id)
    assert json.loads(credential)["type"] == "RawCredentialIssued"
    assert json.loads(offer)["credential_id"] == json.loads(credential)["credential_id"]
    assert ledger.record(json.loads(second)) == [] and ledger.record(json.loads(catalogue[2])) == []


def run(system: str, wall: float) -> ServiceRun:
    return ServiceRun(
        system=system,
        events=300,
        wall_seconds=wall,
        first_output_seconds=1.0,
        steady_rate=300 / wall,
        wall_rate=300 / wall,
        samples=[],
        cpu_us_per_event=100.0,
        machine_cpu_us_per_event=150.0,
        load_average=0.0,
        outputs=100,
        output_rate=100 / wall,
        unit="credentials",
    )


def test_the_ratio_is_taken_per_round_against_the_raw_run_of_that_round() -> None:
    # A neighbour slowed round two for both: per round the service runs at a quarter of the raw loop each time.
    runs = {"raw": [run("raw", 1.0), run("raw", 4.0)], "certification": [run("certification", 4.0), run("c", 16.0)]}
    section = summarise(runs, input_events=300, outputs=100, unit="credentials", note="-")
    assert section["ratios"]["certification"] == {"median": 0.25, "min": 0.25, "max": 0.25, "n": 2}
    [table_row] = [line for line in summary_lines({"certification_throughput": section}) if "| certification |" in line]
    assert "| 0.250 [0.250–0.250] |" in table_row
