"""The bad inputs of the fuzz campaign: generated from one seed, each with the fate the contract prescribes.

Every input names its kind, the contract topic it goes to, the principal that may write that topic (so the
broker lets it through and a *service* has to deal with it) and its expected fate at every consumer of the topic:
- ``dead-lettered``: in ``<topic>.dlq`` with a ``dlq-reason``, once per consumer (its ``dlq-consumer``);
- ``kept``: a valid event about an enrolment that never arrives (a cancellation, a result): the services keep it
  until the enrolment comes (the topics are not ordered with each other), so it is applied, announces nothing;
- ``skipped``: the same CloudEvents identity (source + id) as an event already applied, with another body: the
  idempotent consumer must not apply it (dead-lettering it as a conflict is accepted too).
Expected fates come from the contract and the issue (ASCII-only patterns, bounded sizes, names without bidi or
control characters), never from what the services do today.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.examples import example_events
from contracts.limits import MAX_EVENT_BYTES
from reliability.provenance import REPOSITORY_EVENT_SOURCES, load_event_sources

from contracts import CloudEvent, new_event
from contracts import topics as contract

DEAD, KEPT, SKIPPED = "dead-lettered", "kept", "skipped"
MARKER = "fuzz-input"
"""A header on every bad input, `<seed>:<n>`; headers survive dead-lettering (reliability.dead_letter)."""

CONSUMERS = {  # who consumes what: each service's entrypoints/kafka.py
    contract.ENROLMENT_EVENTS: ("enrolment", "billing", "certification"),
    contract.ASSESSMENT_EVENTS: ("certification",),
    contract.CATALOGUE: ("billing", "certification"),
}
WRITER = {  # the principal deploy/kafka-acls.yaml lets write the topic
    contract.ENROLMENT_EVENTS: "student-administration",
    contract.ASSESSMENT_EVENTS: "exam-administration",
    contract.CATALOGUE: "enrolment",
}
SOURCE = {  # the CloudEvents source deploy/event-sources.yaml allows on it
    contract.ENROLMENT_EVENTS: "/campus/student-administration",
    contract.ASSESSMENT_EVENTS: "/campus/exam-administration",
    contract.CATALOGUE: "/services/enrolment",
}
TYPE_OF = {
    contract.ENROLMENT_EVENTS: ("EnrolmentCreated", "EnrolmentCancelled"),
    contract.ASSESSMENT_EVENTS: ("CourseCompleted",),
    contract.CATALOGUE: ("MicroCredentialPublished",),
}
ALLOW_LIST = load_event_sources(REPOSITORY_EVENT_SOURCES)
ONE_MIB = 1_048_440
"""A non-JSON value the broker takes (max.message.bytes 1,048,576 with the batch's and record's overhead) and whose
dead letter, with the dlq-* headers added, would not fit: the issue's 1,048,560-byte message, less a margin."""


@dataclass
class BadInput:
    n: int
    kind: str
    topic: str
    key: bytes | None
    value: bytes | None
    fate: str = DEAD
    secrets: tuple[str, ...] = ()
    """Personal data in the input that no dlq-reason may repeat."""
    partition: int = -1
    offset: int = -1
    refused: str | None = None
    detail: str = ""
    """Which case of its kind (the Unicode edge cases), named in the findings."""
    """The broker's error, when it refused the write (then no service ever sees the input)."""

    @property
    def principal(self) -> str:
        return WRITER[self.topic]


