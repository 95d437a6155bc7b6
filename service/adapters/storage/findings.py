"""Stored quality-check runs and findings on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from service.adapters.storage.engine import utc, write_transaction
from service.adapters.storage.schema import check_runs, findings
from service.domain.findings import Category, CheckRun, Finding, Severity, SkippedCheck
from service.errors import Conflict, InvalidInput, NotFound


def _run(row: Any) -> CheckRun:
    return CheckRun(
        id=row.id,
        root=row.root,
        commit=row.commit,
        since=row.since,
        files_checked=row.files_checked,
        findings_count=row.findings_count,
        seconds=row.seconds,
        skipped=tuple(SkippedCheck(checker=s["checker"], reason=s["reason"]) for s in row.skipped),
        created_at=utc(row.created_at),
    )


def _finding(row: Any) -> Finding:
    return Finding(
        rule_id=row.rule_id,
        tool=row.tool,
        category=Category(row.category),
        severity=Severity(row.severity),
        path=row.path,
        start_line=row.start_line,
        end_line=row.end_line,
        symbol=row.symbol,
        message=row.message,
        snippet=row.snippet,
        fingerprint=row.fingerprint,
        help_url=row.help_url,
    )


class SqlFindingStore:
    """:class:`service.ports.finding_store.FindingStore` on a SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save_run(self, run: CheckRun, findings_: Sequence[Finding]) -> None:
        rows = [
            {
                "run_id": run.id,
                "seq": seq,
                "severity_rank": f.severity.rank,
                "rule_id": f.rule_id,
                "tool": f.tool,
                "category": f.category.value,
                "severity": f.severity.value,
                "path": f.path,
                "start_line": f.start_line,
                "end_line": f.end_line,
                "symbol": f.symbol,
                "message": f.message,
                "snippet": f.snippet,
                "fingerprint": f.fingerprint,
                "help_url": f.help_url,
            }
            for seq, f in enumerate(findings_)
        ]
        try:
            with write_transaction(self._engine) as connection:
                connection.execute(
                    insert(check_runs).values(
                        id=run.id,
                        root=run.root,
                        commit=run.commit,
                        since=run.since,
                        files_checked=run.files_checked,
                        findings_count=run.findings_count,
                        seconds=run.seconds,
                        skipped=[{"checker": s.checker, "reason": s.reason} for s in run.skipped],
                        created_at=run.created_at.astimezone(UTC),
                    )
                )
                if rows:
                    connection.execute(insert(findings), rows)
        except IntegrityError:
            raise Conflict(f"check run {run.id!r} is already stored") from None

    def get_run(self, *, run_id: str) -> CheckRun:
        with self._engine.connect() as connection:
            row = connection.execute(select(check_runs).where(check_runs.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"no check run {run_id!r}")
        return _run(row)

    def findings(
        self,
        *,
        run_id: str,
        min_severity: Severity | None = None,
        category: Category | None = None,
        path_prefix: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Finding]:
        if not 1 <= limit <= 1000 or offset < 0:
            raise InvalidInput("limit must be 1..1000 and offset at least 0")
        self.get_run(run_id=run_id)
        query = select(findings).where(findings.c.run_id == run_id)
        if min_severity is not None:
            query = query.where(findings.c.severity_rank <= min_severity.rank)
        if category is not None:
            query = query.where(findings.c.category == category.value)
        if path_prefix:
            escaped = path_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(findings.c.path.like(f"{escaped}%", escape="\\"))
        query = query.order_by(findings.c.severity_rank, findings.c.path, findings.c.start_line, findings.c.seq)
        with self._engine.connect() as connection:
            return [_finding(row) for row in connection.execute(query.limit(limit).offset(offset))]
