import pytest

from service.domain.runs import Budget, Usage
from service.orchestrator.budget import BudgetMeter, BudgetSpent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_usage_adds_to_what_earlier_attempts_spent() -> None:
    clock = Clock()
    meter = BudgetMeter(Budget(), Usage(steps=3, input_tokens=10, seconds=5.0), clock=clock)
    meter.charge(steps=2, input_tokens=5, output_tokens=7, tickets=1)
    clock.now += 2.5
    usage = meter.usage
    assert (usage.steps, usage.input_tokens, usage.output_tokens, usage.tickets) == (5, 15, 7, 1)
    assert usage.seconds == 7.5
    assert usage.tokens == 22


def test_each_limit_is_named_when_reached() -> None:
    clock = Clock()
    assert BudgetMeter(Budget(max_steps=1), Usage(steps=1), clock=clock).exhausted() == "steps"
    assert BudgetMeter(Budget(max_tokens=10), Usage(output_tokens=10), clock=clock).exhausted() == "tokens"
    assert BudgetMeter(Budget(max_tickets=2), Usage(tickets=2), clock=clock).exhausted() == "tickets"
    timed = BudgetMeter(Budget(max_seconds=1.0), Usage(), clock=clock)
    assert timed.exhausted() is None
    clock.now += 1.0
    assert timed.exhausted() == "seconds"


def test_ensure_raises_with_the_limit_and_counts_what_is_left() -> None:
    meter = BudgetMeter(Budget(max_tickets=3, max_tokens=100), Usage(), clock=Clock())
    meter.charge(tickets=2, input_tokens=40)
    meter.ensure()
    assert (meter.tickets_left, meter.tokens_left) == (1, 60)
    meter.charge(tickets=1)
    with pytest.raises(BudgetSpent) as spent:
        meter.ensure()
    assert spent.value.limit == "tickets"
