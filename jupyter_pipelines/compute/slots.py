"""Run slots handed out in the order jobs were submitted."""
from __future__ import annotations

import threading
from collections import deque


class Ticket:
    """A job's place in the queue for a slot."""


class OrderedSlots:
    """A semaphore whose waiters are served first come, first served by ticket.

    Jobs are prepared ahead on several threads; without an order, whichever thread got ready
    first would run, and a job submitted later (say, one the engine would drop once an earlier
    one fails) could overtake the job before it.
    """

    def __init__(self, slots: int) -> None:
        self.free = slots
        self.queue: deque[Ticket] = deque()
        self.changed = threading.Condition()

    def ticket(self) -> Ticket:
        with self.changed:
            ticket = Ticket()
            self.queue.append(ticket)
            return ticket

    def acquire(self, ticket: Ticket, timeout: float) -> bool:
        """Take a slot when ``ticket`` is first in the queue and a slot is free; False after ``timeout``."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.free > 0 and self.queue[0] is ticket, timeout):
                return False
            self.queue.popleft()
            self.free -= 1
            self.changed.notify_all()
            return True

    def withdraw(self, ticket: Ticket) -> None:
        """Leave the queue without a slot (a canceled job)."""
        with self.changed:
            if ticket in self.queue:
                self.queue.remove(ticket)
                self.changed.notify_all()

    def release(self) -> None:
        with self.changed:
            self.free += 1
            self.changed.notify_all()
