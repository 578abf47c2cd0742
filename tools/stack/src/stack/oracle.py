"""An independent oracle: what invoices and reimbursements MUST be, computed straight from the events.

Written apart from billing's policy engine (no YAML, no shared code) from the University of Antwerp's text:
- cancel before 1 December: the tuition fee is reimbursed in full;
- from 1 December to 14 March: the fees for second-semester credits (everything if only second-semester);
- from 15 March: nothing.
Dates are local dates in Europe/Brussels, in the enrolment's academic year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Figures:
    lines: dict[int, Decimal]  # semester -> amount
    fixed_fee: Decimal
    total: Decimal
    rule: str = ""


def invoice(courses: list[tuple[Decimal, int]], per_credit: Decimal, fixed_fee: Decimal) -> Figures:
    """`courses` as (credits, semester)."""
    lines = {}
    for semester in (1, 2):
        credits = sum((c for c, s in courses if s == semester), Decimal(0))
        if credits:
            lines[semester] = (credits * per_credit).quantize(CENT, rounding=ROUND_HALF_UP)
    return Figures(lines, fixed_fee, sum(lines.values(), fixed_fee))


def reimbursement(invoiced: Figures, academic_year: str, cancelled_at: datetime) -> Figures:
    first_year = int(academic_year[:4])
    local_day = cancelled_at.astimezone(BRUSSELS).date()
    only_second = set(invoiced.lines) == {2}
    zero = Decimal("0.00")
    if local_day < date(first_year, 12, 1):
        return Figures(dict(invoiced.lines), invoiced.fixed_fee, invoiced.total, "full-refund")
    if local_day < date(first_year + 1, 3, 15):
        if only_second:
            return Figures(dict(invoiced.lines), invoiced.fixed_fee, invoiced.total, "full-refund")
        lines = {s: (a if s == 2 else zero) for s, a in invoiced.lines.items()}
        return Figures(lines, zero, sum(lines.values(), zero), "second-semester-refund")
    lines = {s: zero for s in invoiced.lines}
    return Figures(lines, zero, zero, "no-refund")
