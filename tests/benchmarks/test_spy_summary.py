"""`benchmarks.spy_summary` counts a group's samples once per stack, whatever how often its functions appear."""

from __future__ import annotations

from benchmarks.spy_summary import summarise

PROFILE = [
    # py-spy's raw format: the frames root first, separated by ";", then the sample count.
    "main (billing/__main__.py:10);_bill (billing/usecases/__init__.py:120);new_event (contracts/envelope.py:139) 3",
    "main (billing/__main__.py:10);_bill (billing/usecases/__init__.py:121);Store.publish (unit_of_work.py:218) 2",
    "main (billing/__main__.py:10);decode_event (contracts/envelope.py:200);decode_event (contracts/envelope.py:210) 4",
    "main (billing/__main__.py:10);EpollSelector.select (selectors.py:468) 1",
    "not a sample line",
]


def test_each_group_counts_the_samples_with_one_of_its_functions_on_the_stack():
    total, counts = summarise(PROFILE)

    assert total == 10
    assert counts["billing's decisions in memory (pricing, outputs, outbox rows)"] == 5
    assert counts["… of which building and validating the output events"] == 3
    assert counts["… of which the outbox rows (serialising, headers)"] == 2
    assert counts["decode and validate the input (the contract)"] == 4  # twice on one stack, counted once
    assert counts["the event loop waiting in epoll"] == 1
    assert counts["logging"] == 0
