"""Step ``comment`` of the suggest workflow: the suggestion posted on the ticket as one Markdown comment.

The tracker renders Markdown for itself (ADF on Jira Cloud, wiki text on Data Center). The comment holds the
chosen diff in a ``diff`` code block (only one ``git apply --check`` accepted), why a model's diff was dropped,
the code locations cited with commit-pinned links, and a footer with the run and a marker
(``ts-suggest-<fingerprint>`` of the ticket, commit and diff).

Idempotent: before posting, the ticket's comments are searched for the marker, so a run retried after a crash
between posting and saving, or a second run that would say the same, posts nothing new; the posted comment's
id is saved in the checkpoint at once. A dry run posts nothing and keeps the body; a policy that refuses
``jira.addComment`` keeps it too, with the reason.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.orchestrator.links import SHORT_COMMIT, code_link, parse_remote
from service.orchestrator.workflow import Checkpoint, StepContext, guard

ACTION = "jira.addComment"
PROGRESS = "comment_progress"
MARKER_PREFIX = "ts-suggest-"
FINDINGS_SHOWN = 10
POSTED_DIFF_CHARS = 20_000  # well inside Jira's 32,767 characters once the rest of the comment is added
_BACKTICKS = re.compile(r"`{3,}")


@dataclass(frozen=True)
class Suggestion:
    """What the comment proposes: ``kind`` is ``model``, ``mechanical`` or ``none``."""

    kind: str
    diff: str
    files: tuple[str, ...]
    check: str


def chosen(checkpoint: Mapping[str, Any]) -> Suggestion:
    """The model's diff when it applies, else ruff's when it applies, else none."""
    proposed, verified = checkpoint.get("propose") or {}, checkpoint.get("verify") or {}
    model = proposed.get("model") or {}
    for kind, diff in (("model", model.get("diff")), ("mechanical", (proposed.get("mechanical") or {}).get("diff"))):
        check = verified.get(kind) or {}
        if diff and check.get("applies"):
            return Suggestion(kind, str(diff), tuple(check.get("files", ())), str(check.get("reason", "")))
    return Suggestion("none", "", (), "")


def dropped_model_reason(checkpoint: Mapping[str, Any]) -> str | None:
    """Why the model's diff is not posted (None without a model, or when it is posted)."""
    model = (checkpoint.get("propose") or {}).get("model")
    if not model:
        return None
    if model.get("dropped"):
        return str(model["dropped"])
    check = (checkpoint.get("verify") or {}).get("model") or {}
    return None if check.get("applies") else str(check.get("reason") or "it was not checked")


def fingerprint(checkpoint: Mapping[str, Any]) -> str:
    """The suggestion's identity: the ticket, the commit, what is proposed and the code cited."""
    retrieved = checkpoint["retrieve"]
    suggestion = chosen(checkpoint)
    material = "\x1f".join(
        [
            "suggest",
            str(checkpoint["read_ticket"]["key"]),
            str(retrieved.get("commit")),
            suggestion.kind,
            suggestion.diff,
            str(dropped_model_reason(checkpoint) or ""),
            *(f"{c['path']}:{c['start_line']}-{c['end_line']}" for c in retrieved.get("citations", ())),
        ]
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:20]


def _fenced(diff: str, run_id: str) -> str:
    if len(diff) > POSTED_DIFF_CHARS:
        # Jira would cut a longer comment to fit, and a cut diff no longer applies.
        return (
            f"The diff is {len(diff):,} characters, too long for a comment: it is in the run's result "
            f"(`ticketsmith runs show {run_id} --json`)."
        )
    longest = max((len(m.group(0)) for m in _BACKTICKS.finditer(diff)), default=2)
    fence = "`" * max(3, longest + 1)
    return f"{fence}diff\n{diff.rstrip(chr(10))}\n{fence}"


def _where(link: str, text: str) -> str:
    return f"[{text}]({link})" if link.startswith("https://") else f"`{link}`"


