"""Cancellation policies as data: the model the YAML loader builds and the engine reads.

A policy is an ordered list of windows. Every window but the last ends at a local date (and time) that is
relative to the enrolment's academic year; the last window is open-ended. Window ``i`` therefore covers
``[until of window i-1, until of window i)`` and every instant falls in exactly one window. A window may
carry special cases (checked first, inside that window only) and the policy may carry special cases that
apply whatever the window (checked before any window).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billing.domain.tuition import SEMESTERS, AcademicYear

CalendarYear = Literal["first", "second"]
PolicyVersion = int | str

WEEKDAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Weekday arithmetic repeats every 400 Gregorian years, so checking window order over one full cycle
# proves it for every academic year.
_GREGORIAN_CYCLE = range(2000, 2400)


class PolicyError(ValueError):
    """A policy is invalid; ``field`` is a path such as ``windows[1].until.date``."""

    def __init__(self, field: str, message: str, source: str | None = None) -> None:
        self.field = field
        self.message = message
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}{field}: {message}")

    def in_source(self, source: str) -> PolicyError:
        return PolicyError(self.field, self.message, source)


def is_slug(value: object) -> bool:
    return isinstance(value, str) and _SLUG.fullmatch(value) is not None


@dataclass(frozen=True)
class LocalDateSpec:
    """A local date (and time of day) in a calendar year of the academic year.

    ``year="first"`` is the calendar year the academic year starts in (2026 for 2026-2027), ``"second"``
    the next one. With ``weekday`` set, the date is the first such weekday on or after month-day (e.g.
    the last Monday of September is the first Monday on or after 24 September).
    """

    month: int
    day: int
    year: CalendarYear
    time: time = time(0, 0)
    weekday: int | None = None

    def __post_init__(self) -> None:
        if self.year not in ("first", "second"):
            raise ValueError(f"year must be 'first' or 'second', got {self.year!r}")
        try:
            # 2001 is not a leap year: a date must exist in every year, so 29 February is refused.
            date(2001, self.month, self.day)
        except (TypeError, ValueError) as error:
            raise ValueError(f"no such date in every year: month {self.month!r}, day {self.day!r}") from error
        if not isinstance(self.time, time) or self.time.tzinfo is not None:
            raise ValueError("time must be a local time of day without a zone")
        if self.weekday is not None and (isinstance(self.weekday, bool) or self.weekday not in range(7)):
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {self.weekday!r}")

    def local_date(self, academic_year: AcademicYear) -> date:
        calendar_year = academic_year.first_year if self.year == "first" else academic_year.second_year
        day = date(calendar_year, self.month, self.day)
        if self.weekday is not None:
            day += timedelta(days=(self.weekday - day.weekday()) % 7)
        return day

    def local_datetime(self, academic_year: AcademicYear) -> datetime:
        """Wall-clock time, without a zone."""
        return datetime.combine(self.local_date(academic_year), self.time)

    def instant(self, academic_year: AcademicYear, zone: ZoneInfo) -> datetime:
        # fold=0: a wall-clock time that occurs twice (autumn) means its first occurrence, and one that
        # does not exist (spring) is read with the offset in force before the change.
        return self.local_datetime(academic_year).replace(tzinfo=zone)

    def describe(self) -> str:
        day = date(2001, self.month, self.day).strftime("%d %B").lstrip("0")
        text = f"{day} of the {self.year} calendar year"
        if self.weekday is not None:
            text = f"the first {WEEKDAYS[self.weekday].capitalize()} on or after {text}"
        if self.time != time(0, 0):
            text += f", {self.time.strftime('%H:%M')}"
        return text


@dataclass(frozen=True)
class RefundSpec:
    """What a rule refunds: every semester or the listed ones (their invoiced amounts), and the fixed fee or not."""

    all_semesters: bool
    semesters: frozenset[int]
    fixed_fee: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "semesters", frozenset(self.semesters))
        if self.all_semesters and self.semesters:
            raise ValueError("list semesters or refund all of them, not both")
        unknown = sorted(s for s in self.semesters if isinstance(s, bool) or s not in SEMESTERS)
        if unknown:
            raise ValueError(f"semesters must be among {list(SEMESTERS)}, got {unknown}")
        if not isinstance(self.fixed_fee, bool):
            raise ValueError("fixed_fee must be true or false")

    def covers(self, semester: int) -> bool:
        return self.all_semesters or semester in self.semesters


@dataclass(frozen=True)
class Conditions:
    """Facts about the enrolment and the cancellation; a case applies when every given condition holds."""

    only_semesters: frozenset[int] | None = None
    within_days_of_enrolment: int | None = None
    before_academic_year_start: bool = False

    def __post_init__(self) -> None:
        if self.only_semesters is not None:
            object.__setattr__(self, "only_semesters", frozenset(self.only_semesters))
            if not self.only_semesters or any(isinstance(s, bool) or s not in SEMESTERS for s in self.only_semesters):
                raise ValueError(f"only_semesters must be a non-empty subset of {list(SEMESTERS)}")
        if self.within_days_of_enrolment is not None and (
            isinstance(self.within_days_of_enrolment, bool)
            or not isinstance(self.within_days_of_enrolment, int)
            or self.within_days_of_enrolment < 0
        ):
            raise ValueError("within_days_of_enrolment must be a whole number of days >= 0")
        if not isinstance(self.before_academic_year_start, bool):
            raise ValueError("before_academic_year_start must be true")
        if (
            self.only_semesters is None
            and self.within_days_of_enrolment is None
            and not self.before_academic_year_start
        ):
            raise ValueError("a case needs at least one condition")


@dataclass(frozen=True)
class Case:
    rule: str
    when: Conditions
    refund: RefundSpec


@dataclass(frozen=True)
class Window:
    rule: str
    until: LocalDateSpec | None
    refund: RefundSpec
    special_cases: tuple[Case, ...] = ()


@dataclass(frozen=True)
class CancellationPolicy:
    id: str
    version: PolicyVersion
    institution: str
    description: str
    source_url: str
    timezone: str
    windows: tuple[Window, ...]
    special_cases: tuple[Case, ...] = ()
    academic_year_start: LocalDateSpec | None = None
    source_text: str | None = None
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(self.windows))
        object.__setattr__(self, "special_cases", tuple(self.special_cases))
        if not is_slug(self.id):
            raise PolicyError("id", f"must be lower-case words joined by '-', got {self.id!r}")
        check_version(self.version)
        for name in ("institution", "description", "source_url"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise PolicyError(name, "must be a non-empty string")
        if not self.source_url.startswith(("https://", "http://")):
            raise PolicyError("source.url", f"must be an http(s) URL, got {self.source_url!r}")
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
            raise PolicyError("timezone", f"unknown IANA time zone {self.timezone!r}") from error
        object.__setattr__(self, "zone", zone)
        self._check_windows()
        self._check_rules()

    def _check_windows(self) -> None:
        if not self.windows:
            raise PolicyError("windows", "at least one window is required")
        last = len(self.windows) - 1
        for index, window in enumerate(self.windows):
            if index < last and window.until is None:
                raise PolicyError(f"windows[{index}].until", "required on every window but the last")
            if index == last and window.until is not None:
                raise PolicyError(f"windows[{index}].until", "the last window is open-ended and must not have 'until'")
        bounds = [window.until for window in self.windows if window.until is not None]
        for index in range(1, len(bounds)):
            earlier, later = bounds[index - 1], bounds[index]
            for first_year in _GREGORIAN_CYCLE:
                year = AcademicYear(first_year)
                if later.local_datetime(year) <= earlier.local_datetime(year):
                    raise PolicyError(
                        f"windows[{index}].until",
                        f"must be later than windows[{index - 1}].until (not so in academic year {year})",
                    )

    def _check_rules(self) -> None:
        seen: dict[str, str] = {}

        def claim(rule: str, path: str) -> None:
            if not is_slug(rule):
                raise PolicyError(path, f"rule ids are lower-case words joined by '-', got {rule!r}")
            if rule in seen:
                raise PolicyError(path, f"rule id {rule!r} is already used at {seen[rule]}")
            seen[rule] = path

        cases: list[tuple[str, Case]] = []
        for index, case in enumerate(self.special_cases):
            cases.append((f"special_cases[{index}]", case))
        for index, window in enumerate(self.windows):
            claim(window.rule, f"windows[{index}].rule")
            for case_index, case in enumerate(window.special_cases):
                cases.append((f"windows[{index}].special_cases[{case_index}]", case))
        for path, case in cases:
            claim(case.rule, f"{path}.rule")
            if case.when.before_academic_year_start and self.academic_year_start is None:
                raise PolicyError(
                    f"{path}.when.before_academic_year_start",
                    "the policy must define academic_year_start to use this condition",
                )


def check_version(version: object) -> PolicyVersion:
    """A version is a positive integer or an ISO date string (``2026-09-01``)."""
    if isinstance(version, bool):
        raise PolicyError("version", "must be a positive integer or an ISO date, got a boolean")
    if isinstance(version, int):
        if version < 1:
            raise PolicyError("version", f"must be a positive integer or an ISO date, got {version}")
        return version
    if isinstance(version, str) and _ISO_DATE.fullmatch(version):
        try:
            date.fromisoformat(version)
        except ValueError as error:
            raise PolicyError("version", f"not a real date: {version!r}") from error
        return version
    raise PolicyError("version", f"must be a positive integer or an ISO date, got {version!r}")


def policy_reference(policy: CancellationPolicy) -> str:
    """The `policy` field of ReimbursementCalculated: id and version, e.g. "uantwerp-en@1"."""
    return f"{policy.id}@{policy.version}"


def parse_policy_reference(reference: str) -> tuple[str, PolicyVersion | None]:
    """`uantwerp-en` -> ("uantwerp-en", None); `uantwerp-en@1` -> (.., 1); `ugent@2026-09-01` -> (.., "2026-09-01")."""
    policy_id, separator, version_text = reference.strip().partition("@")
    if not separator:
        return policy_id, None
    if not version_text:
        raise ValueError(f"CANCELLATION_POLICY {reference!r}: nothing after '@'")
    return policy_id, int(version_text) if version_text.isdigit() else version_text