@dataclass
class Generator:
    seed: int
    catalogue: Mapping[str, Mapping[str, Any]]
    """The scenario's catalogue (id -> entry, as GET /microcredentials lists it): real entries to attack."""
    rng: random.Random = field(init=False)
    count: int = 0
    kept: list[BadInput] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def stream(self, total: int) -> Iterator[BadInput]:
        """`total` inputs: each kind once first (so a smoke run covers them all), then drawn by weight."""
        kinds = list(KINDS)
        weights = [KINDS[kind][0] for kind in kinds]
        for name in kinds:
            yield self.make(name)
        for _ in range(total - len(kinds)):
            yield self.make(self.rng.choices(kinds, weights)[0])

    def make(self, kind: str) -> BadInput:
        self.count += 1
        made = KINDS[kind][1](self, self.count)
        made.kind = kind
        if made.fate == KEPT:
            self.kept.append(made)
        return made

    # -- building blocks ------------------------------------------------------------------------------------

    def topic(self) -> str:
        return self.rng.choice(list(CONSUMERS))

    def enrolment_id(self, n: int) -> str:
        return f"fuzz-{self.seed}-{n}"

    def event(self, n: int, topic: str | None = None, event_type: str | None = None) -> CloudEvent[Any]:
        """A valid event of `topic` about nothing the scenario knows (an unknown enrolment or micro-credential)."""
        topic = topic or self.topic()
        name = event_type or self.rng.choice(TYPE_OF[topic])
        template = example_events()[name]
        data = template.data
        if topic == contract.CATALOGUE:
            data = data.model_copy(update={"microcredential_id": f"fuzz-mc-{self.seed}-{n}"})
        else:
            data = data.model_copy(update={"enrolment_id": self.enrolment_id(n)})
        if name == "EnrolmentCreated":
            student = data.student.model_copy(
                update={"given_name": f"Given{n}", "family_name": f"Family{n}", "email": f"fz{n}@student.example.edu"}
            )
            data = data.model_copy(update={"student": student})
        return new_event(data, source=SOURCE[topic], event_id=f"fuzz-{self.seed}-{n}")

    def of_event(self, n: int, event: CloudEvent[Any], **changes: Any) -> BadInput:
        record = event.to_kafka()
        fields: dict[str, Any] = {"key": record.key, "value": record.value, **changes}
        return BadInput(n, "", event.data.topic, **fields)

    def of_json(self, n: int, event: CloudEvent[Any], edit: Callable[[dict[str, Any]], Any]) -> BadInput:
        """`event` as JSON, changed in place by `edit`; the key stays the event's subject."""
        document = event.to_json()
        edit(document)
        value = json.dumps(document, ensure_ascii=self.rng.random() < 0.5).encode("utf-8", "surrogatepass")
        return BadInput(n, "", event.data.topic, event.subject.encode(), value, secrets=_secrets(event))


def _secrets(event: CloudEvent[Any]) -> tuple[str, ...]:
    student = getattr(event.data, "student", None)
    return () if student is None else (student.given_name, student.family_name, student.email)


# -- the kinds ----------------------------------------------------------------------------------------------


def random_bytes(g: Generator, n: int) -> BadInput:
    size = g.rng.choice([0, 1, 2, 7, 64, 512, 4096, g.rng.randrange(1, 20000)])
    value = None if g.rng.random() < 0.03 else g.rng.randbytes(size)  # None: a tombstone
    topic = g.topic()
    key = g.rng.choice([_no_key(topic), b"", g.rng.randbytes(8), g.enrolment_id(n).encode()])
    return BadInput(n, "", topic, b"" if value is None and key is None else key, value)  # a record needs one


def not_an_object(g: Generator, n: int) -> BadInput:
    value = g.rng.choice(["[]", "null", "42", '"EnrolmentCreated"', "[{}]", "true", "{}", "  ", '{"id": 1'])
    return BadInput(n, "", g.topic(), g.enrolment_id(n).encode(), value.encode())


def truncated(g: Generator, n: int) -> BadInput:
    event = g.event(n)
    value = event.to_kafka().value
    cut = g.rng.randrange(1, len(value) - 1)
    return g.of_event(n, event, value=value[:cut], secrets=_secrets(event))


def wrong_key(g: Generator, n: int) -> BadInput:
    event = g.event(n)
    made = g.of_event(n, event, secrets=_secrets(event))
    made.key = g.rng.choice([_no_key(made.topic), b"", b"someone-else", event.subject.encode() + b"\n"])
    return made


def _no_key(topic: str) -> bytes | None:
    """No key at all, except on a compacted topic, whose broker refuses such a record (and its whole batch)."""
    return b"" if topic in contract.COMPACTED else None


ENVELOPE_EDITS: list[Callable[[dict[str, Any]], Any]] = [
    lambda d: d.pop("id"),
    lambda d: d.pop("source"),
    lambda d: d.pop("type"),
    lambda d: d.update(specversion="0.3"),
    lambda d: d.update(id=""),
    lambda d: d.update(id="x" * 129),
    lambda d: d.update(source="not a uri reference"),
    lambda d: d.update(type="EnrolmentDeleted"),
    lambda d: d.update(type="TuitionInvoiced"),  # a contract type of another topic
    lambda d: d.update(datacontenttype="application/xml"),
    lambda d: d.update(time="2026-09-01T09:00:00"),  # no offset
    lambda d: d.update(time=1788253200),
    lambda d: d.update(subject="someone-else"),
    lambda d: d.update(data=None),
    lambda d: d.update(data=[d["data"]]),
    lambda d: d.update(data="{}"),
]


def bad_envelope(g: Generator, n: int) -> BadInput:
    return g.of_json(n, g.event(n), g.rng.choice(ENVELOPE_EDITS))