def render_comment(checkpoint: Mapping[str, Any], *, run_id: str, marker: str) -> str:
    """The comment's Markdown (see the module docstring)."""
    ticket, retrieved, proposed = checkpoint["read_ticket"], checkpoint["retrieve"], checkpoint["propose"]
    commit = str(retrieved.get("commit") or "")
    short = commit[:SHORT_COMMIT] or "unknown"
    model_id = proposed.get("model_id")
    mechanical = proposed.get("mechanical") or {}
    suggestion = chosen(checkpoint)
    lines = [f"**Ticketsmith suggestion for {ticket['key']}** at commit `{short}` of `{retrieved['repository']}`", ""]
    if model_id is None:
        lines += [
            "_No language model is configured, so no model was used. Below is what can be known without one: "
            "the code most relevant to this ticket, and the mechanical fixes the analysers offer there._",
            "",
        ]
    checked = (
        f"Checked: it applies cleanly with `git apply --check` at commit `{short}`; "
        f"it changes {', '.join(suggestion.files)}."
    )
    if suggestion.kind == "model":
        explanation = str((proposed.get("model") or {}).get("explanation") or "").strip()
        lines += ["## Proposed change", ""]
        if explanation:
            lines += [explanation, ""]
        lines += [_fenced(suggestion.diff, run_id), "", checked, ""]
    dropped = dropped_model_reason(checkpoint)
    if dropped:
        lines += ["## No model diff", "", f"The diff {model_id} proposed is not posted: {dropped}.", ""]
    if suggestion.kind == "mechanical":
        lines += [
            "## Mechanical fixes (ruff)",
            "",
            "The safe fixes ruff offers for its findings in the cited files. They are mechanical: review them "
            "before applying, and they may not be the whole fix for this ticket.",
            "",
            _fenced(suggestion.diff, run_id),
            "",
            checked,
            "",
        ]
    elif suggestion.kind == "none":
        if mechanical.get("unavailable"):
            lines += [f"ruff could not run, so no mechanical fix is offered: {mechanical['unavailable']}.", ""]
        else:
            verify = (checkpoint.get("verify") or {}).get("mechanical") or {}
            if mechanical.get("diff") and not verify.get("applies"):
                lines += [f"ruff's fixes are not posted: {verify.get('reason', 'they were not checked')}.", ""]
            elif model_id is None or dropped:
                lines += ["ruff offers no mechanical fix in the cited files.", ""]
    host = parse_remote(retrieved.get("remote"))
    findings = list(mechanical.get("findings", ()))
    if findings:
        lines += ["## Findings there", ""]
        for finding in findings[:FINDINGS_SHOWN]:
            link = code_link(host, path=finding["path"], commit=commit, start=finding["line"], end=finding["line"])
            fix = f" (fix: {finding['fix']}, {finding['applicability']})" if finding.get("fix") else ""
            place = _where(link, f"{finding['path']}:{finding['line']}")
            lines.append(f"- {finding['rule_id']} at {place}: {finding['message']}{fix}")
        if len(findings) > FINDINGS_SHOWN:
            lines.append(f"- and {len(findings) - FINDINGS_SHOWN} more")
        lines.append("")
    citations = list(retrieved.get("citations", ()))
    lines += ["## Relevant code", ""]
    if not citations:
        lines.append("The knowledge base found no code for this ticket's words.")
    for citation in citations:
        span = f"{citation['path']}:{citation['start_line']}-{citation['end_line']}"
        symbol = f" ({citation['symbol']})" if citation.get("symbol") else ""
        lines.append(f"- {_where(str(citation['link']), span)}{symbol}")
    by = f"with {model_id}" if model_id else "without a model"
    lines += ["", f"_Suggested by Ticketsmith {by}, run {run_id}. Marker {marker}._", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class CommentStep:
    name: str = "comment"

    def run(self, ctx: StepContext) -> Checkpoint:
        key = str(ctx.checkpoint["read_ticket"]["key"])
        marker = f"{MARKER_PREFIX}{fingerprint(ctx.checkpoint)}"
        body = render_comment(ctx.checkpoint, run_id=ctx.run.id, marker=marker)
        shown = ctx.services.redact(body)
        base: dict[str, Any] = {"key": key, "marker": marker, "body": shown, "dry_run": ctx.dry_run}
        if ctx.dry_run:
            ctx.recorder.rationale(f"dry run: the suggestion for {key} is written and not posted")
            return {"comment": {**base, "action": "drafted", "id": None, "reason": "dry run: not posted"}}
        allowed, reason = guard(ctx, ACTION)
        if not allowed:
            return {"comment": {**base, "action": "denied", "id": None, "reason": reason}}
        posted = (ctx.checkpoint.get(PROGRESS) or {}).get("id")
        if posted:
            return {"comment": {**base, "action": "posted", "id": posted, "reason": "posted by this run"}}
        tracker = ctx.services.filer.tracker
        existing = next((c for c in tracker.comments(key=key) if marker in c.body), None)
        if existing is not None:
            ctx.recorder.rationale(f"{key} already has this suggestion (comment {existing.id}): nothing is posted")
            return {
                "comment": {
                    **base,
                    "action": "already_posted",
                    "id": existing.id,
                    "reason": f"the same suggestion is comment {existing.id}",
                }
            }
        ctx.services.echo(f"posting the suggestion on {key}")
        with ctx.recorder.tool(ACTION, {"key": key, "marker": marker, "chars": len(body)}) as call:
            comment = tracker.comment(key=key, body=body)
            call.observation = {"id": comment.id}
        ctx.progress({PROGRESS: {"id": comment.id}})
        return {"comment": {**base, "action": "posted", "id": comment.id, "reason": "posted"}}
