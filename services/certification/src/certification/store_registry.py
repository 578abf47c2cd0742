"""The registry every certification table is declared in (store.py and store_offers.py share it)."""

from __future__ import annotations

from reliability.tables import table_registry
from sqlmodel import SQLModel

REGISTRY = table_registry()


class CertificationTable(SQLModel, registry=REGISTRY):
    """Base of the certification service's tables."""
