"""Chat: questions about the codebase answered with citations, action groups as tools, writes confirmed first.

Every turn is a run (workflow ``chat``, trigger ``chat``) with its trace; the session's messages are kept in
the chat store, so a session outlives the process. A turn whose model asks for a write (or, without a model, a
message the rule parser reads as one) pauses: the run is saved ``PAUSED`` with the action in
``pending_confirmation`` and the loop's state in the checkpoint, and the answer asks for a confirmation. The
confirming call -- ``POST /v1/chat`` with ``confirm`` or the ``confirmRun`` operation, in any process --
approves it (the action runs and the turn goes on) or refuses it (the run is cancelled, the model is told).

Without a model the answer is the knowledge-base passages that match the message, with citations, and says
plainly that no model wrote it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from service.domain.action_calls import Trigger
from service.domain.chat import ChatMessage
from service.domain.llm import Message, TextBlock, ToolUse
from service.domain.principals import Principal
from service.domain.runs import Run, RunState
from service.errors import Conflict, InvalidInput, NotFound, TicketsmithError
from service.guardrails.policy import Decision
from service.knowledge_base.library import KnowledgeBase
from service.orchestrator.budget import BudgetMeter, BudgetSpent
from service.orchestrator.chat_loop import (
    ChatTool,
    Emit,
    LoopEnd,
    LoopState,
    confirmation_event,
    pieces,
    run_loop,
)
from service.orchestrator.prompts import PromptLibrary
from service.orchestrator.runs import CONFIRMATION, DETERMINISTIC, PENDING_CONFIRMATION, RunService
from service.ports.chat_store import ChatStore
from service.ports.llm import LLM
from service.ports.run_store import RunStore
from service.traces.recorder import Scrub, SpanSink, TraceRecorder

log = logging.getLogger(__name__)

CHAT = "chat"
"""The workflow name of chat turns' runs."""

