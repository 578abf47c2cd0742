"""What every service's store.py builds on: a Store per unit of work, and the Database that hands them out.

A service's `Store` subclasses `UnitOfWorkStore` with the queries and writes of its use cases; its `Database`
subclasses `ServiceDatabase[Store]`. Use cases called from HTTP open `database.unit_of_work()` themselves; use
cases called from Kafka get a Store on the session of the kit's transaction (the kit commits it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar, cast

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from contracts import CloudEvent, EventPayload
from reliability.database import create_database_engine, transaction
from reliability.outbox import add_to_outbox


class UnitOfWorkStore:
    """One unit of work on one session; counts the events it queued, so the relay is woken only if any."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.published = 0

    def publish(self, event: CloudEvent[EventPayload]) -> None:
        """Queue `event` in the outbox, in this unit of work: it is published exactly if the change commits."""
        add_to_outbox(self.session, event)
        self.published += 1


StoreT = TypeVar("StoreT", bound=UnitOfWorkStore)


class ServiceDatabase(Generic[StoreT]):
    """The service's database: units of work (committed transactions) and read-only views, as Stores."""

    store: ClassVar[type[UnitOfWorkStore]]
    """The service's Store class."""
    conflict: ClassVar[type[Exception] | None] = None
    """Raised instead of a unique-key IntegrityError, when the service's use cases retry on it."""

    def __init__(self, engine: Engine, wake_relay: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.wake_relay = wake_relay
        """Called after a commit that queued events, so the relay publishes them now rather than at its next poll."""

    @classmethod
    def connect(cls, database_url: str) -> Any:
        return cls(create_database_engine(database_url))

    def waking(self, wake_relay: Callable[[], None]) -> Any:
        """The same database, waking the relay after a unit of work that queued an event."""
        return type(self)(self.engine, wake_relay)

    @contextmanager
    def unit_of_work(self) -> Iterator[StoreT]:
        """A Store in one transaction: everything written in the block commits together, or nothing does."""
        try:
            with transaction(self.engine) as session:
                store = cast(StoreT, self.store(session))
                yield store
        except IntegrityError as error:
            if self.conflict is None:
                raise
            raise self.conflict(str(error.orig)) from error
        if store.published and self.wake_relay is not None:
            self.wake_relay()

    @contextmanager
    def reading(self) -> Iterator[StoreT]:
        """A Store for reads only: nothing written in the block is committed.

        Closing the session ends its transaction without a commit; no explicit rollback, which would expire the
        rows read, and the routes turn them into responses after the block.
        """
        with Session(self.engine, expire_on_commit=False) as session:
            yield cast(StoreT, self.store(session))
