"""The suggest workflow: read a Jira ticket, retrieve the code it is about, propose the change as a unified
diff against the indexed commit, check that it applies, and post it on the ticket as a comment with citations.

Steps (``service/orchestrator/steps/suggest_*.py``): ``read_ticket``, ``retrieve``, ``propose``, ``verify``,
``comment``. Without a model the proposal is ruff's mechanical fixes in the cited files, and the comment says
no model was used. Run parameters: ``issue`` (the key), ``dry_run``; the run's ``repository`` is an indexed
repository's name (None: the only one indexed).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.domain.action_calls import Trigger
from service.domain.runs import Budget, Run
from service.orchestrator.prompts import PromptLibrary
from service.orchestrator.steps.suggest_comment import CommentStep, chosen, dropped_model_reason
from service.orchestrator.steps.suggest_propose import ProposeStep
from service.orchestrator.steps.suggest_read import ReadTicketStep, issue_key
from service.orchestrator.steps.suggest_retrieve import RetrieveStep
from service.orchestrator.steps.suggest_verify import VerifyStep
from service.orchestrator.workflow import Workflow
from service.ports.llm import LLM

SUGGEST = "suggest"
STEPS = ("read_ticket", "retrieve", "propose", "verify", "comment")


def suggest_result(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """What a suggest run did, from its checkpoint as far as it got (JSON)."""
    ticket = checkpoint.get("read_ticket") or {}
    retrieved = checkpoint.get("retrieve") or {}
    proposed = checkpoint.get("propose") or {}
    comment = checkpoint.get("comment") or {}
    suggestion = chosen(checkpoint) if "verify" in checkpoint else None
    return {
        "issue": ticket.get("key"),
        "issue_url": ticket.get("url"),
        "repository": retrieved.get("repository"),
        "commit": retrieved.get("commit"),
        "steps_done": [name for name in STEPS if name in checkpoint],
        "model_id": proposed.get("model_id"),
        "model_used": bool(proposed.get("model")),
        "suggestion": suggestion.kind if suggestion else None,
        "files": list(suggestion.files) if suggestion else [],
        "diff": suggestion.diff if suggestion else "",
        "model_diff_dropped": dropped_model_reason(checkpoint) if "verify" in checkpoint else None,
        "citations": [
            {k: c.get(k) for k in ("path", "start_line", "end_line", "symbol", "link")}
            for c in retrieved.get("citations", ())
        ],
        "comment": {k: comment.get(k) for k in ("action", "id", "reason", "marker")} if comment else None,
        "dry_run": bool(comment.get("dry_run", False)),
    }


def suggest_workflow(
    *,
    llm: LLM | None,
    prompts: PromptLibrary,
    scratch_parent: Path,
    max_tokens: int = 4096,
    temperature: float = 0.0,
) -> Workflow:
    """The suggest workflow over ``llm`` (None: no model), its prompts, scratch checkouts under
    ``scratch_parent``."""
    return Workflow(
        name=SUGGEST,
        steps=(
            ReadTicketStep(),
            RetrieveStep(),
            ProposeStep(
                llm=llm,
                prompts=prompts,
                scratch_parent=scratch_parent,
                max_tokens=max_tokens,
                temperature=temperature,
            ),
            VerifyStep(scratch_parent=scratch_parent),
            CommentStep(),
        ),
        result=suggest_result,
    )


def new_suggest_run(
    *,
    issue: str,
    repository: str | None,
    dry_run: bool,
    trigger: Trigger,
    principal: str,
    budget: Budget,
    planner: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> Run:
    """A QUEUED suggest run for the ticket ``issue``; :class:`InvalidInput` for a malformed key."""
    return Run.new(
        id=new_id(),
        workflow=SUGGEST,
        trigger=trigger,
        principal=principal,
        repository=repository,
        parameters={"issue": issue_key(issue), "dry_run": dry_run},
        budget=budget,
        planner=planner,
        now=clock(),
    )
