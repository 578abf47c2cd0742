"""The catalogue part of billing's unit of work: the current entry per key, and enrolments waiting for theirs.

Mixed into `Store`, with the same set-oriented shape: `load_catalogue` locks and reads a batch's keys in one
query, the use cases decide in memory, and `Store.save` writes (new rows through `Store._new_rows`, then
`save_catalogue` for what replaces or updates stored rows).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from reliability.database import lock_in_order_until_commit
from sqlalchemy import Table, bindparam, delete, select, tuple_, update
from sqlmodel import Session, col

from billing import domain
from billing.store.rows import Row, Waiting, billed_enrolment_of, course_rows, courses_of, resolution_of
from billing.store.tables import CatalogueEntryRow, WaitingEnrolmentRow

CATALOGUE_ENTRY: Table = CatalogueEntryRow.__table__  # type: ignore[attr-defined]
WAITING_ENROLMENT: Table = WaitingEnrolmentRow.__table__  # type: ignore[attr-defined]


class CatalogueUnit:
    """What a unit of work knows and changes of the catalogue; `Store` provides the session and `_add`."""

    session: Session
    _new_rows: dict[Table, list[Row]]

    def _add(self, table: Table, **values: Any) -> Row:
        raise NotImplementedError  # Store's

    def _init_catalogue(self) -> None:
        self._catalogue: dict[str, tuple[domain.CatalogueEntry, datetime]] = {}
        """Catalogue key -> the current entry and its event time, stored or put in this unit."""
        self._stored_catalogue_keys: set[str] = set()
        self._replaced_catalogue_keys: set[str] = set()
        self._waiting_enrolments: Waiting[domain.WaitingEnrolment] = Waiting()
        """Enrolments waiting for their catalogue entry, under its key."""

    def load_catalogue(self, keys: Iterable[str], *, shared: bool) -> None:
        """Lock these catalogue keys (`shared` to read them, exclusive to change them), then read their entries.

        Always before `load_enrolments`: catalogue keys are locked before enrolments on every path, so a batch
        of enrolments and a batch of catalogue entries cannot wait for each other's locks (no deadlock).
        """
        wanted = sorted(set(keys))
        lock_in_order_until_commit(self.session, [catalogue_locks(wanted, shared=shared)])
        self._read_catalogue(wanted)

    def _read_catalogue(self, wanted: Sequence[str]) -> None:
        if not wanted:
            return
        entry = CATALOGUE_ENTRY
        key_columns = tuple_(entry.c.academic_year, entry.c.microcredential_id)
        statement = select(entry).where(key_columns.in_([_key_values(key) for key in wanted]))
        for row in self.session.execute(statement):
            stored = _catalogue_entry(row._mapping)
            self._catalogue[stored.key] = (stored, row.event_time)
            self._stored_catalogue_keys.add(stored.key)

    def load_waiting_enrolments(self, keys: Iterable[str]) -> list[str]:
        """Read the enrolments waiting for these (locked) catalogue keys; returns their enrolment ids."""
        wanted = sorted(set(keys))
        if not wanted:
            return []
        waiting = WAITING_ENROLMENT
        key_columns = tuple_(waiting.c.academic_year, waiting.c.microcredential_id)
        statement = (
            select(waiting)
            .where(key_columns.in_([_key_values(key) for key in wanted]), waiting.c.status == domain.WAITING)
            .order_by(waiting.c.id)
        )
        ids: list[str] = []
        for row in self.session.execute(statement):
            stored = dict(row._mapping)
            enrolment = _waiting_enrolment(stored)
            self._waiting_enrolments.keep(enrolment.catalogue_key, enrolment, stored)
            ids.append(row.enrolment_id)
        return ids

    def catalogue_entry(self, key: str) -> domain.CatalogueEntry | None:
        """The current catalogue entry of "<academic_year>/<microcredential_id>", stored or put in this unit."""
        found = self._catalogue.get(key)
        return None if found is None else found[0]

    def catalogue_entry_time(self, key: str) -> datetime | None:
        """The event time of the current entry: an entry dated earlier is older news."""
        found = self._catalogue.get(key)
        return None if found is None else found[1]

    def put_catalogue_entry(
        self, entry: domain.CatalogueEntry, *, event_source: str, event_id: str, event_time: datetime
    ) -> None:
        """Make this the current entry of its key (replacing the stored one, or one put earlier in this unit)."""
        rows = self._new_rows[CATALOGUE_ENTRY]
        rows[:] = [row for row in rows if f"{row['academic_year']}/{row['microcredential_id']}" != entry.key]
        if entry.key in self._stored_catalogue_keys:
            self._replaced_catalogue_keys.add(entry.key)
        self._add(
            CATALOGUE_ENTRY,
            academic_year=entry.academic_year,
            microcredential_id=entry.microcredential_id,
            currency=entry.terms.currency,
            per_credit=entry.terms.per_credit,
            fixed_fee=entry.terms.fixed_fee,
            courses=course_rows(entry.courses),
            event_source=event_source,
            event_id=event_id,
            event_time=event_time,
            recorded_at=datetime.now(UTC),
        )
        self._catalogue[entry.key] = (entry, event_time)

    def keep_enrolment_waiting(self, waiting: domain.WaitingEnrolment) -> None:
        """Keep an enrolment whose catalogue entry has not arrived (never dropped) until it does."""
        enrolment = waiting.enrolment
        snapshot = enrolment.snapshot
        row = self._add(
            WAITING_ENROLMENT,
            enrolment_id=enrolment.enrolment_id,
            student_id=enrolment.student_id,
            microcredential_id=enrolment.microcredential_id,
            academic_year=snapshot.academic_year,
            currency=snapshot.terms.currency,
            per_credit=snapshot.terms.per_credit,
            fixed_fee=snapshot.terms.fixed_fee,
            enrolled_at=snapshot.enrolled_at,
            courses=course_rows(snapshot.courses),
            event_source=enrolment.created_event_source,
            event_id=enrolment.created_event_id,
            event_time=waiting.event_time,
            received_at=datetime.now(UTC),
            status=domain.WAITING,
            status_reason=None,
            resolved_at=None,
        )
        self._waiting_enrolments.keep(waiting.catalogue_key, waiting, row)

    def take_waiting_enrolments(self, key: str) -> list[domain.WaitingEnrolment]:
        """The enrolments waiting for this catalogue entry, in arrival order; each must then be resolved."""
        return self._waiting_enrolments.take(key)

    def resolve_enrolment(self, waiting: domain.WaitingEnrolment, status: str, reason: str | None = None) -> None:
        """Record what became of a waiting enrolment when its catalogue entry arrived."""
        self._waiting_enrolments.resolve(waiting, status, _fits(reason))

    def save_catalogue(self) -> None:
        """Before the INSERTs: delete the stored entries this unit replaces (their new rows are inserted)."""
        if self._replaced_catalogue_keys:
            entry = CATALOGUE_ENTRY
            key_columns = tuple_(entry.c.academic_year, entry.c.microcredential_id)
            replaced = [_key_values(key) for key in sorted(self._replaced_catalogue_keys)]
            self.session.execute(delete(entry).where(key_columns.in_(replaced)))
            self._replaced_catalogue_keys.clear()

    def save_resolved_enrolments(self) -> None:
        """After the INSERTs: update the waiting enrolments stored by earlier units that this unit resolved."""
        if self._waiting_enrolments.resolved:
            resolutions = [resolution_of(row) for row in self._waiting_enrolments.resolved]
            self.session.execute(_RESOLVE_ENROLMENT, resolutions)

    # --- queries of operators and tests ---------------------------------------------------------------------

    def waiting_enrolments(self, statuses: Sequence[str] = (domain.WAITING,)) -> list[WaitingEnrolmentRow]:
        waiting = WaitingEnrolmentRow
        statement = select(waiting).where(col(waiting.status).in_(list(statuses))).order_by(col(waiting.id))
        return list(self.session.scalars(statement))

    def catalogue_entries(self) -> list[CatalogueEntryRow]:
        entry = CatalogueEntryRow
        return list(
            self.session.scalars(select(entry).order_by(col(entry.academic_year), col(entry.microcredential_id)))
        )


_RESOLVE_ENROLMENT = (
    update(WAITING_ENROLMENT)
    .where(WAITING_ENROLMENT.c.id == bindparam("row_id"))
    .values(
        status=bindparam("new_status"),
        status_reason=bindparam("new_status_reason"),
        resolved_at=bindparam("new_resolved_at"),
    )
)


_REASON_LENGTH = 1000


def catalogue_locks(keys: Iterable[str], *, shared: bool) -> tuple[list[str], bool]:
    """The advisory locks of these catalogue keys, for `lock_in_order_until_commit`: on every path before any
    enrolment's."""
    return [f"billing-catalogue:{key}" for key in keys], shared


def _fits(reason: str | None) -> str | None:
    """A status reason within its column (a long list of disagreeing courses is cut, marked with "...")."""
    if reason is None or len(reason) <= _REASON_LENGTH:
        return reason
    return reason[: _REASON_LENGTH - 3] + "..."


def _catalogue_entry(row: Any) -> domain.CatalogueEntry:
    return domain.CatalogueEntry(
        academic_year=row["academic_year"],
        microcredential_id=row["microcredential_id"],
        courses=courses_of(row["courses"]),
        terms=domain.TuitionTerms(currency=row["currency"], fixed_fee=row["fixed_fee"], per_credit=row["per_credit"]),
    )


def _waiting_enrolment(row: Row) -> domain.WaitingEnrolment:
    """The enrolment as its EnrolmentCreated claimed it (the same fields an invoiced enrolment's row has)."""
    claimed = billed_enrolment_of(
        {**row, "created_event_source": row["event_source"], "created_event_id": row["event_id"]}
    )
    return domain.WaitingEnrolment(enrolment=claimed, event_time=row["event_time"])


def _key_values(key: str) -> tuple[str, str]:
    academic_year, microcredential_id = key.split("/", 1)
    return academic_year, microcredential_id
