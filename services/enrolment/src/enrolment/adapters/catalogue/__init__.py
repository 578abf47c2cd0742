"""The loader of the micro-credential catalogue (YAML per academic year; the shipped one is in enrolment/catalogue/)."""

from enrolment.adapters.catalogue.issues import CatalogueError, CatalogueIssue
from enrolment.adapters.catalogue.loader import (
    CATALOGUE_DIRECTORY,
    DEFAULT_CREDIT_BOUNDS,
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
