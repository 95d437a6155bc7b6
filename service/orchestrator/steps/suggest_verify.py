"""Step ``verify`` of the suggest workflow: ``git apply --check`` of each proposed diff at the indexed commit.

Run in a scratch checkout of that commit (the user's tree is never touched). A diff that does not apply is
dropped, with git's reason kept for the comment and the trace: it is never posted as if it applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.orchestrator.steps.suggest_git import apply_check, scratch_checkout
from service.orchestrator.workflow import Checkpoint, StepContext

ACTION = "git.applyCheck"


@dataclass(frozen=True)
class VerifyStep:
    scratch_parent: Path
    name: str = "verify"

    def run(self, ctx: StepContext) -> Checkpoint:
        retrieved, proposed = ctx.checkpoint["retrieve"], ctx.checkpoint["propose"]
        candidates = {"mechanical": proposed["mechanical"]["diff"]}
        model = proposed.get("model")
        if model and model.get("diff"):
            candidates["model"] = model["diff"]
        checks: dict[str, Any] = {}
        wanted = {name: diff for name, diff in candidates.items() if diff}
        if wanted:
            ctx.services.echo("checking the diff applies at the indexed commit")
            with scratch_checkout(Path(retrieved["git_dir"]), retrieved["commit"], self.scratch_parent) as root:
                for name, diff in wanted.items():
                    with ctx.recorder.tool(ACTION, {"diff": name, "commit": retrieved["commit"]}) as call:
                        check = apply_check(root, diff)
                        call.observation = check.as_dict()
                        if not check.applies:
                            call.status = "error"
                    checks[name] = check.as_dict()
                    if not check.applies:
                        ctx.recorder.rationale(f"the {name} diff is dropped: {check.reason}")
        return {"verify": checks}
