"""Why the enrolment domain refuses a request.

Each refusal has its own class so the HTTP layer can map it to a status code (404, 409, 422) without parsing
messages, and each message is written for the person who made the request.
"""

from __future__ import annotations


class EnrolmentError(Exception):
    """Base of every error the enrolment domain raises on purpose."""


class EnrolmentRefused(EnrolmentError):
    """A well-formed request that the business rules do not allow."""


class AcademicYearNotInCatalogue(EnrolmentRefused):
    """There is no catalogue (no YAML file) for the requested academic year."""

    def __init__(self, academic_year: str, known_years: tuple[str, ...]) -> None:
        known = ", ".join(known_years) if known_years else "none"
        super().__init__(
            f"there is no micro-credential catalogue for academic year {academic_year!r} (catalogues: {known})"
        )
        self.academic_year = academic_year
        self.known_years = known_years


class UnknownMicroCredential(EnrolmentRefused):
    """The academic year has a catalogue, but it does not offer this micro-credential."""

    def __init__(self, academic_year: str, microcredential_id: str) -> None:
        super().__init__(f"micro-credential {microcredential_id!r} is not in the {academic_year} catalogue")
        self.academic_year = academic_year
        self.microcredential_id = microcredential_id


class AlreadyEnrolled(EnrolmentRefused):
    """The student already has an ACTIVE enrolment in this micro-credential for this academic year."""

    def __init__(
        self, student_ref: str, microcredential_id: str, academic_year: str, existing_enrolment_id: str
    ) -> None:
        super().__init__(
            f"student {student_ref!r} is already enrolled in {microcredential_id!r} for {academic_year} "
            f"(enrolment {existing_enrolment_id!r}); cancel that enrolment first to enrol again"
        )
        self.student_ref = student_ref
        self.microcredential_id = microcredential_id
        self.academic_year = academic_year
        self.existing_enrolment_id = existing_enrolment_id


class CancellationBeforeEnrolment(EnrolmentRefused):
    """A cancellation dated before the enrolment it cancels; the refund depends on that date, so it must be sane."""

    def __init__(self, enrolment_id: str, enrolled_at: str, cancelled_at: str) -> None:
        super().__init__(
            f"enrolment {enrolment_id!r} cannot be cancelled at {cancelled_at}: that is before it was created ({enrolled_at})"
        )
        self.enrolment_id = enrolment_id


class InvalidEnrolmentData(EnrolmentError, ValueError):
    """An argument that no rule could accept: a naive timestamp, a malformed id, an over-long reason."""


class ForeignEventConflict(EnrolmentError):
    """Another system published an event that contradicts what we already hold for the same enrolment id.

    Raised rather than silently merged: two different enrolments under one id is a data error someone must
    look at, so the service layer dead-letters the message.
    """
