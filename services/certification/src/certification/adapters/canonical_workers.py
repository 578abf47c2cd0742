"""Canonicalisation of submitted documents in worker processes, each job within a wall-clock budget.

The work limit in :mod:`canonical` bounds RDFC-1.0's permutations, but not everything else a 1 MiB JSON-LD document
can cost (expansion, toRDF), and a Python thread cannot be stopped. A process can: each job (a document and its proof
options) runs in a worker; a worker that has not answered within the budget is killed, the job is refused
(:class:`CanonicalLimitExceeded`) and a fresh worker takes its slot at the next job. The request thread only waits
on a pipe, so neither the event loop nor the other requests share the worker's CPU.

Results are cached by the SHA-256 of the job (canonical JSON): hashData is a pure function of the job, so a
credential verified again (the same one, shown to many employers) costs a lookup.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import queue
import threading
import weakref
from collections import OrderedDict
from multiprocessing.connection import Connection
from typing import Any

from certification.adapters.canonical import (
    CanonicalisationFailed,
    CanonicalisationUnavailable,
    CanonicalLimitExceeded,
    CanonicalLimits,
    failure_reason,
)
from certification.adapters.contexts import DocumentLoader
from certification.adapters.signing import hash_data

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
# spawn, not fork: the service has threads (uvicorn, Kafka clients, the request pool) that fork would copy mid-state.
_PROCESSES = multiprocessing.get_context("spawn")
_START_TIMEOUT_SECONDS = 60.0


def _serve(connection: Connection, base_url: str, limits: CanonicalLimits) -> None:
    """A worker process: hashData for each job received, until the pipe closes."""
    loader = DocumentLoader(base_url)
    connection.send(("ready", None))
    while True:
        try:
            unsecured, config = connection.recv()
        except (EOFError, OSError):
            return
        try:
            connection.send(("ok", hash_data(unsecured, config, loader, limits)))
        except CanonicalLimitExceeded as refused:
            connection.send(("refused", refused.reason))
        except Exception as error:
            connection.send(("failed", failure_reason(error)))


class _Worker:
    def __init__(self, base_url: str, limits: CanonicalLimits) -> None:
        self.connection, child = _PROCESSES.Pipe()
        self.process = _PROCESSES.Process(
            target=_serve, args=(child, base_url, limits), name="canonicalisation-worker", daemon=True
        )
        self.process.start()
        child.close()
        try:
            ready = self.connection.poll(_START_TIMEOUT_SECONDS) and self.connection.recv()[0] == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise CanonicalisationUnavailable("a verification worker did not start; retry later")

    def run(self, job: tuple[JsonObject, JsonObject], budget_seconds: float) -> tuple[str, Any] | None:
        """The worker's answer, or None when it has none within the budget (the caller then kills it)."""
        self.connection.send(job)
        if not self.connection.poll(budget_seconds):
            return None
        answer: tuple[str, Any] = self.connection.recv()
        return answer

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.connection.close()


class _ResultCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def _job_key(unsecured: JsonObject, config: JsonObject) -> str:
    text = json.dumps([unsecured, config], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class CanonicalWorkers:
    """``hash_data(unsecured, config)`` in `workers` processes, each job within `budget_seconds`.

    Workers start at their first job (about a second: a fresh interpreter) and are replaced after a kill.
    Thread-safe: request threads share it.
    """

    def __init__(
        self,
        base_url: str,
        limits: CanonicalLimits,
        *,
        workers: int = 2,
        budget_seconds: float = 5.0,
        cache_size: int = 1024,
    ) -> None:
        self.base_url = base_url
        self.limits = limits
        self.budget_seconds = budget_seconds
        self._cache = _ResultCache(cache_size)
        # A slot holds an idle worker, or None: not started yet, or killed and to be replaced. Last in, first out:
        # a running worker is reused before an empty slot is started (a second process only under concurrency).
        self._size = workers
        self._idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        for _ in range(workers):
            self._idle.put(None)
        self._started: set[_Worker] = set()
        self.replaced = 0
        """Workers killed for exceeding the budget (or dying) since the start."""
        weakref.finalize(self, _kill_all, self._started)

    def hash_data(self, unsecured: JsonObject, config: JsonObject) -> bytes:
        key = _job_key(unsecured, config)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        answer = self._in_worker((unsecured, config))
        if answer is None:
            raise CanonicalLimitExceeded(
                f"canonicalising the document took longer than the {self.budget_seconds:g} s budget; refused"
            )
        kind, value = answer
        if kind == "refused":
            raise CanonicalLimitExceeded(value)
        if kind != "ok":
            raise CanonicalisationFailed(value)
        self._cache.put(key, value)
        return bytes(value)

    def _in_worker(self, job: tuple[JsonObject, JsonObject]) -> tuple[str, Any] | None:
        """The answer of an idle worker (started if need be); None if it had none within the budget."""
        try:
            worker = self._idle.get(timeout=self.budget_seconds)
        except queue.Empty:
            raise CanonicalisationUnavailable(
                f"every verification worker stayed busy for {self.budget_seconds:g} s; retry later"
            ) from None
        try:
            worker = worker or self._start()
            answer = worker.run(job, self.budget_seconds)
            if answer is None:
                self._discard(worker)
                worker = None
            return answer
        except (EOFError, OSError) as error:  # the worker died under the job (e.g. out of memory)
            self._discard(worker)
            worker = None
            raise CanonicalLimitExceeded(
                "the canonicalisation worker stopped while on the document; refused"
            ) from error
        except BaseException:
            self._discard(worker)
            worker = None
            raise
        finally:
            self._idle.put(worker)

    def _start(self) -> _Worker:
        worker = _Worker(self.base_url, self.limits)
        self._started.add(worker)
        return worker

    def _discard(self, worker: _Worker | None) -> None:
        if worker is not None:
            log.warning("killing a canonicalisation worker", extra={"budget_seconds": self.budget_seconds})
            worker.kill()
            self._started.discard(worker)
            self.replaced += 1

    def warm(self) -> None:
        """Start the workers now, in the background, so that the first verification need not wait for them."""
        threading.Thread(target=self._warm, name="canonicalisation-warm", daemon=True).start()

    def _warm(self) -> None:
        slots: list[_Worker | None] = []
        with contextlib.suppress(queue.Empty):
            while len(slots) < self._size:
                slots.append(self._idle.get_nowait())  # the others are at work
        for slot in slots:
            worker = slot
            try:
                worker = worker or self._start()
            except CanonicalisationUnavailable:
                log.warning("a canonicalisation worker did not start; the next verification tries again")
            finally:
                self._idle.put(worker)

    def close(self) -> None:
        """Stop every worker; a later job starts new ones."""
        _kill_all(self._started)
        with contextlib.suppress(queue.Empty):
            while True:
                self._idle.get_nowait()
        for _ in range(self._size):
            self._idle.put(None)


def _kill_all(workers: set[_Worker]) -> None:
    for worker in list(workers):
        worker.kill()
    workers.clear()
