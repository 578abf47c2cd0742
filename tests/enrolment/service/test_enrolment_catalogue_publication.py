"""publish_catalogue: one MicroCredentialPublished per entry, and only changed entries after a restart."""

from __future__ import annotations

import shutil
from pathlib import Path

from enrolment.adapters.catalogue import CATALOGUE_DIRECTORY, load_catalogue
from enrolment.domain import Catalogue
from enrolment.usecases import SOURCE, publish_catalogue

from contracts import catalogue_key
from tests.enrolment.enrolment_support import outbox_events


def test_every_entry_is_queued_once_with_its_key(engine, database, catalogue: Catalogue):
    assert publish_catalogue(database, catalogue) == len(catalogue)
    events = outbox_events(engine)
    assert [event.subject for event in events] == [catalogue_key(e.academic_year, e.id) for e in catalogue]
    assert {event.type for event in events} == {"MicroCredentialPublished"}
    assert {event.source for event in events} == {SOURCE}
    heritage = next(event for event in events if event.subject == "2027-2028/mc-heritage-adaptive-reuse")
    entry = catalogue.get("2027-2028", "mc-heritage-adaptive-reuse")
    assert heritage.data.title == entry.title and heritage.data.eqf_level == entry.eqf_level
    assert [c.id for c in heritage.data.courses] == [c.id for c in entry.courses]


def test_a_restart_with_the_same_catalogue_queues_nothing(engine, database, catalogue: Catalogue):
    publish_catalogue(database, catalogue)
    assert publish_catalogue(database, catalogue) == 0
    assert publish_catalogue(database, load_catalogue()) == 0
    assert len(outbox_events(engine)) == len(catalogue)


def test_only_the_changed_entry_is_queued_again(engine, database, catalogue: Catalogue, tmp_path: Path):
    publish_catalogue(database, catalogue)
    edited = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIRECTORY, edited, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = edited / "2026-2027.yaml"
    path.write_text(
        path.read_text().replace("title: Applied Data Analysis with Python", "title: Data Analysis in Python")
    )
    assert publish_catalogue(database, load_catalogue(edited)) == 1
    last = outbox_events(engine)[-1]
    assert last.subject == "2026-2027/mc-data-analysis-python" and last.data.title == "Data Analysis in Python"
    assert publish_catalogue(database, load_catalogue(edited)) == 0