SYSTEM_PROMPT = "chat_system"
STATE = "chat"  # checkpoint key of the turn's loop state
SEARCH_HITS = 5
_CREATE = re.compile(r"^\s*create (?:a )?(?:ticket|issue)\s*:\s*(?P<summary>\S.*)$", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(
    r"^\s*comment on (?P<key>[A-Za-z][A-Za-z0-9_]*-\d+)\s*:\s*(?P<body>\S.*)$", re.IGNORECASE | re.DOTALL
)

ToolsFor = Callable[[Principal], Mapping[str, ChatTool]]
"""The tools a caller may use in chat (the action groups their key may call), keyed by tool name."""


def _ignore(event: str, data: dict[str, Any]) -> None:
    return None


def _identity(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    """What a turn answered: its run (``state`` ``succeeded``, ``paused`` when it waits for ``confirmation``,
    ``cancelled`` after a refusal, ``stopped`` when the budget ran out), the text and its citations."""

    session_id: str
    run_id: str
    state: str
    text: str
    citations: tuple[dict[str, Any], ...] = ()
    confirmation: dict[str, Any] | None = None
    model: str | None = None  # None: no model was used

    def as_json(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "runId": self.run_id,
            "state": self.state,
            "answer": self.text,
            "citations": list(self.citations),
            "confirmation": self.confirmation,
            "model": self.model,
        }


@dataclass
class _Turn:
    run: Run
    session_id: str
    principal: Principal
    emit: Emit
    recorder: TraceRecorder
    meter: BudgetMeter
    citations: list[dict[str, Any]] = field(default_factory=list)


class ChatService:
    """Chat turns over ``store`` (sessions), ``runs`` (one run per turn) and ``llm`` (None: no model).

    Blocking: call it from a worker thread. ``tools_for`` gives a caller's tools; ``decide(action)`` is the
    guardrail policy for the ``chat`` trigger.
    """

    def __init__(
        self,
        *,
        store: ChatStore,
        runs: RunService,
        run_store: RunStore,
        knowledge: KnowledgeBase,
        llm: LLM | None,
        tools_for: ToolsFor,
        decide: Callable[[str], Decision],
        prompts: PromptLibrary,
        scrub: Scrub = _identity,
        sinks: Sequence[SpanSink] = (),
        history: int = 20,
        max_turns: int = 8,
        max_tokens: int = 2048,
        temperature: float = 0.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._runs = runs
        self._run_store = run_store
        self._knowledge = knowledge
        self._llm = llm
        self._tools_for = tools_for
        self._decide = decide
        self._prompts = prompts
        self._scrub = scrub
        self._sinks = tuple(sinks)
        self._history = history
        self._max_turns = max_turns
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._clock = clock

    # --- requests -------------------------------------------------------------------------------------------

    def open(self, session_id: str, principal: Principal) -> None:
        """Check the caller may use ``session_id`` (creating it): :class:`service.errors.Forbidden` if another
        key's."""
        self._store.open(session_id=session_id, principal=principal.name, now=self._clock())

    def history(self, session_id: str, principal: Principal) -> list[ChatMessage]:
        """The session's messages, oldest first. Raises NotFound, or Forbidden for another key's session."""
        session = self._store.get(session_id=session_id)
        self._store.open(session_id=session.id, principal=principal.name, now=session.updated_at)
        return self._store.messages(session_id=session_id, limit=1000)

    def waiting_run(self, session_id: str, run_id: str, principal: Principal) -> Run:
        """The run of ``session_id`` waiting for a confirmation. Raises NotFound (unknown session, or a run that
        is not one of its turns), Forbidden (another key's session) and Conflict (the run waits for nothing)."""
        session = self._store.get(session_id=session_id)
        self._store.open(session_id=session.id, principal=principal.name, now=session.updated_at)
        run = self._run_store.get(run_id)
        if run.workflow != CHAT or run.parameters.get("session_id") != session_id:
            raise NotFound(f"run {run_id!r} is not a turn of chat session {session_id!r}")
        if run.state is not RunState.PAUSED or PENDING_CONFIRMATION not in run.checkpoint:
            raise Conflict(
                f"run {run_id} is {run.state.value} and waits for no confirmation",
                hint="only the latest turn that asked for a confirmation can be approved or refused",
            )
        return run

    def ask(self, session_id: str, text: str, principal: Principal, emit: Emit = _ignore) -> ChatAnswer:
        """Answer ``text`` in ``session_id`` (created for ``principal`` if new). Raises InvalidInput for an empty
        message, Forbidden for another key's session; a model's failure ends the run FAILED and propagates."""
        if not text.strip():
            raise InvalidInput("the message is empty", hint='send {"sessionId": ..., "message": "your question"}')
        now = self._clock()
        self._store.open(session_id=session_id, principal=principal.name, now=now)
        earlier = self._store.messages(session_id=session_id, limit=self._history)
        run = self._runs.begin(
            workflow=CHAT,
            trigger=Trigger.CHAT,
            principal=principal.name,
            parameters={"session_id": session_id, "message": text, "scopes": _scopes(principal)},
            planner=self._llm.model_id if self._llm is not None else DETERMINISTIC,
        )
        self._store.append(session_id=session_id, role="user", text=text, run_id=run.id, now=now)
        turn = self._turn(run, session_id, principal, emit)
        if self._llm is None:
            return self._guard(turn, lambda: self._answer_without_model(turn, text))
        state = LoopState(messages=[*_conversation(earlier), Message(role="user", content=(TextBlock(text),))])
        return self._guard(turn, lambda: self._continue(turn, state))

    def confirm(self, run_id: str, approve: bool, principal: Principal, emit: Emit = _ignore) -> ChatAnswer:
        """Approve or refuse the action the turn ``run_id`` waits for, and finish the turn. Raises NotFound and
        Conflict (:meth:`RunService.decide`)."""
        run, decided = self._runs.decide(run_id, approve, principal.name)
        if not decided:
            return self._answer_of(run)
        return self.resume(run, emit=emit, by=principal.name)

    def resume(self, run: Run, *, emit: Emit = _ignore, by: str | None = None) -> ChatAnswer:
        """Finish a turn a person decided on (:meth:`RunService.decide` saved the decision on ``run``)."""
        decision = run.checkpoint.get(CONFIRMATION) or {}
        session_id = str(run.parameters.get("session_id", ""))
        principal = _principal(run)
        approved = decision.get("approved") is True
        by = by or str(decision.get("by", "someone"))
        if approved:
            run = self._run_store.save(replace(run, state=RunState.RUNNING, updated_at=self._clock()))
        turn = self._turn(run, session_id, principal, emit)
        saved = run.checkpoint.get(STATE) or {}
        if saved.get("deterministic"):
            return self._guard(turn, lambda: self._resume_without_model(turn, saved, approved, by))
        state = LoopState.of_json(saved)
        waiting = state.pending[0].tool_use_id if state.pending else None
        if approved:
            return self._guard(turn, lambda: self._continue(turn, state, approved=waiting))
        return self._guard(turn, lambda: self._continue(turn, state, refused=by))

    def resumer(self, run: Run) -> Run:
        """For :meth:`RunService.resume_with`: finish an approved turn (``confirmRun``), return its run."""
        answer = self.resume(run)
        return self._run_store.get(answer.run_id)

    # --- turns ----------------------------------------------------------------------------------------------

    def _turn(self, run: Run, session_id: str, principal: Principal, emit: Emit) -> _Turn:
        recorder = TraceRecorder(self._run_store, run.id, scrub=self._scrub, sinks=self._sinks, clock=self._clock)
        return _Turn(run, session_id, principal, emit, recorder, BudgetMeter(run.budget, run.usage))

    def _guard(self, turn: _Turn, work: Callable[[], ChatAnswer]) -> ChatAnswer:
        """Run ``work``; a spent budget ends the turn STOPPED, any error FAILED (and propagates)."""
        try:
            return work()
        except BudgetSpent as spent:
            text = f"I stopped: this turn's {spent.limit} budget is spent."
            turn.recorder.rationale(text)
            return self._finish(turn, text, RunState.STOPPED, model=self._model_id())
        except BaseException as exc:
            reason = exc.message if isinstance(exc, TicketsmithError) else f"{type(exc).__name__}: {exc}"
            turn.recorder.failure(error=reason, where="chat")
            self._end(turn, RunState.FAILED, result=None, error=reason)
            raise

    def _continue(
        self, turn: _Turn, state: LoopState, *, approved: str | None = None, refused: str | None = None
    ) -> ChatAnswer:
        assert self._llm is not None
        prompt, system = self._prompts.render(SYSTEM_PROMPT, {"tools": True})
        tools = self._tools_for(turn.principal)
        with turn.recorder.step("chat"):
            end = run_loop(
                self._llm,
                state,
                system=system,
                tools=tools,
                decide=self._decide,
                recorder=turn.recorder,
                meter=turn.meter,
                emit=turn.emit,
                prompt=(prompt.name, prompt.version),
                max_turns=self._max_turns,
                approved=approved,
                refused=refused,
                max_tokens=self._max_tokens,
                temperature=self._temperature,
            )
        turn.citations = state.citations
        if end.stop == "paused":
            return self._pause(turn, end, {STATE: state.as_json()}, state.text)
        final = RunState.CANCELLED if refused is not None else RunState.SUCCEEDED
        text = state.text or _no_text(end)
        return self._finish(turn, text, final, model=self._llm.model_id, stop=end.stop)

    def _pause(self, turn: _Turn, end: LoopEnd, checkpoint: dict[str, Any], said: str) -> ChatAnswer:
        assert end.waiting is not None
        waiting = end.waiting
        run = replace(turn.run, usage=turn.meter.usage)
        paused = self._runs.pause(run, action=end.action, input=waiting.input, reason=end.reason, **checkpoint)
        turn.run = paused
        event = confirmation_event(paused.id, end.action, waiting.input, end.reason)
        note = f"needs confirmation: {end.action} {_compact(waiting.input)} (run {paused.id})"
        text = f"{said.rstrip()}\n\n{note}" if said.strip() else note
        for piece in pieces(("\n\n" if said.strip() else "") + note):
            turn.emit("delta", {"text": piece})
        turn.emit("confirmation", event)
        self._store.append(
            session_id=turn.session_id,
            role="assistant",
            text=text,
            run_id=paused.id,
            citations=tuple(turn.citations),
            now=self._clock(),
        )
        return ChatAnswer(
            session_id=turn.session_id,
            run_id=paused.id,
            state=paused.state.value,
            text=text,
            citations=tuple(turn.citations),
            confirmation=event,
            model=self._model_id(),
        )

    def _finish(
        self, turn: _Turn, text: str, state: RunState, *, model: str | None, stop: str = "end_turn"
    ) -> ChatAnswer:
        citations = tuple(turn.citations)
        run = self._end(
            turn,
            state,
            result={"answer": text, "citations": list(citations), "session_id": turn.session_id, "stop": stop},
            error=turn.run.error if state is RunState.CANCELLED else None,
        )
        self._store.append(
            session_id=turn.session_id,
            role="assistant",
            text=text,
            run_id=run.id,
            citations=citations,
            now=self._clock(),
        )
        return ChatAnswer(turn.session_id, run.id, run.state.value, text, citations, None, model)

    def _end(self, turn: _Turn, state: RunState, *, result: dict[str, Any] | None, error: str | None) -> Run:
        """Save the turn's run as ended; one cancelled meanwhile keeps its cancellation (and gets the result)."""
        for _ in range(5):
            run = turn.run
            now = self._clock()
            final = state if not run.state.terminal else run.state
            try:
                turn.run = self._run_store.save(
                    replace(
                        run,
                        state=final,
                        result=result,
                        error=error or run.error,
                        usage=turn.meter.usage,
                        step=None,
                        updated_at=now,
                        finished_at=run.finished_at or now,
                    )
                )
                return turn.run
            except Conflict:
                turn.run = self._run_store.get(run.id)
        log.warning("chat run %s kept changing; its answer is in the session only", turn.run.id)
        return turn.run

    def _answer_of(self, run: Run) -> ChatAnswer:
        result = run.result or {}
        return ChatAnswer(
            session_id=str(run.parameters.get("session_id", "")),
            run_id=run.id,
            state=run.state.value,
            text=str(result.get("answer", run.error or "")),
            citations=tuple(result.get("citations", ())),
            model=None if run.planner == DETERMINISTIC else run.planner,
        )

    def _model_id(self) -> str | None:
        return self._llm.model_id if self._llm is not None else None

    # --- without a model ------------------------------------------------------------------------------------

    def _answer_without_model(self, turn: _Turn, text: str) -> ChatAnswer:
        wanted = _rule(text)
        if wanted is not None:
            name, tool_input = wanted
            tool = self._tools_for(turn.principal).get(name)
            if tool is None:
                answer = f"No model is configured, and your key may not use {name.replace('_', '.', 1)}."
                return self._say(turn, answer, RunState.SUCCEEDED)
            decision = self._decide(tool.action)
            if not decision.allowed:
                turn.recorder.guardrail(decision="deny", action=tool.action, reason=decision.reason)
                return self._say(turn, f"{tool.action} is not allowed here: {decision.reason}", RunState.SUCCEEDED)
            use = ToolUse(tool_use_id="rule-0", name=name, input=tool_input)
            if decision.needs_confirmation:
                turn.recorder.guardrail(decision="confirm", action=tool.action, reason=decision.reason)
                end = LoopEnd("paused", waiting=use, action=tool.action, reason=decision.reason)
                saved = {"deterministic": True, "tool": name, "input": tool_input}
                return self._pause(turn, end, {STATE: saved}, "No model is configured; I read your message as:")
            return self._run_rule(turn, name, tool_input)
        return self._search(turn, text)

    def _search(self, turn: _Turn, text: str) -> ChatAnswer:
        lead = "No model is configured, so no model wrote this answer."
        try:
            repository = self._knowledge.default_repository(None)
            began = time.perf_counter()
            found = self._knowledge.search(text, repository=repository, k=SEARCH_HITS)
        except TicketsmithError as exc:
            hint = f" ({exc.hint})" if exc.hint else ""
            return self._say(turn, f"{lead} The knowledge base could not be searched: {exc.message}{hint}.")
        commit = found.repository.commit or ""
        citations = [
            {
                "path": hit.chunk.path,
                "start_line": hit.chunk.start_line,
                "end_line": hit.chunk.end_line,
                "symbol": hit.chunk.symbol,
                "commit": hit.chunk.commit or commit,
            }
            for hit in found.hits
        ]
        turn.recorder.retrieval(
            query=text,
            repository=repository,
            duration_ms=(time.perf_counter() - began) * 1000,
            citations=[{**c, "score": round(h.score, 4)} for c, h in zip(citations, found.hits, strict=True)],
        )
        if not citations:
            return self._say(turn, f"{lead} Nothing in {repository} matches your message.")
        lines = [f"{lead} These passages of {repository} match your message best:"]
        for number, (citation, hit) in enumerate(zip(citations, found.hits, strict=True), start=1):
            symbol = f" ({citation['symbol']})" if citation["symbol"] else ""
            first = next((line.strip() for line in hit.chunk.text.splitlines() if line.strip()), "")
            lines.append(
                f"{number}. {citation['path']}:{citation['start_line']}-{citation['end_line']}{symbol}"
                f" @ {str(citation['commit'])[:12]}: {first[:120]}"
            )
        turn.citations = citations
        for citation in citations:
            turn.emit("citation", citation)
        return self._say(turn, "\n".join(lines))

    def _resume_without_model(self, turn: _Turn, saved: Mapping[str, Any], approved: bool, by: str) -> ChatAnswer:
        name = str(saved.get("tool", ""))
        if not approved:
            return self._say(turn, f"{by} refused {name.replace('_', '.', 1)}: nothing was done.", RunState.CANCELLED)
        return self._run_rule(turn, name, dict(saved.get("input") or {}))

    def _run_rule(self, turn: _Turn, name: str, tool_input: dict[str, Any]) -> ChatAnswer:
        tool = self._tools_for(turn.principal).get(name)
        if tool is None:
            raise NotFound(f"the chat tool {name!r} is gone")
        with turn.recorder.tool(tool.action, tool_input) as call:
            try:
                observation = tool.run(tool_input)
            except TicketsmithError as error:
                call.status, call.observation = "error", {"error": error.message}
                return self._say(turn, f"{tool.action} failed: {error.message}")
            call.observation = observation
        return self._say(turn, f"Done (no model was used): {tool.action} answered {_compact(observation)}")

    def _say(self, turn: _Turn, text: str, state: RunState = RunState.SUCCEEDED) -> ChatAnswer:
        for piece in pieces(text):
            turn.emit("delta", {"text": piece})
        return self._finish(turn, text, state, model=None)


def _rule(text: str) -> tuple[str, dict[str, Any]] | None:
    """The tool and input a message asks for in so many words ("create a ticket: ...", "comment on KEY: ...")."""
    created = _CREATE.match(text)
    if created:
        return "jira_createIssue", {"summary": created.group("summary").strip()}
    commented = _COMMENT.match(text)
    if commented:
        return "jira_addComment", {"key": commented.group("key").upper(), "body": commented.group("body").strip()}
    return None


def _conversation(earlier: Sequence[ChatMessage]) -> list[Message]:
    """The session's earlier messages as the model's conversation: it starts with the user and alternates
    (consecutive messages of one role are joined, as Converse requires)."""
    messages: list[Message] = []
    for message in earlier:
        if not messages and message.role != "user":
            continue
        if messages and messages[-1].role == message.role:
            joined = f"{messages[-1].text}\n\n{message.text}"
            messages[-1] = Message(role=message.role, content=(TextBlock(joined),))
        else:
            messages.append(Message(role=message.role, content=(TextBlock(message.text),)))
    if messages and messages[-1].role == "user":
        # An unanswered question (its turn failed): the new message must follow an assistant's.
        messages.append(Message(role="assistant", content=(TextBlock("(no answer)"),)))
    return messages


def _scopes(principal: Principal) -> dict[str, Any]:
    return {
        "name": principal.name,
        "action_groups": sorted(principal.action_groups),
        "jira_projects": sorted(principal.jira_projects),
    }


def _principal(run: Run) -> Principal:
    """The caller who started the turn, with the scopes their key had then: a resumed action runs as them."""
    scopes = run.parameters.get("scopes") or {}
    return Principal(
        name=str(scopes.get("name", run.principal)),
        action_groups=frozenset(scopes.get("action_groups") or ()),
        jira_projects=frozenset(scopes.get("jira_projects") or ()),
    )


def _compact(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 300 else text[:300] + "..."


def _no_text(end: LoopEnd) -> str:
    if end.stop == "max_turns":
        return "I stopped: this turn used all its model calls without a final answer."
    return f"The model ended without an answer ({end.stop})."
