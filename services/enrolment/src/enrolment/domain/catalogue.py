"""The micro-credential catalogue as the domain sees it: validated, immutable, one set of entries per year.

The loader in ``enrolment.adapters.catalogue`` turns YAML files into these objects; everything here may assume the
values are already valid (credits with at most one decimal, money with two decimals, semesters 1 or 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from enrolment.domain.errors import AcademicYearNotInCatalogue, UnknownMicroCredential

Format = Literal["evening", "online", "hybrid", "distance", "on-site"]
FORMATS: tuple[Format, ...] = ("evening", "online", "hybrid", "distance", "on-site")
Semester = Literal[1, 2]


@dataclass(frozen=True)
class CatalogueCourse:
    id: str
    title: str
    credits: Decimal
    semester: Semester


@dataclass(frozen=True)
class CatalogueTuition:
    """Tuition terms: the fixed fee is charged once, the per-credit fee for every credit taken."""

    currency: str
    fixed_fee: Decimal
    per_credit: Decimal


@dataclass(frozen=True)
class CatalogueAwardingBody:
    name: str
    country: str
    url: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class MicroCredential:
    """One catalogue entry of one academic year, with the descriptive metadata its credential will need."""

    id: str
    academic_year: str
    title: str
    language: str
    format: Format
    courses: tuple[CatalogueCourse, ...]
    tuition: CatalogueTuition
    description: str = ""
    learning_outcomes: tuple[str, ...] = ()
    eqf_level: int | None = None
    cycle: str | None = None
    assessment_type: str | None = None
    participation_form: str | None = None
    quality_assurance: str | None = None
    awarding_body: CatalogueAwardingBody | None = None
    prerequisites: str | None = None
    stackability: str | None = None

    @property
    def total_credits(self) -> Decimal:
        return sum((course.credits for course in self.courses), Decimal(0))

    @property
    def semesters(self) -> frozenset[int]:
        return frozenset(course.semester for course in self.courses)

    def credits_in_semester(self, semester: int) -> Decimal:
        return sum((course.credits for course in self.courses if course.semester == semester), Decimal(0))

    def missing_credential_metadata(self) -> tuple[str, ...]:
        """Names of the fields a credential cannot do without (EU Recommendation 2022, Annex I) that are empty.

        The catalogue accepts such entries, because students may enrol before the description is complete;
        certification decides what to do with them (it holds the credential rather than issue it half-empty).
        """
        missing: list[str] = []
        if not self.learning_outcomes:
            missing.append("learning_outcomes")
        for name in ("eqf_level", "assessment_type", "participation_form", "quality_assurance", "awarding_body"):
            if getattr(self, name) is None:
                missing.append(name)
        return tuple(missing)


@dataclass(frozen=True)
class Catalogue:
    """All loaded academic years; an academic year is offered exactly when it has a catalogue file."""

    _by_year: Mapping[str, Mapping[str, MicroCredential]] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: Iterable[MicroCredential]) -> Catalogue:
        """Build a catalogue from entries; the loader has already rejected duplicate ids within a year."""
        by_year: dict[str, dict[str, MicroCredential]] = {}
        for entry in entries:
            year = by_year.setdefault(entry.academic_year, {})
            if entry.id in year:
                raise ValueError(f"micro-credential {entry.id!r} appears twice in {entry.academic_year}")
            year[entry.id] = entry
        return cls(by_year)

    def years(self) -> tuple[str, ...]:
        """Academic years with a catalogue, oldest first ("2026-2027" sorts before "2027-2028")."""
        return tuple(sorted(self._by_year))

    def entries(self, academic_year: str) -> tuple[MicroCredential, ...]:
        """The entries of one year in file order; raises AcademicYearNotInCatalogue for a year without a file."""
        return tuple(self._year(academic_year).values())

    def get(self, academic_year: str, microcredential_id: str) -> MicroCredential:
        entries = self._year(academic_year)
        try:
            return entries[microcredential_id]
        except KeyError:
            raise UnknownMicroCredential(academic_year, microcredential_id) from None

    def __iter__(self) -> Iterator[MicroCredential]:
        """Every entry of every year, years oldest first: what the service publishes on the catalogue topic."""
        for year in self.years():
            yield from self._by_year[year].values()

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._by_year.values())

    def _year(self, academic_year: str) -> Mapping[str, MicroCredential]:
        try:
            return self._by_year[academic_year]
        except KeyError:
            raise AcademicYearNotInCatalogue(academic_year, self.years()) from None
