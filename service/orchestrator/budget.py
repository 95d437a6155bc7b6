"""Budgets: what a run has spent, and whether it may take another step."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from service.domain.runs import Budget, Usage


class BudgetSpent(Exception):
    # Not in the error tree: control flow inside the orchestrator that never reaches an edge.
    """Raised by :meth:`BudgetMeter.ensure` when a limit is reached; the run then stops cleanly (``STOPPED``)."""

    def __init__(self, limit: str) -> None:
        super().__init__(f"budget spent: {limit}")
        self.limit = limit


class BudgetMeter:
    """Counts a run's steps, tokens, tickets and wall time against its budget.

    ``usage`` starts from what earlier attempts spent (a resumed run keeps its totals); wall time adds the
    seconds since this meter was made. Not thread-safe: one meter per running attempt.
    """

    def __init__(self, budget: Budget, usage: Usage, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self._base = usage
        self._clock = clock
        self._started = clock()
        self._steps = 0
        self._input_tokens = 0
        self._output_tokens = 0
        self._tickets = 0

    @property
    def usage(self) -> Usage:
        """Everything spent so far, this attempt included."""
        base = self._base
        return replace(
            base,
            steps=base.steps + self._steps,
            input_tokens=base.input_tokens + self._input_tokens,
            output_tokens=base.output_tokens + self._output_tokens,
            tickets=base.tickets + self._tickets,
            seconds=base.seconds + (self._clock() - self._started),
        )

    def charge(self, *, steps: int = 0, input_tokens: int = 0, output_tokens: int = 0, tickets: int = 0) -> None:
        """Add what was just spent (never refused: the spending already happened)."""
        self._steps += steps
        self._input_tokens += input_tokens
        self._output_tokens += output_tokens
        self._tickets += tickets

    def exhausted(self) -> str | None:
        """The first limit reached (``steps``, ``tokens``, ``seconds``, ``tickets``), or None."""
        return self.usage.exhausted(self.budget)

    def ensure(self) -> None:
        """Raise :class:`BudgetSpent` when any limit is reached; call before spending more."""
        limit = self.exhausted()
        if limit is not None:
            raise BudgetSpent(limit)

    @property
    def tickets_left(self) -> int:
        return max(0, self.budget.max_tickets - self.usage.tickets)

    @property
    def tokens_left(self) -> int:
        return max(0, self.budget.max_tokens - self.usage.tokens)
