"""Run slots go in submission order."""
from __future__ import annotations

import threading

from jupyter_pipelines.compute.slots import OrderedSlots


def test_slots_go_in_ticket_order_whoever_asks_first() -> None:
    slots = OrderedSlots(1)
    first, second = slots.ticket(), slots.ticket()
    assert not slots.acquire(second, timeout=0.05)  # free, but not its turn
    taken: list[str] = []
    waiter = threading.Thread(target=lambda: slots.acquire(second, timeout=5) and taken.append("second"))
    waiter.start()
    assert slots.acquire(first, timeout=1)
    assert not taken  # the only slot is held
    slots.release()
    waiter.join(5)
    assert taken == ["second"]


def test_a_withdrawn_ticket_lets_the_next_one_go() -> None:
    slots = OrderedSlots(1)
    first, second = slots.ticket(), slots.ticket()
    slots.withdraw(first)
    assert slots.acquire(second, timeout=1)
    slots.withdraw(second)  # taken tickets are gone already: nothing happens
    slots.release()
    assert slots.acquire(slots.ticket(), timeout=1)