REQUIRED = {  # the contract's required fields of each consumed type (contracts/events.py)
    "EnrolmentCreated": ("enrolment_id", "student", "microcredential", "tuition", "enrolled_at"),
    "EnrolmentCancelled": ("enrolment_id", "cancelled_at"),
    "CourseCompleted": ("enrolment_id", "course_id", "passed", "assessed_at"),
    "MicroCredentialPublished": ("microcredential_id", "academic_year", "title", "language", "format", "courses"),
}
WRONG_VALUES: list[Any] = [None, 12, [], {}, "", "x" * 6000]
"""Wrong for every required field above (none of them is a number, none takes "" or 6,000 characters)."""


def _payload_edit(document: dict[str, Any], rng: random.Random) -> None:
    data = document["data"]
    name = rng.choice(REQUIRED[document["type"]])
    choice = rng.randrange(5)
    nested = data.get("microcredential", data)
    if choice == 0:
        del data[name]
    elif choice == 1:
        data[name] = rng.choice(WRONG_VALUES)
    elif choice == 2 and "tuition" in data:
        data["tuition"][rng.choice(["fixed_fee", "per_credit"])] = rng.choice([120, "120", "-1.00", "1.000", "1e3"])
    elif choice == 3 and "courses" in nested:
        course = nested["courses"][0]
        edits: list[Callable[[], Any]] = [
            lambda: nested["courses"].append(dict(course)),  # a course twice
            lambda: nested["courses"].clear(),
            lambda: course.update(credits=rng.choice(["0", "1.25", -3, "1000", "six"])),
            lambda: course.update(semester=rng.choice([0, 3, "first"])),
            lambda: nested.update(academic_year=rng.choice(["2026-2028", "26-27", "2026/2027"])),
        ]
        rng.choice(edits)()
    elif choice == 4 and "student" in data:
        data["student"]["email"] = rng.choice(["not-an-email", "", "a@", "@b.example"])
    else:
        instant = next(k for k in ("enrolled_at", "cancelled_at", "assessed_at", "academic_year") if k in data)
        data[instant] = rng.choice(["2026-13-01T09:00:00Z", "yesterday", "2026-09-01", "2026-09-01T09:00Z"])


def bad_payload(g: Generator, n: int) -> BadInput:
    return g.of_json(n, g.event(n), lambda d: _payload_edit(d, g.rng))


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _arabic(text: str) -> str:
    return text.translate(ARABIC_INDIC)


