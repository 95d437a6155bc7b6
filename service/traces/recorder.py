"""The trace recorder: turns what a run does into spans in the run store, as it happens.

Spans are written when they end (one store call each), so a worker killed mid-step leaves every finished
span behind. Every attribute passes ``scrub`` (the redaction gate) before it is stored or exported.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from service.domain.runs import Span, SpanKind
from service.ports.run_store import RunStore

Scrub = Callable[[Any], Any]


class SpanSink(Protocol):
    """Receives every span after it is stored (e.g. the OpenTelemetry exporter). Must not raise."""

    def emit(self, span: Span) -> None: ...


def _unchanged(value: Any) -> Any:
    return value


@dataclass
class ToolCall:
    """An action in progress: set ``observation`` (and ``status`` on failure) before the block ends."""

    action: str
    input: Mapping[str, Any]
    observation: Any = None
    status: str = "ok"
    extra: dict[str, Any] = field(default_factory=dict)


class TraceRecorder:
    """Records the spans of one run.

    ``step(name)`` opens a step: its spans share the trace id ``<run id>-<n>`` (n counts the run's steps,
    across resumes) and a STEP span closes it with its duration and status. Sequences continue from the
    spans already stored, so a resumed run appends after what its earlier attempts recorded.
    """

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        *,
        scrub: Scrub = _unchanged,
        sinks: Sequence[SpanSink] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self.run_id = run_id
        self._scrub = scrub
        self._sinks = tuple(sinks)
        self._clock = clock
        existing = store.spans(run_id)
        self._next = existing[-1].sequence + 1 if existing else 0
        self._steps = sum(1 for span in existing if span.kind is SpanKind.STEP)
        self._trace_id = f"{run_id}-{self._steps}"

    @property
    def trace_id(self) -> str:
        """The current step's trace id (spans recorded outside a step use the next step's id)."""
        return self._trace_id

    def record(
        self,
        kind: SpanKind,
        name: str,
        attributes: Mapping[str, Any],
        *,
        started_at: datetime | None = None,
        duration_ms: float = 0.0,
        status: str = "ok",
    ) -> Span:
        """Store one span now and hand it to the sinks; returns it as stored (attributes scrubbed)."""
        span = Span(
            run_id=self.run_id,
            sequence=self._next,
            trace_id=self._trace_id,
            kind=kind,
            name=name,
            started_at=started_at or self._clock(),
            duration_ms=round(duration_ms, 3),
            status=status,
            attributes=self._scrub(dict(attributes)),
        )
        self._next += 1
        self._store.append_spans([span])
        for sink in self._sinks:
            sink.emit(span)
        return span

    @contextlib.contextmanager
    def step(self, name: str, **attributes: Any) -> Iterator[None]:
        """Bracket one workflow step; an exception escaping it is recorded (FAILURE, STEP status error) and
        re-raised."""
        self._trace_id = f"{self.run_id}-{self._steps}"
        started, began = self._clock(), time.perf_counter()
        status = "ok"
        try:
            yield
        except BaseException as exc:
            status = "error"
            self.failure(error=f"{type(exc).__name__}: {exc}", where=name)
            raise
        finally:
            self.record(
                SpanKind.STEP,
                name,
                attributes,
                started_at=started,
                duration_ms=(time.perf_counter() - began) * 1000,
                status=status,
            )
            self._steps += 1
            self._trace_id = f"{self.run_id}-{self._steps}"

    def rationale(self, text: str) -> Span:
        """Why the next thing is done, in words."""
        return self.record(SpanKind.RATIONALE, "rationale", {"text": text})

    @contextlib.contextmanager
    def tool(self, action: str, input: Mapping[str, Any]) -> Iterator[ToolCall]:
        """Bracket one action (``<group>.<operationId>`` or a workflow action such as ``tickets.file``); an
        exception is recorded as the observation with status error and re-raised."""
        call = ToolCall(action=action, input=input)
        started, began = self._clock(), time.perf_counter()
        try:
            yield call
        except BaseException as exc:
            call.status = "error"
            call.observation = {"error": f"{type(exc).__name__}: {exc}"}
            raise
        finally:
            self.record(
                SpanKind.TOOL,
                action,
                {"action": action, "input": dict(input), "observation": call.observation, **call.extra},
                started_at=started,
                duration_ms=(time.perf_counter() - began) * 1000,
                status=call.status,
            )

    def model(
        self,
        *,
        model_id: str,
        prompt: str,
        prompt_version: str,
        input_tokens: int,
        output_tokens: int,
        stop_reason: str,
        duration_ms: float,
        input_text: str = "",
        output_text: str = "",
        started_at: datetime | None = None,
    ) -> Span:
        """One model call (or, with model_id ``deterministic``, one template rendered without a model)."""
        return self.record(
            SpanKind.MODEL,
            "chat",
            {
                "model_id": model_id,
                "prompt": prompt,
                "prompt_version": prompt_version,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "stop_reason": stop_reason,
                "input_text": input_text,
                "output_text": output_text,
            },
            started_at=started_at,
            duration_ms=duration_ms,
        )

    def retrieval(
        self, *, query: str, citations: Sequence[Mapping[str, Any]], duration_ms: float, repository: str | None = None
    ) -> Span:
        """A knowledge-base lookup and the chunks it cited (path, start_line, end_line, symbol, commit, score)."""
        return self.record(
            SpanKind.RETRIEVAL,
            "retrieval",
            {"query": query, "repository": repository, "citations": [dict(c) for c in citations]},
            duration_ms=duration_ms,
        )

    def guardrail(self, *, decision: str, action: str, reason: str) -> Span:
        """An allow, deny or redact decision about ``action``."""
        status = "error" if decision == "deny" else "ok"
        return self.record(
            SpanKind.GUARDRAIL, "guardrail", {"decision": decision, "action": action, "reason": reason}, status=status
        )

    def failure(self, *, error: str, where: str) -> Span:
        """Something failed at ``where``; the run may go on or end, the caller decides."""
        return self.record(SpanKind.FAILURE, "failure", {"error": error, "where": where}, status="error")
