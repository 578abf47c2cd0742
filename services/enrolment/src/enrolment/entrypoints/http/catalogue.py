"""The catalogue, public: every entry or one year's, and one entry (default: the newest year that offers it)."""

from __future__ import annotations

from typing import Annotated

from contracts.types import AcademicYear
from fastapi import APIRouter, HTTPException, Path, Query, status

from enrolment.domain import (
    AcademicYearNotInCatalogue,
    Catalogue,
    EnrolmentError,
    MicroCredential,
    UnknownMicroCredential,
)
from enrolment.entrypoints.http.models import MicrocredentialOut, errors, microcredential_out


def catalogue_router(catalogue: Catalogue) -> APIRouter:
    router = APIRouter(tags=["catalogue"])

    @router.get("/microcredentials", operation_id="listMicroCredentials", responses=errors(404, 422))
    def list_microcredentials(
        academic_year: Annotated[
            AcademicYear | None, Query(description="Only this academic year; default: every year.")
        ] = None,
    ) -> list[MicrocredentialOut]:
        years = catalogue.years() if academic_year is None else (academic_year,)
        try:
            return [microcredential_out(entry) for year in years for entry in catalogue.entries(year)]
        except AcademicYearNotInCatalogue as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error

    @router.get("/microcredentials/{microcredential_id}", operation_id="getMicroCredential", responses=errors(404, 422))
    def get_microcredential(
        microcredential_id: Annotated[str, Path(min_length=1, max_length=128)],
        academic_year: Annotated[
            AcademicYear | None, Query(description="Default: the newest academic year that offers it.")
        ] = None,
    ) -> MicrocredentialOut:
        try:
            return microcredential_out(_entry(catalogue, microcredential_id, academic_year))
        except EnrolmentError as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error

    return router


def _entry(catalogue: Catalogue, microcredential_id: str, academic_year: str | None) -> MicroCredential:
    if academic_year is not None:
        return catalogue.get(academic_year, microcredential_id)
    for year in reversed(catalogue.years()):
        try:
            return catalogue.get(year, microcredential_id)
        except UnknownMicroCredential:
            continue
    raise HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"micro-credential {microcredential_id!r} is in no catalogue (years: {', '.join(catalogue.years())})",
    )
