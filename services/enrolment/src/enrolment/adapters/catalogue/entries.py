"""Reading one micro-credential entry of a catalogue file, recording every issue instead of stopping at the first."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar, cast

from enrolment.adapters.catalogue.issues import CatalogueIssue
from enrolment.adapters.catalogue.values import (
    AWARDING_BODY_FIELDS,
    COURSE_FIELDS,
    ENTRY_FIELDS,
    MAX_COURSE_TITLE_LENGTH,
    MAX_COURSES_PER_ENTRY,
    MAX_LENGTH,
    MAX_OUTCOME_LENGTH,
    MAX_OUTCOMES,
    ONE_LINE_TEXTS,
    TUITION_FIELDS,
    parse_country,
    parse_credits,
    parse_currency,
    parse_eqf_level,
    parse_format,
    parse_identifier,
    parse_language,
    parse_money,
    parse_semester,
    parse_url,
    text_problem,
    unknown_field,
)
from enrolment.domain.catalogue import (
    CatalogueAwardingBody,
    CatalogueCourse,
    CatalogueTuition,
    Format,
    MicroCredential,
)

T = TypeVar("T")


class EntryReader:
    """Reads one micro-credential mapping, recording issues instead of stopping at the first one."""

    def __init__(self, file: str, index: int, raw: Any, issues: list[CatalogueIssue]) -> None:
        self.file = file
        self.raw = raw
        self.issues = issues
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        self.raw_id: str | None = raw_id if isinstance(raw_id, str) and raw_id else None
        self.label = f"microcredentials[{index}]" + (f" {self.raw_id!r}" if self.raw_id is not None else "")
        self.ok = True

    def issue(self, field: str | None, problem: str) -> None:
        self.ok = False
        self.issues.append(CatalogueIssue(self.file, self.label, field, problem))

    def read(self, academic_year: str, low: Decimal, high: Decimal) -> MicroCredential | None:
        raw = self.raw
        if not isinstance(raw, dict):
            self.issue(None, "must be a mapping with the fields of a micro-credential")
            return None
        self._unknown_fields(raw, ENTRY_FIELDS, "")
        entry_id = self._identifier(raw, "id", "id")
        title = self._text(raw, "title", "title", required=True)
        description = self._text(raw, "description", "description") or ""
        language = self._required(raw, "language", "language", parse_language)
        format_ = self._required(raw, "format", "format", parse_format)
        courses = self._courses(raw.get("courses"))
        tuition = self._tuition(raw.get("tuition"))
        outcomes = self._outcomes(raw.get("learning_outcomes"))
        eqf_level = self._optional(raw, "eqf_level", "eqf_level", parse_eqf_level)
        awarding_body = self._awarding_body(raw.get("awarding_body"))
        texts = {name: self._text(raw, name, name) for name in MAX_LENGTH if name not in ("title", "description")}

        if courses is not None:
            total = sum((course.credits for course in courses), Decimal(0))
            shown = format(total.normalize(), "f")  # "9", not "9.0" or "9E+0"
            if total < low:
                self.issue("courses", f"total credits {shown} is below the minimum of {low} (bounds {low}-{high})")
            elif total > high:
                self.issue("courses", f"total credits {shown} is above the maximum of {high} (bounds {low}-{high})")

        if not self.ok:
            return None
        # Every value was checked above; the casts only tell the type checker what `ok` already guarantees.
        return MicroCredential(
            id=cast(str, entry_id),
            academic_year=academic_year,
            title=cast(str, title),
            description=description,
            language=cast(str, language),
            format=cast(Format, format_),
            courses=cast(tuple[CatalogueCourse, ...], courses),
            tuition=cast(CatalogueTuition, tuition),
            learning_outcomes=outcomes,
            eqf_level=eqf_level,
            cycle=texts["cycle"],
            assessment_type=texts["assessment_type"],
            participation_form=texts["participation_form"],
            quality_assurance=texts["quality_assurance"],
            awarding_body=awarding_body,
            prerequisites=texts["prerequisites"],
            stackability=texts["stackability"],
        )

    # --- parts ---

    def _courses(self, raw: Any) -> tuple[CatalogueCourse, ...] | None:
        if raw is None:
            self.issue("courses", "is required (a list of courses with id, title, credits, semester)")
            return None
        if not isinstance(raw, list) or not raw:
            self.issue("courses", "must be a non-empty list of courses")
            return None
        if len(raw) > MAX_COURSES_PER_ENTRY:
            self.issue("courses", f"must be at most {MAX_COURSES_PER_ENTRY} courses, got {len(raw)}")
            return None
        courses: list[CatalogueCourse] = []
        first_index_of: dict[str, int] = {}
        failed = False
        for index, item in enumerate(raw):
            path = f"courses[{index}]"
            if not isinstance(item, dict):
                self.issue(path, "must be a mapping with id, title, credits and semester")
                failed = True
                continue
            self._unknown_fields(item, COURSE_FIELDS, path + ".")
            course_id = self._identifier(item, "id", f"{path}.id")
            title = self._text(item, "title", f"{path}.title", required=True, max_length=MAX_COURSE_TITLE_LENGTH)
            credits = self._required(item, "credits", f"{path}.credits", parse_credits)
            semester = self._required(item, "semester", f"{path}.semester", parse_semester)
            if course_id is not None:
                if course_id in first_index_of:
                    self.issue(
                        f"{path}.id",
                        f"duplicate course id {course_id!r} (first at courses[{first_index_of[course_id]}])",
                    )
                    failed = True
                    continue
                first_index_of[course_id] = index
            if course_id is None or title is None or credits is None or semester is None:
                failed = True
                continue
            courses.append(CatalogueCourse(id=course_id, title=title, credits=credits, semester=semester))
        return None if failed else tuple(courses)

    def _tuition(self, raw: Any) -> CatalogueTuition | None:
        if raw is None:
            self.issue("tuition", "is required (currency, fixed_fee, per_credit)")
            return None
        if not isinstance(raw, dict):
            self.issue("tuition", "must be a mapping with currency, fixed_fee and per_credit")
            return None
        self._unknown_fields(raw, TUITION_FIELDS, "tuition.")
        currency = self._required(raw, "currency", "tuition.currency", parse_currency)
        fixed_fee = self._required(raw, "fixed_fee", "tuition.fixed_fee", parse_money)
        per_credit = self._required(raw, "per_credit", "tuition.per_credit", parse_money)
        if currency is None or fixed_fee is None or per_credit is None:
            return None
        return CatalogueTuition(currency=currency, fixed_fee=fixed_fee, per_credit=per_credit)

    def _awarding_body(self, raw: Any) -> CatalogueAwardingBody | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.issue("awarding_body", "must be a mapping with name, url, country and region")
            return None
        self._unknown_fields(raw, AWARDING_BODY_FIELDS, "awarding_body.")
        name = self._text(raw, "name", "awarding_body.name", required=True, max_length=300)
        url = self._optional(raw, "url", "awarding_body.url", parse_url)
        country = self._required(raw, "country", "awarding_body.country", parse_country)
        region = self._text(raw, "region", "awarding_body.region", max_length=200)
        if name is None or country is None:
            return None
        return CatalogueAwardingBody(name=name, url=url, country=country, region=region)

    def _outcomes(self, raw: Any) -> tuple[str, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.issue("learning_outcomes", "must be a list of texts")
            return ()
        if len(raw) > MAX_OUTCOMES:
            self.issue("learning_outcomes", f"must be at most {MAX_OUTCOMES} outcomes, got {len(raw)}")
            return ()
        outcomes: list[str] = []
        for index, item in enumerate(raw):
            problem = text_problem(item, MAX_OUTCOME_LENGTH)
            if problem is not None:
                self.issue(f"learning_outcomes[{index}]", problem)
            else:
                outcomes.append(item.strip())
        return tuple(outcomes)

    # --- single values ---

    def _identifier(self, raw: dict[Any, Any], key: str, path: str) -> str | None:
        return self._required(raw, key, path, parse_identifier)

    def _text(
        self, raw: dict[Any, Any], key: str, path: str, *, required: bool = False, max_length: int | None = None
    ) -> str | None:
        limit = max_length if max_length is not None else MAX_LENGTH[key]

        def parse(value: Any) -> str:
            problem = text_problem(value, limit, one_line=key in ONE_LINE_TEXTS)
            if problem is not None:
                raise ValueError(problem)
            return cast(str, value).strip()

        return self._required(raw, key, path, parse) if required else self._optional(raw, key, path, parse)

    def _required(self, raw: dict[Any, Any], key: str, path: str, parse: Callable[[Any], T]) -> T | None:
        if raw.get(key) is None:
            self.issue(path, "is required")
            return None
        return self._optional(raw, key, path, parse)

    def _optional(self, raw: dict[Any, Any], key: str, path: str, parse: Callable[[Any], T]) -> T | None:
        value = raw.get(key)
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as error:
            self.issue(path, str(error))
            return None

    def _unknown_fields(self, raw: dict[Any, Any], allowed: tuple[str, ...], prefix: str) -> None:
        # A misspelt optional field ("learning_outcome") would otherwise vanish silently from the credential.
        for key in raw:
            if key not in allowed:
                self.issue(f"{prefix}{key}", unknown_field(key, allowed))
