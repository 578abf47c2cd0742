"""Accounting for every bad input, consumer by consumer, and the summary table.

How "every bad input accounted for" is computed. Each input was published at known coordinates (topic, partition,
offset: the broker's answer to the send). For each consumer of its topic, exactly one of these must hold:
- dead-lettered: a record in ``<topic>.dlq`` whose ``dlq-consumer`` is that consumer and whose
  ``dlq-original-topic/partition/offset`` are the input's, with a non-empty ``dlq-reason``. Coordinates, not the
  value nor our marker header, because an oversized record's dead letter is a bounded envelope (an excerpt and a
  SHA-256) and may not carry the original headers; where the marker header is there it must name the same input;
- parked: a ``parked_record`` row of that consumer at those coordinates (the DLQ send kept failing);
- applied: a ``processed_event`` row of that consumer at those coordinates (the kit records the coordinates of
  every applied event);
- skipped: none of the above, and its identity (source, id) is recorded as applied at other coordinates (a
  duplicate); that the groups committed past every input is the campaign's "settled" check (no lag left).
Otherwise it is unconsumed if the consumer's group has not committed past its offset (the consumer died or is
still behind: the "settled" and "running" findings say which), else lost. The input's expected fate (see inputs.py) says which outcomes are right.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from stack import scenario

from contracts import topics as contract
from tests.fuzz.campaign import Observed
from tests.fuzz.inputs import CONSUMERS, DEAD, KEPT, MARKER, SKIPPED, BadInput

OK_FATES = {DEAD: {"dead-lettered", "parked"}, KEPT: {"applied"}, SKIPPED: {"skipped", "dead-lettered", "parked"}}
Coordinates = tuple[str, int, int]  # contract topic, partition, offset


def _header(record: Any, name: str) -> bytes | None:
    return next((value for key, value in record.headers or () if key == name), None)


@dataclass
class Ledger:
    prefix: str
    inputs: Sequence[BadInput]
    observed: Observed
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(kind, consumer, outcome) -> inputs."""
    problems: list[str] = field(default_factory=list)
    twice: list[str] = field(default_factory=list)
    """Inputs a consumer dead-lettered more than once (a redelivery after a refused offset commit)."""

    def account(self) -> None:
        copies = self._dead_letters_by_coordinates()
        parked = {
            (c, t.removeprefix(self.prefix), p, o) for rows in self.observed.parked.values() for c, t, p, o in rows
        }
        applied = {
            (service, topic.removeprefix(self.prefix), partition, offset)
            for service, rows in self.observed.processed.items()
            for topic, partition, offset, _, _ in rows
        }
        identities = {(service, s, i) for service, rows in self.observed.processed.items() for *_, s, i in rows}
        mismatched: Counter[tuple[str, str, str, str]] = Counter()
        for item in self.inputs:
            if item.refused is not None:
                self.outcomes[(item.kind, "broker", f"refused ({item.refused})")] += 1
                continue
            where = (item.topic, item.partition, item.offset)
            for consumer in CONSUMERS[item.topic]:
                found = copies.pop((consumer, *where), [])
                if len(found) > 1:
                    self.twice.append(f"input {item.n} ({item.kind}) dead-lettered {len(found)} times by {consumer}")
                for copy in found:
                    self._check_copy(item, consumer, copy)
                if found:
                    outcome = "dead-lettered"
                elif (consumer, *where) in parked:
                    outcome = "parked"
                elif (consumer, *where) in applied:
                    outcome = "applied"
                elif _identity(item) is not None and (consumer, *_identity(item)) in identities:  # type: ignore[misc]
                    outcome = "skipped"
                elif item.offset >= self.observed.committed.get(consumer, {}).get((item.topic, item.partition), -1):
                    outcome = "unconsumed"  # its consumer never got this far (stopped, or still behind)
                else:
                    outcome = "lost"
                self.outcomes[(item.kind, consumer, outcome)] += 1
                if outcome not in OK_FATES[item.fate]:
                    label = f"{item.kind} ({item.detail})" if item.detail else item.kind
                    mismatched[(label, consumer, item.fate, outcome)] += 1
        for (kind, consumer, expected, outcome), count in sorted(mismatched.items()):
            self.problems.append(f"{count} x {kind!r} at {consumer}: expected {expected}, was {outcome}")
        for (consumer, topic, partition, offset), found in sorted(copies.items()):
            reason = (_header(found[0], contract.DLQ_REASON) or b"").decode(errors="replace")[:160]
            self.problems.append(
                f"{consumer} dead-lettered {topic}[{partition}]@{offset}, which is no bad input "
                f"(a valid scenario event?): {reason}"
            )

    def _dead_letters_by_coordinates(self) -> dict[tuple[str, str, int, int], list[Any]]:
        found: dict[tuple[str, str, int, int], list[Any]] = defaultdict(list)
        for record in self.observed.dead_letters:
            try:
                consumer = (_header(record, contract.DLQ_CONSUMER) or b"?").decode()
                topic = (_header(record, contract.DLQ_ORIGINAL_TOPIC) or b"?").decode().removeprefix(self.prefix)
                partition = int(_header(record, contract.DLQ_ORIGINAL_PARTITION) or b"-1")
                offset = int(_header(record, contract.DLQ_ORIGINAL_OFFSET) or b"-1")
            except ValueError:
                self.problems.append(f"a dead letter at {record.topic}@{record.offset} has unreadable dlq-* headers")
                continue
            found[(consumer, topic, partition, offset)].append(record)
        return found

    def _check_copy(self, item: BadInput, consumer: str, copy: Any) -> None:
        reason = (_header(copy, contract.DLQ_REASON) or b"").decode("utf-8", errors="replace")
        marker = _header(copy, MARKER)
        if not reason.strip():
            self.problems.append(f"input {item.n} ({item.kind}) dead-lettered by {consumer} without a reason")
        if copy.topic.removeprefix(self.prefix) != contract.dead_letter_topic(item.topic):
            self.problems.append(f"input {item.n} ({item.kind}) dead-lettered by {consumer} to {copy.topic}")
        if marker is not None and marker.split(b":")[-1] != str(item.n).encode():
            self.problems.append(f"input {item.n}: its dead letter at {consumer} carries marker {marker!r}")
        leaked = [secret for secret in item.secrets if secret and secret in reason]
        if leaked:
            self.problems.append(f"input {item.n} ({item.kind}): {consumer}'s dlq-reason repeats personal data")

    def count(self, fate: str) -> int:
        return sum(count for (_, _, outcome), count in self.outcomes.items() if outcome == fate)

    def table(self, refusals: int, seed: int) -> str:
        """Inputs by kind and what each consumer did with them; the closing note quotes these counts."""
        consumers, fates = (
            ("enrolment", "billing", "certification"),
            ("dead-lettered", "applied", "skipped", "parked", "unconsumed", "lost"),
        )
        tried = Counter(item.kind for item in self.inputs)
        by_broker = Counter(
            kind for (kind, consumer, _), n in self.outcomes.items() for _ in range(n) if consumer == "broker"
        )
        rows = [
            f"fuzz campaign, seed {seed}: {len(self.inputs):,} bad inputs tried ({sum(by_broker.values())} of them "
            f"refused by the broker), plus {refusals} writes refused by the broker (ACLs, size)"
        ]
        header = f"{'kind':31} {'tried':>6} {'refused':>7} " + " ".join(f"{c + ' D/A/S/P/U/L':>26}" for c in consumers)
        rows += [header, "-" * len(header)]
        for kind in sorted(tried, key=lambda k: -tried[k]):
            cells = []
            for consumer in consumers:
                parts = [self.outcomes[(kind, consumer, fate)] for fate in fates]
                cells.append(f"{'/'.join(map(str, parts)) if any(parts) else '-':>26}")
            rows.append(f"{kind[:31]:31} {tried[kind]:>6} {by_broker[kind]:>7} " + " ".join(cells))
        totals: Counter[tuple[str, str]] = Counter()
        for (_, consumer, outcome), count in self.outcomes.items():
            totals[(consumer, outcome)] += count
        for fate in fates:
            rows.append(
                f"{fate + ', total':31} {'':>6} {'':>7} " + " ".join(f"{totals[(c, fate)]:>26}" for c in consumers)
            )
        rows.append(
            "D/A/S/P/U/L per consumer: dead-lettered / applied (kept) / skipped as a duplicate / parked / unconsumed "
            "(its group never committed past it: the consumer stopped or is behind) / lost (committed past, no trace)"
        )
        return "\n".join(rows)


