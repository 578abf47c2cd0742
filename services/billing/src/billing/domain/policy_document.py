"""Turns a cancellation-policy document (the mapping a policy file holds) into a :class:`CancellationPolicy`.

Pure: the file reading and YAML parsing are in billing.adapters.policy_files. Every error is a
:class:`PolicyError` naming the field path (``windows[1].until.date``), so a broken policy is refused at load
time instead of mis-refunding later.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, time
from typing import TypeVar

from billing.domain.policy import (
    WEEKDAYS,
    CalendarYear,
    CancellationPolicy,
    Case,
    Conditions,
    LocalDateSpec,
    PolicyError,
    PolicyVersion,
    RefundSpec,
    Window,
    check_version,
)

_MONTH_DAY = re.compile(r"(\d{2})-(\d{2})")
_HOUR_MINUTE = re.compile(r"(\d{2}):(\d{2})")

_T = TypeVar("_T")


def parse_policy_document(document: object) -> CancellationPolicy:
    top = _mapping(
        document,
        "",
        required=("id", "version", "institution", "description", "source", "timezone", "windows"),
        optional=("academic_year_start", "special_cases"),
    )
    source = _mapping(top["source"], "source", required=("url",), optional=("text",))
    academic_year_start = None
    if "academic_year_start" in top:
        academic_year_start = _date_spec(top["academic_year_start"], "academic_year_start")
    special_cases = tuple(
        _case(item, path) for path, item in _items(top.get("special_cases", []), "special_cases", allow_empty=True)
    )
    windows = tuple(_window(item, path) for path, item in _items(top["windows"], "windows", allow_empty=False))
    return CancellationPolicy(
        id=_str(top["id"], "id"),
        version=_version(top["version"]),
        institution=_str(top["institution"], "institution"),
        description=_str(top["description"], "description").strip(),
        source_url=_str(source["url"], "source.url"),
        source_text=_str(source["text"], "source.text").strip() if "text" in source else None,
        timezone=_str(top["timezone"], "timezone"),
        windows=windows,
        special_cases=special_cases,
        academic_year_start=academic_year_start,
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _mapping(
    value: object, path: str, *, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, object]:
    if not isinstance(value, dict):
        raise PolicyError(path or "(document)", f"expected a mapping, got {_kind(value)}")
    allowed = set(required) | set(optional)
    for key in value:
        if not isinstance(key, str) or key not in allowed:
            raise PolicyError(_join(path, str(key)), f"unknown field; allowed here: {', '.join(sorted(allowed))}")
    for key in required:
        if key not in value:
            raise PolicyError(_join(path, key), "required field is missing")
    return {str(key): item for key, item in value.items()}


def _items(value: object, path: str, *, allow_empty: bool) -> list[tuple[str, object]]:
    if not isinstance(value, list):
        raise PolicyError(path, f"expected a list, got {_kind(value)}")
    if not value and not allow_empty:
        raise PolicyError(path, "must not be empty")
    return [(f"{path}[{index}]", item) for index, item in enumerate(value)]


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _str(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(path, f"expected a non-empty string, got {_kind(value)}")
    return value


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(path, f"expected true or false, got {value!r}")
    return value


def _version(value: object) -> PolicyVersion:
    # YAML turns an unquoted 2026-09-01 into a date; the version is kept as its ISO text.
    if isinstance(value, date):
        value = value.isoformat()
    return check_version(value)


def _build(path: str, factory: Callable[[], _T]) -> _T:
    try:
        return factory()
    except PolicyError:
        raise
    except (TypeError, ValueError) as error:
        raise PolicyError(path, str(error)) from error


def _date_spec(value: object, path: str) -> LocalDateSpec:
    spec = _mapping(value, path, required=("date", "year"), optional=("time", "weekday"))
    text = _str(spec["date"], f"{path}.date")
    match = _MONTH_DAY.fullmatch(text)
    if match is None:
        raise PolicyError(f"{path}.date", f"expected 'MM-DD' such as '12-01', got {text!r}")
    year = spec["year"]
    if year not in ("first", "second"):
        raise PolicyError(
            f"{path}.year",
            f"expected 'first' (the calendar year the academic year starts in) or 'second', got {year!r}",
        )
    calendar_year: CalendarYear = "first" if year == "first" else "second"
    time_of_day = time(0, 0)
    if "time" in spec:
        time_of_day = _time(spec["time"], f"{path}.time")
    weekday = None
    if "weekday" in spec:
        name = spec["weekday"]
        if name not in WEEKDAYS:
            raise PolicyError(f"{path}.weekday", f"expected one of {', '.join(WEEKDAYS)}, got {name!r}")
        weekday = WEEKDAYS.index(str(name))
    month, day = int(match.group(1)), int(match.group(2))
    return _build(
        f"{path}.date",
        lambda: LocalDateSpec(month=month, day=day, year=calendar_year, time=time_of_day, weekday=weekday),
    )


def _time(value: object, path: str) -> time:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 23:59 as the base-60 number 1439.
        raise PolicyError(path, "write the time as a quoted string such as '23:59'")
    text = _str(value, path)
    match = _HOUR_MINUTE.fullmatch(text)
    if match is None:
        raise PolicyError(path, f"expected 'HH:MM', got {text!r}")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise PolicyError(path, f"no such time of day: {text!r}")
    return time(hour, minute)


def _semester_list(value: object, path: str) -> frozenset[int]:
    semesters: set[int] = set()
    for item_path, item in _items(value, path, allow_empty=True):
        if isinstance(item, bool) or not isinstance(item, int):
            raise PolicyError(item_path, f"expected a semester number, got {item!r}")
        semesters.add(item)
    return frozenset(semesters)


def _refund(value: object, path: str) -> RefundSpec:
    spec = _mapping(value, path, required=("semesters", "fixed_fee"))
    semesters = spec["semesters"]
    fixed_fee = _bool(spec["fixed_fee"], f"{path}.fixed_fee")
    if semesters == "all":
        return RefundSpec(all_semesters=True, semesters=frozenset(), fixed_fee=fixed_fee)
    if not isinstance(semesters, list):
        raise PolicyError(f"{path}.semesters", f"expected 'all' or a list such as [2], got {semesters!r}")
    listed = _semester_list(semesters, f"{path}.semesters")
    return _build(f"{path}.semesters", lambda: RefundSpec(all_semesters=False, semesters=listed, fixed_fee=fixed_fee))


def _conditions(value: object, path: str) -> Conditions:
    spec = _mapping(
        value, path, required=(), optional=("only_semesters", "within_days_of_enrolment", "before_academic_year_start")
    )
    if not spec:
        raise PolicyError(path, "a case needs at least one condition")
    only = None
    if "only_semesters" in spec:
        only = _semester_list(spec["only_semesters"], f"{path}.only_semesters")
    within = None
    if "within_days_of_enrolment" in spec:
        days = spec["within_days_of_enrolment"]
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise PolicyError(f"{path}.within_days_of_enrolment", f"expected a whole number of days, got {days!r}")
        within = days
    before = False
    if "before_academic_year_start" in spec:
        if spec["before_academic_year_start"] is not True:
            raise PolicyError(f"{path}.before_academic_year_start", "only 'true' is meaningful; omit it otherwise")
        before = True
    field = f"{path}.only_semesters" if only is not None else path
    return _build(
        field,
        lambda: Conditions(only_semesters=only, within_days_of_enrolment=within, before_academic_year_start=before),
    )


def _case(value: object, path: str) -> Case:
    spec = _mapping(value, path, required=("rule", "when", "refund"))
    return Case(
        rule=_str(spec["rule"], f"{path}.rule"),
        when=_conditions(spec["when"], f"{path}.when"),
        refund=_refund(spec["refund"], f"{path}.refund"),
    )


def _window(value: object, path: str) -> Window:
    spec = _mapping(value, path, required=("rule", "refund"), optional=("until", "special_cases"))
    until = _date_spec(spec["until"], f"{path}.until") if "until" in spec else None
    cases = tuple(
        _case(item, item_path)
        for item_path, item in _items(spec.get("special_cases", []), f"{path}.special_cases", allow_empty=True)
    )
    return Window(
        rule=_str(spec["rule"], f"{path}.rule"),
        until=until,
        refund=_refund(spec["refund"], f"{path}.refund"),
        special_cases=cases,
    )
