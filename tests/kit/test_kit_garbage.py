"""The service process's collector after its start: the start's objects frozen, cyclic garbage still collected."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHECK = textwrap.dedent(
    """
    import gc, weakref
    import reliability.runtime  # what a service imports before it serves
    from reliability import garbage

    garbage.settle_after_start()
    assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()
    assert gc.get_threshold()[0] == garbage.YOUNG_THRESHOLD > 700

    class Node:
        pass

    collected = []
    for round in range(3):
        node = Node()
        node.self = node  # a cycle: only the collector frees it
        weakref.finalize(node, collected.append, round)
        del node
        garbage_made = [[] for _ in range(2 * garbage.YOUNG_THRESHOLD)]  # allocations that trigger a collection
        del garbage_made
    assert collected, "no collection ran after two young generations' worth of allocations"
    print("ok", gc.get_freeze_count(), collected)
    """
)


def test_the_start_is_frozen_and_cycles_are_still_collected() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