def _identity(item: BadInput) -> tuple[str, str] | None:
    try:
        document = json.loads(item.value or b"")
        return str(document["source"]), str(document["id"])
    except (ValueError, KeyError, TypeError):
        return None


def duplicates_on_outputs(outputs: dict[str, list[Any]]) -> list[str]:
    """Every output event published once: no CloudEvents identity twice on an output topic."""
    problems = []
    for topic, records in outputs.items():
        seen: Counter[tuple[str, str]] = Counter()
        for record in records:
            if _header(record, MARKER) is not None:
                continue  # a bad input, not an output
            try:
                event = json.loads(record.value)
                seen[(event["source"], event["id"])] += 1
            except (ValueError, KeyError, TypeError):
                continue
        if topic == contract.ENROLMENT_EVENTS:  # an output of the enrolment service's alone
            seen = Counter({key: n for key, n in seen.items() if key[0] == "/services/enrolment"})
        problems += [f"{topic}: event {event_id} published {n} times" for (_, event_id), n in seen.items() if n > 1]
    return problems


def outputs_about_bad_inputs(outputs: dict[str, list[Any]], seed: int) -> list[str]:
    """No invoice, reimbursement or credential for an enrolment only bad inputs spoke of."""
    found = []
    for topic in (contract.BILLING_EVENTS, contract.CERTIFICATION_EVENTS):
        for record in outputs.get(topic, []):
            key = (record.key or b"").decode(errors="replace")
            if key.startswith(f"fuzz-{seed}-"):
                found.append(f"{topic}: {json.loads(record.value).get('type')} for bad input's enrolment {key}")
    return found


