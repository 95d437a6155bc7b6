"""One contract for :class:`FindingStore`, run against every implementation: in-memory, SQLite, PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from service.adapters.storage.findings import SqlFindingStore
from service.adapters.storage.memory import InMemoryFindingStore
from service.domain.findings import Category, CheckRun, Finding, Severity, SkippedCheck
from service.errors import Conflict, InvalidInput, NotFound
from service.ports.finding_store import FindingStore

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(database: Engine | None) -> FindingStore:
    return InMemoryFindingStore() if database is None else SqlFindingStore(database)


def finding(path: str, line: int, severity: Severity, category: Category = Category.LINT, **changes: object) -> Finding:
    base = Finding(
        rule_id="ruff.F401",
        tool="ruff",
        category=category,
        severity=severity,
        path=path,
        start_line=line,
        end_line=line,
        symbol="",
        message="unused import",
        snippet="import os",
        fingerprint=f"fp-{path}-{line}",
        help_url="https://docs.astral.sh/ruff/rules/unused-import",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


RUN = CheckRun(
    id="run-1",
    root="/srv/repo",
    commit="0" * 40,
    since=None,
    files_checked=12,
    findings_count=4,
    seconds=1.5,
    skipped=(SkippedCheck(checker="security", reason="bandit is not installed"),),
    created_at=NOW,
)
FINDINGS = [
    finding("b.py", 3, Severity.LOW),
    finding("a.py", 9, Severity.HIGH, Category.SECURITY, rule_id="bandit.B602", tool="bandit", help_url=None),
    finding("src/x_y.py", 1, Severity.MEDIUM),
    finding("a.py", 2, Severity.LOW, Category.MARKERS),
]


def test_save_and_read_back(store: FindingStore) -> None:
    store.save_run(RUN, FINDINGS)
    assert store.get_run(run_id="run-1") == RUN
    stored = store.findings(run_id="run-1")
    assert stored == [FINDINGS[1], FINDINGS[2], FINDINGS[3], FINDINGS[0]], "worst first, then path and line"


def test_filters_and_paging(store: FindingStore) -> None:
    store.save_run(RUN, FINDINGS)
    assert store.findings(run_id="run-1", min_severity=Severity.MEDIUM) == [FINDINGS[1], FINDINGS[2]]
    assert store.findings(run_id="run-1", category=Category.MARKERS) == [FINDINGS[3]]
    assert store.findings(run_id="run-1", path_prefix="src/x_") == [FINDINGS[2]]
    assert store.findings(run_id="run-1", path_prefix="src/x%") == [], "wildcards in the prefix are literal"
    assert store.findings(run_id="run-1", limit=2, offset=1) == [FINDINGS[2], FINDINGS[3]]


def test_unknown_run_duplicate_run_and_bad_paging(store: FindingStore) -> None:
    with pytest.raises(NotFound):
        store.get_run(run_id="nope")
    with pytest.raises(NotFound):
        store.findings(run_id="nope")
    store.save_run(RUN, [])
    with pytest.raises(Conflict):
        store.save_run(RUN, FINDINGS)
    assert store.findings(run_id="run-1") == [], "the refused save left nothing behind"
    with pytest.raises(InvalidInput):
        store.findings(run_id="run-1", limit=0)
