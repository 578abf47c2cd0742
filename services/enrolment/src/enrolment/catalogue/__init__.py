"""The micro-credential catalogue shipped with the enrolment service, and its loader."""

from enrolment.catalogue.loader import (
    CATALOGUE_DIRECTORY,
    DEFAULT_CREDIT_BOUNDS,
    CatalogueError,
    CatalogueIssue,
    load_catalogue,
    load_catalogue_file,
)

__all__ = [
    "CATALOGUE_DIRECTORY",
    "DEFAULT_CREDIT_BOUNDS",
    "CatalogueError",
    "CatalogueIssue",
    "load_catalogue",
    "load_catalogue_file",
]