def _amounts(lines: Iterable[dict[str, Any]], key: str = "amount") -> dict[int, Decimal]:
    return {line["semester"]: Decimal(line[key]) for line in lines}


def _money(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def oracle_mismatches(outcome: scenario.Outcome, results: dict[str, Any]) -> list[str]:
    """tests/e2e's checks of the scenario's figures against the independent oracle, as a list of differences."""
    problems = []
    statements = results["statements"]
    for key, expected in outcome.expected_invoices.items():
        invoice = (statements.get(key) or {}).get("invoice") or {}
        got = (_amounts(invoice.get("lines", [])), _money(invoice.get("fixed_fee")), _money(invoice.get("total")))
        if got != (expected.lines, expected.fixed_fee, expected.total):
            problems.append(f"invoice of {key}: {got} != oracle {expected}")
    reimbursed = {key for key, statement in statements.items() if statement.get("reimbursement") is not None}
    if reimbursed != set(outcome.expected_reimbursements):
        problems.append(f"reimbursed {sorted(reimbursed)} != oracle {sorted(outcome.expected_reimbursements)}")
    for key, expected in outcome.expected_reimbursements.items():
        refund = (statements.get(key) or {}).get("reimbursement") or {}
        got = (
            _amounts(refund.get("lines", []), "refunded"),
            _money(refund.get("fixed_fee")),
            _money(refund.get("total")),
        )
        if got != (expected.lines, expected.fixed_fee, expected.total):
            problems.append(f"reimbursement of {key}: {got} != oracle {expected}")
    by_enrolment = {enrolment_id: key for key, enrolment_id in outcome.enrolment_ids.items()}
    issued = sorted(by_enrolment.get(event["data"]["enrolment_id"], "?") for event in results["issued"])
    if issued != sorted(outcome.expected_credentials):
        problems.append(f"credentials issued to {issued} != oracle {sorted(outcome.expected_credentials)}")
    return problems
