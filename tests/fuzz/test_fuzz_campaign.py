"""No input stops a service: a fuzz campaign on the real, secured broker, interleaved with the demo scenario.

At least FUZZ_INPUTS (default 10,000) generated bad inputs over every consumed topic (inputs.py says which kinds
and what each must become), published as the principals allowed to write each topic, while the scenario plays;
then the scenario's own events again with other bodies, a few writes the broker must refuse, and last a ~1 MiB
value per topic. Afterwards, each a separate finding (all are reported, then the test fails if any is not met):
- settled: every consumer group committed everything (bounded by FUZZ_SETTLE_SECONDS);
- every service still running and healthy (/health);
- every bad input accounted for at every consumer of its topic (ledger.py says how), lost: 0;
- the scenario's invoices, reimbursements and credentials equal to the independent oracle;
- nothing published twice, and nothing published about an enrolment only bad inputs spoke of;
- every write the ACLs or the size limit forbid refused by the broker.

Reproduce a run with its seed: FUZZ_SEED=<printed seed> FUZZ_INPUTS=<n> uv run pytest tests/fuzz -s.
A quick run while developing: FUZZ_INPUTS=300; a longer one on demand: FUZZ_INPUTS=100000 (the settle time,
FUZZ_SETTLE_SECONDS, defaults to 0.03 s per input and at least 90 s; the test's timeout follows it).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx
import pytest
from stack.demo import collect
from stack.processes import SERVICES, Stack
from stack.scenario import YEAR

from tests.faults.fault_support import healthy
from tests.fuzz.campaign import Publisher, observe, play, refused_writes, scenario_duplicates, settle
from tests.fuzz.inputs import Generator, one_mib_values
from tests.fuzz.ledger import Ledger, duplicates_on_outputs, oracle_mismatches, outputs_about_bad_inputs

SEED = int(os.environ.get("FUZZ_SEED", "20261201"))
INPUTS = int(os.environ.get("FUZZ_INPUTS", "10000"))
SETTLE_SECONDS = float(os.environ.get("FUZZ_SETTLE_SECONDS", str(max(90, INPUTS * 0.03))))
"""How long the consumers may take to catch up (and certification to record the scenario's enrolments)."""
WAVES = 20

TIMEOUT = int(os.environ.get("FUZZ_TIMEOUT", str(int(2 * SETTLE_SECONDS + 600))))
"""Only against a hang: the scenario's and the settling's waits are each bounded by SETTLE_SECONDS."""

pytestmark = [pytest.mark.fuzz, pytest.mark.kafka, pytest.mark.timeout(TIMEOUT)]


async def fetch_catalogue(stack: Stack) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {stack.api_token}"}) as http:
        response = await http.get(f"{stack['enrolment'].base_url}/microcredentials", params={"academic_year": YEAR})
        response.raise_for_status()
    listing = response.json()
    entries = listing["microcredentials"] if isinstance(listing, dict) else listing
    return {entry["id"]: entry for entry in entries}


async def still_up(stack: Stack) -> list[str]:
    exited = [report.splitlines()[0] for service in SERVICES if (report := stack[service].exit_report())]
    return exited + [f"/health {problem}" for problem in await healthy(stack)]


async def test_no_bad_input_stops_a_service_or_goes_missing(fuzz_stack, kafka_bootstrap, secured_kafka, campus, capsys):
    stack, started, findings = fuzz_stack, time.monotonic(), {}
    say = _printer(capsys)
    say(f"fuzz campaign: seed {SEED}, {INPUTS:,} generated inputs (FUZZ_SEED={SEED} FUZZ_INPUTS={INPUTS} reproduces)")
    generator = Generator(SEED, await fetch_catalogue(stack))
    inputs = list(generator.stream(INPUTS))
    size = -(-len(inputs) // WAVES)
    waves = [inputs[i : i + size] for i in range(0, len(inputs), size)]  # in order: a duplicate after its original
    async with Publisher(secured_kafka, stack.topic_prefix, SEED) as publisher:
        outcome, failure = await play(stack, campus, publisher, waves, SETTLE_SECONDS)
        say(f"  scenario and {len(inputs):,} inputs published after {time.monotonic() - started:.0f}s")
        if outcome is not None:
            duplicates = await scenario_duplicates(kafka_bootstrap, stack.topic_prefix, generator)
            await publisher.publish(duplicates)
            inputs += duplicates
        refusals = await refused_writes(secured_kafka, stack.topic_prefix)
        took, lag = await settle(stack, kafka_bootstrap, SETTLE_SECONDS)
        say(f"  settled in {took:.0f}s, lag left {lag}")
        findings["settled"] = (
            [f"consumer groups still lag after {SETTLE_SECONDS:.0f}s: {lag}"] if any(lag.values()) else []
        )
        findings["scenario equals the oracle"] = await _against_the_oracle(stack, kafka_bootstrap, outcome, failure)
        biggest = one_mib_values(generator)
        await publisher.publish(biggest)
        inputs += biggest
    took, lag = await settle(stack, kafka_bootstrap, 60)
    say(f"  ~1 MiB values: settled in {took:.0f}s, lag left {lag}")
    findings["settled"] += [f"after the ~1 MiB values, consumer groups still lag: {lag}"] if any(lag.values()) else []
    findings["every service running and healthy"] = await still_up(stack)
    observed = await observe(stack, kafka_bootstrap)
    ledger = Ledger(stack.topic_prefix, inputs, observed)
    ledger.account()
    findings["every bad input accounted for, lost: 0"] = ledger.problems
    findings["each dead-lettered once per consumer"] = ledger.twice
    findings["nothing published twice"] = duplicates_on_outputs(observed.outputs)
    findings["nothing published about a bad input"] = outputs_about_bad_inputs(observed.outputs, SEED)
    findings["refused by the broker"] = [f"the broker took {r.what}" for r in refusals if r.error is None]
    refused = sum(r.error is not None for r in refusals)
    say(ledger.table(refused, SEED))
    say(f"  refused by the broker: {', '.join(f'{r.what}: {r.error}' for r in refusals)}")
    say(
        f"  lost: {ledger.count('lost')}, unconsumed: {ledger.count('unconsumed')}; took {time.monotonic() - started:.0f}s"
    )
    failed = {name: problems for name, problems in findings.items() if problems}
    for name, problems in findings.items():
        say(f"  [{'FAIL' if problems else 'ok'}] {name}" + "".join(f"\n        {p}" for p in problems[:60]))
    if failed:
        say(stack.log_tails(8))
    assert not failed, f"seed {SEED}: failed: {', '.join(failed)}"


async def _against_the_oracle(stack: Stack, bootstrap: str, outcome: Any, failure: str | None) -> list[str]:
    if outcome is None:
        return [failure or "the scenario did not complete"]
    try:
        results = await asyncio.wait_for(collect(stack, stack.api_token, outcome, bootstrap, stack.topic_prefix), 90)
    except (TimeoutError, httpx.HTTPError) as error:
        return [f"the scenario's results did not all appear: {type(error).__name__}: {error}"]
    return oracle_mismatches(outcome, results)


def _printer(capsys: pytest.CaptureFixture[str]) -> Any:
    def say(text: str) -> None:
        with capsys.disabled():
            print(text, flush=True)

    return say
