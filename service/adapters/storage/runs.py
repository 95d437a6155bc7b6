"""Workflow runs and their trace spans on SQLite or PostgreSQL.

``save`` is a compare-and-set on ``version`` (``UPDATE ... WHERE id = ? AND version = ?``): of two workers
saving the same copy exactly one matches a row. On PostgreSQL the second UPDATE waits for the first's row
lock and then re-reads the row, whose version no longer matches; on SQLite writers are serialised by
``BEGIN IMMEDIATE`` (:func:`write_transaction`). Spans are ``INSERT ... ON CONFLICT DO NOTHING`` on
(run_id, sequence), so recording a step again after a resume adds nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError

from service.adapters.storage.engine import utc, write_transaction
from service.adapters.storage.schema import run_spans, runs
from service.domain.action_calls import Trigger
from service.domain.runs import Budget, Run, RunState, Span, SpanKind, Usage
from service.errors import Conflict, InvalidInput, NotFound

_NOT_FOUND_HINT = "list runs with `ticketsmith runs list`"


def _text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; both dialects store U+FFFD for it so they agree (JSON escapes it)."""
    return value.replace("\x00", "\ufffd") if value is not None else None


def _aware(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _run(row: Any) -> Run:
    return Run(
        id=row.id,
        workflow=row.workflow,
        state=RunState(row.state),
        trigger=Trigger(row.trigger),
        principal=row.principal,
        repository=row.repository,
        parameters=dict(row.parameters),
        budget=Budget(**row.budget),
        usage=Usage(**row.usage),
        step=row.step,
        checkpoint=dict(row.checkpoint),
        result=dict(row.result) if row.result is not None else None,
        error=row.error,
        planner=row.planner,
        version=row.version,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        finished_at=utc(row.finished_at) if row.finished_at is not None else None,
        dedup_key=row.dedup_key,
    )


def _run_values(run: Run) -> dict[str, Any]:
    """The mutable columns of ``run`` (everything but id, dedup_key and version)."""
    return {
        "workflow": _text(run.workflow),
        "state": run.state.value,
        "trigger": run.trigger.value,
        "principal": _text(run.principal),
        "repository": _text(run.repository),
        "parameters": run.parameters,
        "budget": run.budget.as_dict(),
        "usage": {**run.usage.as_dict(), "seconds": run.usage.seconds},
        "step": _text(run.step),
        "checkpoint": run.checkpoint,
        "result": run.result,
        "error": _text(run.error),
        "planner": _text(run.planner),
        "created_at": _aware(run.created_at),
        "updated_at": _aware(run.updated_at),
        "finished_at": _aware(run.finished_at),
    }


def _too_long(exc: DataError) -> InvalidInput:
    """A value the column cannot hold (PostgreSQL checks lengths; SQLite does not)."""
    reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "a value does not fit its column"
    return InvalidInput(
        f"the run cannot be stored: {reason}",
        hint="ids are at most 64 characters, principal, planner and dedup_key 200, workflow and step 100",
    )


def _span(row: Any) -> Span:
    return Span(
        run_id=row.run_id,
        sequence=row.sequence,
        trace_id=row.trace_id,
        kind=SpanKind(row.kind),
        name=row.name,
        started_at=utc(row.started_at),
        duration_ms=row.duration_ms,
        status=row.status,
        attributes=dict(row.attributes),
    )


class SqlRunStore:
    """:class:`service.ports.run_store.RunStore` on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.dialect = engine.dialect.name
        dialect_insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        insert_run = dialect_insert(runs)
        self._insert = insert_run.returning(*runs.c)
        self._insert_dedup = insert_run.on_conflict_do_nothing(index_elements=["dedup_key"]).returning(*runs.c)
        self._by_dedup_key = select(runs).where(runs.c.dedup_key == bindparam("key"))
        self._insert_spans = dialect_insert(run_spans).on_conflict_do_nothing(index_elements=["run_id", "sequence"])

    def create(self, run: Run) -> Run:
        values = {**_run_values(run), "id": _text(run.id), "version": run.version, "dedup_key": _text(run.dedup_key)}
        row: Any
        try:
            with write_transaction(self._engine) as connection:
                if run.dedup_key is None:
                    row = connection.execute(self._insert, values).one()
                else:
                    row = connection.execute(self._insert_dedup, values).first()
                    if row is None:  # a run with this key exists: that one, whatever its state
                        row = connection.execute(self._by_dedup_key, {"key": run.dedup_key}).one()
        except IntegrityError:
            raise Conflict(f"run {run.id!r} exists already") from None
        except DataError as exc:
            raise _too_long(exc) from None
        return _run(row)

    def get(self, run_id: str) -> Run:
        if "\x00" in run_id:  # no stored id has one, and PostgreSQL refuses it as a parameter
            raise NotFound(f"no run {run_id!r}", hint=_NOT_FOUND_HINT)
        with self._engine.connect() as connection:
            row = connection.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"no run {run_id!r}", hint=_NOT_FOUND_HINT)
        return _run(row)

    def save(self, run: Run) -> Run:
        if "\x00" in run.id:
            raise NotFound(f"no run {run.id!r}", hint=_NOT_FOUND_HINT)
        statement = (
            update(runs)
            .where(runs.c.id == run.id, runs.c.version == run.version)
            .values(**_run_values(run), version=run.version + 1)
            .returning(*runs.c)
        )
        stored: int | None = None
        try:
            with write_transaction(self._engine) as connection:
                row = connection.execute(statement).first()
                if row is None:
                    stored = connection.execute(select(runs.c.version).where(runs.c.id == run.id)).scalar()
        except DataError as exc:
            raise _too_long(exc) from None
        if row is not None:
            return _run(row)
        if stored is None:
            raise NotFound(f"no run {run.id!r}", hint=_NOT_FOUND_HINT)
        raise Conflict(
            f"run {run.id} was changed by another worker (version {stored}, not {run.version})",
            hint="read the run again and retry on the fresh copy",
        )

    def append_spans(self, spans: Sequence[Span]) -> None:
        if not spans:
            return
        rows = [
            {
                "run_id": _text(span.run_id),
                "sequence": span.sequence,
                "trace_id": _text(span.trace_id),
                "kind": span.kind.value,
                "name": _text(span.name),
                "started_at": span.started_at.astimezone(UTC),
                "duration_ms": span.duration_ms,
                "status": _text(span.status),
                "attributes": span.attributes,
            }
            for span in spans
        ]
        try:
            with write_transaction(self._engine) as connection:
                connection.execute(self._insert_spans, rows)
        except DataError as exc:
            raise _too_long(exc) from None

    def spans(self, run_id: str, *, after_sequence: int = -1, limit: int = 10_000) -> list[Span]:
        if limit < 1 or "\x00" in run_id:
            return []
        query = (
            select(run_spans)
            .where(run_spans.c.run_id == run_id, run_spans.c.sequence > after_sequence)
            .order_by(run_spans.c.sequence)
            .limit(limit)
        )
        with self._engine.connect() as connection:
            return [_span(row) for row in connection.execute(query)]

    def list(self, *, state: RunState | None = None, workflow: str | None = None, limit: int = 50) -> list[Run]:
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
        query = select(runs).order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(runs.c.state == state.value)
        if workflow is not None:
            if "\x00" in workflow:
                return []
            query = query.where(runs.c.workflow == workflow)
        with self._engine.connect() as connection:
            return [_run(row) for row in connection.execute(query)]
