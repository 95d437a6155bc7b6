"""Triage: one group per problem, worst first, stable fingerprints, and what already has an open ticket."""

from __future__ import annotations

from dataclasses import replace

from service.domain.findings import Category, Finding, Severity
from service.orchestrator.steps.triage import FindingGroup, group_findings, normalise_message, triage


def finding(
    rule: str = "ruff.F401",
    path: str = "app/a.py",
    line: int = 1,
    symbol: str = "",
    message: str = "`os` imported but unused",
    severity: Severity = Severity.MEDIUM,
    fingerprint: str | None = None,
) -> Finding:
    return Finding(
        rule_id=rule,
        tool=rule.split(".", 1)[0],
        category=Category.LINT,
        severity=severity,
        path=path,
        start_line=line,
        end_line=line,
        symbol=symbol,
        message=message,
        snippet="",
        fingerprint=fingerprint or f"{abs(hash((rule, path, line, symbol, message))):020x}"[:20],
    )


def paths(group: FindingGroup) -> list[tuple[str, int]]:
    return [(f.path, f.start_line) for f in group.findings]


def test_messages_are_normalised_without_names_and_numbers() -> None:
    assert normalise_message("`os` imported but unused") == normalise_message("`re` imported but unused")
    assert normalise_message("f has complexity 12 (limit 10).") == "f has complexity n (limit n)"
    assert normalise_message("Possible hardcoded password: 'abc'") == "possible hardcoded password: *"


def test_the_same_mistake_in_several_files_is_one_problem() -> None:
    groups = group_findings(
        [
            finding(path="app/a.py", message="`os` imported but unused"),
            finding(path="app/b.py", message="`re` imported but unused"),
            finding(rule="ruff.E711", path="app/a.py", line=4, message="comparison to None"),
        ],
        repository="demo",
    )
    assert len(groups) == 2
    unused = next(g for g in groups if g.lead.rule_id == "ruff.F401")
    assert paths(unused) == [("app/a.py", 1), ("app/b.py", 1)]


def test_one_rule_in_one_symbol_is_one_problem_even_with_different_messages() -> None:
    groups = group_findings(
        [
            finding(rule="bandit.B608", line=3, symbol="Store.find", message="SQL built from a string"),
            finding(rule="bandit.B608", line=9, symbol="Store.find", message="SQL query by concatenation"),
            finding(rule="bandit.B608", path="app/b.py", line=2, symbol="other", message="a different text"),
        ],
        repository="demo",
    )
    assert sorted(len(g.findings) for g in groups) == [1, 2]


def test_different_rules_at_one_place_stay_apart() -> None:
    groups = group_findings(
        [
            finding(rule="secrets.secret-keyword", message="Secret Keyword committed"),
            finding(rule="bandit.B105", message="Possible hardcoded password: '[REDACTED:assigned_secret]'"),
        ],
        repository="demo",
    )
    assert len(groups) == 2


def test_worst_first_then_the_larger_problem() -> None:
    groups = group_findings(
        [
            finding(rule="markers.todo", path="a.py", message="TODO: later", severity=Severity.LOW),
            finding(rule="ruff.F401", path="b.py", message="`x` imported but unused"),
            finding(rule="ruff.F401", path="c.py", message="`y` imported but unused"),
            finding(rule="ruff.E711", path="d.py", message="comparison to None"),
            finding(rule="bandit.B602", path="e.py", message="shell=True", severity=Severity.HIGH),
        ],
        repository="demo",
    )
    assert [g.lead.rule_id for g in groups] == ["bandit.B602", "ruff.F401", "ruff.E711", "markers.todo"]


def test_group_fingerprints_survive_line_shifts_order_and_one_more_file() -> None:
    before = [finding(path="a.py", line=1), finding(path="b.py", line=3, message="`re` imported but unused")]
    shifted = [replace(f, start_line=f.start_line + 10, end_line=f.end_line + 10) for f in reversed(before)]
    more = [*before, finding(path="c.py", line=7, message="`sys` imported but unused")]
    prints = {tuple(g.fingerprint for g in group_findings(x, repository="demo")) for x in (before, shifted, more)}
    assert len(prints) == 1
    other_repo = group_findings(before, repository="other")[0].fingerprint
    assert other_repo not in next(iter(prints))
    assert len(next(iter(prints))[0]) == 40


def test_problems_with_an_open_ticket_are_dropped() -> None:
    findings = [
        finding(rule="bandit.B602", path="e.py", message="shell=True", severity=Severity.HIGH, fingerprint="f" * 20),
        finding(path="a.py"),
        finding(path="b.py", message="`re` imported but unused"),
    ]
    unused = next(g for g in group_findings(findings, repository="demo") if g.lead.rule_id == "ruff.F401")
    open_tickets = {"f" * 20: "OPS-1", unused.fingerprint: "OPS-2"}
    groups, dropped = triage(findings, repository="demo", open_ticket=open_tickets.get)
    assert groups == []
    assert [(d["ticket_key"], d["reason"]) for d in dropped] == [
        ("OPS-1", "already ticketed: OPS-1 is open"),
        ("OPS-2", "already ticketed: OPS-2 is open"),
    ]
    kept, nothing = triage(findings, repository="demo", open_ticket=lambda fingerprint: None)
    assert (len(kept), nothing) == (2, [])


def test_groups_round_trip_through_the_checkpoint() -> None:
    group = group_findings([finding(path="a.py"), finding(path="b.py")], repository="demo")[0]
    assert FindingGroup.of(group.as_dict()) == group
