"""What the catalogue loader reports: every problem found, each naming the file, the entry and the field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogueIssue:
    """One problem in a catalogue file: where it is (file, entry, field) and what is wrong."""

    file: str
    entry: str | None
    """E.g. ``microcredentials[2] 'mc-port-logistics'``; None for the file itself (its name, its header)."""
    field: str | None
    """Path of the field inside the entry (or the file), e.g. ``courses[1].credits``."""
    problem: str

    def __str__(self) -> str:
        where = [self.file, self.entry if self.entry is not None else "(file)"]
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return ": ".join([*where, self.problem])


class CatalogueError(ValueError):
    """A catalogue that must not be loaded; `issues` lists every problem found."""

    def __init__(self, issues: Iterable[CatalogueIssue]) -> None:
        self.issues = tuple(issues)
        if len(self.issues) == 1:
            message = f"invalid micro-credential catalogue: {self.issues[0]}"
        else:
            lines = "\n".join(f"  - {issue}" for issue in self.issues)
            message = f"invalid micro-credential catalogue, {len(self.issues)} problems:\n{lines}"
        super().__init__(message)
