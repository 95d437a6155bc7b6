"""Step ``propose`` of the suggest workflow: the change, as a unified diff against the indexed commit.

Always: the mechanical fixes ruff offers in the cited Python files (:func:`ruff_fixes`, in a scratch checkout
of the indexed commit; the user's tree is never touched). With a model: the model reads the ticket (as
untrusted data) and the retrieved code, may look further with the read-only codebase tools, and answers with
an explanation and one ``diff`` block. Whether either diff applies is the ``verify`` step's to say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.guardrails.untrusted import UNTRUSTED_DATA_RULE, as_data
from service.orchestrator.agent_loop import run_agent
from service.orchestrator.model_planner import CodebaseTools
from service.orchestrator.prompts import PromptLibrary
from service.orchestrator.steps.suggest_fixes import ruff_fixes
from service.orchestrator.steps.suggest_git import normalised, scratch_checkout
from service.orchestrator.workflow import Checkpoint, StepContext, require
from service.ports.llm import LLM

SYSTEM_PROMPT = "suggest_system"
USER_PROMPT = "suggest"
FIX_FILES = 5
DIFF_CHARS = 60_000
_DIFF_BLOCK = re.compile(r"```(?:diff|patch|udiff)[ \t]*\n(?P<diff>.*?)(?:\n)?```", re.DOTALL)
_NO_CHANGE = re.compile(r"^\s*NO_CHANGE\s*:\s*(?P<why>.+)$", re.MULTILINE)


def parse_answer(text: str) -> tuple[str, str, str | None]:
    """``(explanation, diff, why_none)`` from a model's answer: the first ``diff`` block (:func:`normalised`),
    the text around it, and the reason when there is no diff."""
    match = _DIFF_BLOCK.search(text)
    if match is None:
        declined = _NO_CHANGE.search(text)
        why = f"the model proposed no change: {declined.group('why').strip()}" if declined else None
        return text.strip(), "", why or "the model's answer has no ```diff block"
    diff = normalised(match.group("diff"))
    explanation = (text[: match.start()] + text[match.end() :]).strip()
    if not diff.strip():
        return explanation, "", "the model's ```diff block is empty"
    return explanation, diff, None


@dataclass(frozen=True)
class ProposeStep:
    """``llm`` None: no model is configured, only the mechanical fixes are proposed (and the comment says so)."""

    llm: LLM | None
    prompts: PromptLibrary
    scratch_parent: Path
    max_turns: int = 6
    max_tokens: int = 4096
    temperature: float = 0.0
    name: str = "propose"

    def run(self, ctx: StepContext) -> Checkpoint:
        retrieved = ctx.checkpoint["retrieve"]
        files = list(dict.fromkeys([*retrieved["named_files"], *(c["path"] for c in retrieved["citations"])]))
        files = files[:FIX_FILES]
        require(ctx, "quality.check")
        ctx.services.echo("asking ruff for the mechanical fixes in " + (", ".join(files) or "no file"))
        with ctx.recorder.tool("quality.check", {"files": files, "fixes": "ruff --fix --diff (safe fixes)"}) as call:
            with scratch_checkout(Path(retrieved["git_dir"]), retrieved["commit"], self.scratch_parent) as root:
                mechanical = ruff_fixes(root, files)
            call.observation = {
                "files": list(mechanical.files),
                "findings": len(mechanical.findings),
                "diff_lines": len(mechanical.diff.splitlines()),
                "unavailable": mechanical.unavailable,
            }
        fixes = mechanical.as_dict()
        fixes["findings"] = [{**f, "message": ctx.services.redact(f["message"])} for f in fixes["findings"]]
        model: dict[str, Any] | None = None
        if self.llm is None:
            ctx.recorder.rationale(
                "no language model is configured: the suggestion is the relevant code and ruff's mechanical fixes"
            )
        else:
            model = self._ask(ctx, self.llm, mechanical.diff)
        return {"propose": {"model_id": self.llm.model_id if self.llm else None, "mechanical": fixes, "model": model}}

    def _ask(self, ctx: StepContext, llm: LLM, mechanical_diff: str) -> dict[str, Any]:
        ticket, retrieved = ctx.checkpoint["read_ticket"], ctx.checkpoint["retrieve"]
        repository, commit = retrieved["repository"], retrieved["commit"]
        system_prompt, system = self.prompts.render(SYSTEM_PROMPT, {"repository": repository, "commit": commit})
        variables = {
            "key": ticket["key"],
            "repository": repository,
            "commit": commit,
            "summary": as_data(f"the summary of {ticket['key']}", ticket["summary"]),
            "description": as_data(f"the description of {ticket['key']}", ticket["description"] or "(empty)"),
            "citations": [
                {
                    **c,
                    "snippet_data": as_data(f"code at {c['path']}:{c['start_line']}-{c['end_line']}", c["snippet"]),
                }
                for c in retrieved["citations"]
            ],
            "mechanical_diff": as_data("ruff's safe fixes in those files", mechanical_diff) if mechanical_diff else "",
        }
        user_prompt, user_text = self.prompts.render(USER_PROMPT, variables)
        tools = CodebaseTools(ctx.services.knowledge, repository, ctx.recorder).tools()
        ctx.recorder.rationale(
            f"{llm.model_id} proposes the change for {ticket['key']} ({system_prompt.ref}, {user_prompt.ref}; "
            f"tools: {', '.join(t.action_name for t in tools.values())})"
        )
        ctx.services.echo(f"{llm.model_id} is writing the change")
        outcome = run_agent(
            llm,
            system=f"{system.strip()}\n\n{UNTRUSTED_DATA_RULE}",
            user_text=user_text,
            tools=tools,
            recorder=ctx.recorder,
            meter=ctx.budget,
            prompt_name=user_prompt.name,
            prompt_version=user_prompt.version,
            max_turns=self.max_turns,
            allow=ctx.services.allow,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
        )
        gate = ctx.services.redact
        base = {
            "prompt": user_prompt.name,
            "prompt_version": user_prompt.version,
            "stop": outcome.stop,
            "input_tokens": outcome.usage.input_tokens,
            "output_tokens": outcome.usage.output_tokens,
        }
        if not outcome.finished:
            why = f"the model did not finish its answer ({outcome.stop})"
            ctx.recorder.rationale(f"no model diff: {why}")
            return {**base, "explanation": "", "diff": "", "dropped": why}
        explanation, diff, why_none = parse_answer(outcome.final_text)
        if len(diff) > DIFF_CHARS:
            diff, why_none = "", f"the model's diff is longer than {DIFF_CHARS} characters"
        if why_none:
            ctx.recorder.rationale(f"no model diff: {why_none}")
        # The diff is kept as written: redacting inside it would stop it applying, and the tracker's own gate
        # still redacts the comment it goes into.
        return {**base, "explanation": gate(explanation), "diff": diff, "dropped": why_none}