def _unicode_edits(data: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """The issue's cases, where the contract or the platform's rules are clear: ASCII digits in money, instants
    and years, no trailing newline, no bidi override or control character in a name, nothing unstorable."""
    edits: dict[str, Callable[[], Any]] = {}
    if "tuition" in data:
        edits["money in Arabic-Indic digits"] = lambda: data["tuition"].update(
            per_credit=_arabic(data["tuition"]["per_credit"])
        )
    year = data.get("microcredential", data)
    if "academic_year" in year:
        edits["academic year + newline"] = lambda: year.update(academic_year=year["academic_year"] + "\n")
    if "enrolment_id" in data:
        edits["enrolment id + newline"] = lambda: data.update(enrolment_id=data["enrolment_id"] + "\n")
    student = data.get("student", {})
    for name in ("given_name", "family_name") if student else ():
        edits[f"bidi override in {name}"] = lambda n=name: student.update({n: "\u202e" + student[n]})
        edits[f"control character in {name}"] = lambda n=name: student.update({n: student[n] + "\x07"})
        edits[f"NUL in {name}"] = lambda n=name: student.update({n: student[n] + "\x00"})
        edits[f"lone surrogate in {name}"] = lambda n=name: student.update({n: student[n][:2] + "\ud800"})
    for text in ("title", "course_id", "reason"):
        if isinstance(data.get(text), str):
            edits[f"NUL in {text}"] = lambda t=text: data.update({t: data[t] + "\x00"})
            edits[f"lone surrogate in {text}"] = lambda t=text: data.update({t: "\udfff" + data[t]})
    for instant in ("enrolled_at", "cancelled_at", "assessed_at"):
        if instant in data:
            edits[f"Arabic-Indic digits in {instant}"] = lambda i=instant: data.update({i: _arabic(data[i])})
    return edits


def unicode_edge(g: Generator, n: int) -> BadInput:
    label = ""

    def edit(document: dict[str, Any]) -> None:
        nonlocal label
        edits = _unicode_edits(document["data"])
        label = g.rng.choice(sorted(edits))
        edits[label]()
        label = f"{document['type']}: {label}"

    made = g.of_json(n, g.event(n), edit)
    made.detail = label
    return made


def money_in_arabic_indic_for_a_real_entry(g: Generator, n: int) -> BadInput:
    """An enrolment in a real micro-credential at its real price, written in Arabic-Indic digits."""
    entry = g.catalogue[g.rng.choice(sorted(g.catalogue))]
    event = g.event(n, contract.ENROLMENT_EVENTS, "EnrolmentCreated")
    snapshot = {key: entry[key] for key in ("id", "title", "courses")} | {"academic_year": "2026-2027"}

    def edit(document: dict[str, Any]) -> None:
        document["data"]["microcredential"] = snapshot
        tuition = {key: entry["tuition"][key] for key in ("currency", "fixed_fee", "per_credit")}
        document["data"]["tuition"] = tuition | {"per_credit": str(tuition["per_credit"]).translate(ARABIC_INDIC)}

    return g.of_json(n, event, edit)


FORGED_SOURCES = tuple(
    "/campus/intruder /services/billing /services/certification /services/enrolment /campus/exam-administration "
    "/campus/student-administration /campus/student-administration/ /Campus/Student-Administration".split()
)


def wrong_source(g: Generator, n: int) -> BadInput:
    """A valid event claiming a source the allow-list (deploy/event-sources.yaml) does not grant for its type."""
    event = g.event(n)
    accepted = ALLOW_LIST.accepted[(event.data.topic, event.type)]
    forged = dataclasses.replace(event, source=g.rng.choice([s for s in FORGED_SOURCES if s not in accepted]))
    return g.of_event(n, forged, secrets=_secrets(event))


def unknown_enrolment(g: Generator, n: int) -> BadInput:
    topic = g.rng.choice([contract.ENROLMENT_EVENTS, contract.ASSESSMENT_EVENTS])
    event_type = "EnrolmentCancelled" if topic == contract.ENROLMENT_EVENTS else "CourseCompleted"
    return g.of_event(n, g.event(n, topic, event_type), fate=KEPT)


def duplicate_id(g: Generator, n: int) -> BadInput:
    """The identity of an earlier kept input (same key, so the same partition, after it), another body."""
    if not g.kept:
        return unknown_enrolment(g, n)
    original = g.rng.choice(g.kept)
    document = json.loads(original.value or b"{}")
    data = document["data"]
    if "passed" in data:
        data["passed"] = not data["passed"]
    else:
        data["cancelled_at"], data["reason"] = "2027-05-02T09:00:00+02:00", f"changed {n}"
    value = json.dumps(document).encode()
    return BadInput(n, "", original.topic, original.key, value, fate=SKIPPED)


def future_catalogue_entry(g: Generator, n: int) -> BadInput:
    """A real micro-credential's entry dated ahead of every clock: it would win every 'latest' comparison."""
    entry_id = g.rng.choice(sorted(g.catalogue))
    event = g.event(n, contract.CATALOGUE)
    data = event.data.model_copy(update={"microcredential_id": entry_id, "academic_year": "2026-2027"})
    ahead = datetime.now(UTC) + timedelta(days=g.rng.choice([1, 30, 400]), minutes=g.rng.randrange(10, 60))
    return g.of_event(n, new_event(data, source=SOURCE[contract.CATALOGUE], event_id=f"fuzz-{g.seed}-{n}", time=ahead))


def over_the_event_limit(g: Generator, n: int) -> BadInput:
    """Valid JSON of a valid event, padded past MAX_EVENT_BYTES with a field a tolerant reader ignores."""
    pad = g.rng.choice([MAX_EVENT_BYTES + 1, 3 * MAX_EVENT_BYTES])

    def edit(document: dict[str, Any]) -> None:
        document["data"]["padding"] = "p" * pad

    return g.of_json(n, g.event(n), edit)


KINDS: dict[str, tuple[float, Callable[[Generator, int], BadInput]]] = {
    "random bytes": (22, random_bytes),
    "not a JSON object": (5, not_an_object),
    "truncated": (15, truncated),
    "missing or wrong key": (6, wrong_key),
    "invalid envelope": (14, bad_envelope),
    "invalid payload": (20, bad_payload),
    "unicode edge case": (4, unicode_edge),
    "arabic-indic money, real entry": (0.3, money_in_arabic_indic_for_a_real_entry),
    "wrong source": (6, wrong_source),
    "unknown enrolment": (4, unknown_enrolment),
    "duplicate id, other body": (2, duplicate_id),
    "future-dated catalogue entry": (1, future_catalogue_entry),
    "over MAX_EVENT_BYTES": (0.03, over_the_event_limit),
}


def one_mib_values(g: Generator) -> list[BadInput]:
    """A non-JSON value of ~1 MiB on each consumed topic: the issue's message that killed consumers."""
    made = []
    for topic in CONSUMERS:
        g.count += 1
        value = g.rng.randbytes(64) + b"\xff" * (ONE_MIB - 64)  # not UTF-8
        made.append(BadInput(g.count, "~1 MiB value", topic, b"k", value))
    return made
