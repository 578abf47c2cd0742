"""The service process's cyclic garbage collector: what the start built is frozen, young collections are rarer.

CPython's collector walks every tracked container of the generations it collects. A service's oldest generation
holds the modules, SQLAlchemy's metadata and compiled statements, pydantic's and FastAPI's schemas: hundreds of
thousands of objects that live as long as the process, walked again at every full collection, and billing's
batches allocate enough containers to trigger collections all the time. `benchmarks.apply_micro` with the
collector's callbacks timed: 2.2 s of collections for about 36 000 events (60 µs an event, a fifth of the
database step), 0.3 s with the start's objects frozen and the youngest generation collected after 10 000
allocations instead of 700 (docs/benchmark.md). What is kept longer is only cyclic garbage (reference counting
still frees everything else at once), at most a young generation's worth.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def settle_after_start() -> None:
    """Called once the process has imported and built what it keeps: collect, freeze it, collect less often."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
