"""Step ``summarise``: the run's result, counts and tickets (keys and links), and its summary in words.

:func:`scan_result` also gives the partial result of a run that stopped or failed before this step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.orchestrator.workflow import Checkpoint, StepContext

CREATED = ("created", "linked")
UPDATED = ("updated", "commented", "reopened")


def scan_result(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """What a scan did, from its checkpoint as far as it got (JSON)."""
    if isinstance(checkpoint.get("result"), Mapping):
        return dict(checkpoint["result"])
    sync = checkpoint.get("sync") or {}
    check = checkpoint.get("check") or {}
    triage = checkpoint.get("triage") or {}
    filed = checkpoint.get("file") or {}
    tickets: list[dict[str, Any]] = list(filed.get("tickets", ()))
    actions = [t["action"] for t in tickets]
    dropped = list(triage.get("dropped", ()))
    left_over = list(filed.get("left_over", ()) or (checkpoint.get("inspect") or {}).get("left_over", ()))
    return {
        "repository": sync.get("repository"),
        "commit": check.get("commit") or sync.get("commit"),
        "since": check.get("since"),
        "dry_run": bool(filed.get("dry_run", False)),
        "steps_done": [name for name in ("sync", "check", "triage", "inspect", "write", "file") if name in checkpoint],
        "files_checked": check.get("files_checked", 0),
        "findings": triage.get("findings", len(check.get("findings", ()))),
        "suppressed": check.get("suppressed", 0),
        "groups": len(triage.get("groups", ())),
        "created": sum(1 for a in actions if a in CREATED),
        "updated": sum(1 for a in actions if a in UPDATED),
        "skipped": sum(1 for a in actions if a in ("skipped", "denied")) + len(dropped),
        "already_ticketed": len(dropped),
        "drafted": sum(1 for a in actions if a == "drafted"),
        "denied": sum(1 for a in actions if a == "denied"),
        "not_filed": sum(1 for a in actions if a == "not_filed") + len(left_over),
        "tickets": tickets,
        "dropped": dropped,
        "skipped_checkers": list(check.get("skipped", ())),
    }


@dataclass(frozen=True)
class SummariseStep:
    name: str = "summarise"

    def run(self, ctx: StepContext) -> Checkpoint:
        result = scan_result(ctx.checkpoint)
        variables = {**result, "stopped_by": None}
        written = ctx.services.planner.write_summary(variables, recorder=ctx.recorder, budget=ctx.budget)
        return {"result": {**result, "text": written.text}}
