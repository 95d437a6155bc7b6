"""Explanations of the rules behind findings: from the analysers themselves where they have them."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import warnings
from dataclasses import dataclass

from service.errors import NotFound
from service.quality.checker import CheckerUnavailable
from service.quality.checkers.patterns import catalogue
from service.quality.checkers.tools import find_tool

OWN_RULES: dict[str, tuple[str, str]] = {
    "complexity.cyclomatic": (
        "Function with too many paths through it",
        "Cyclomatic complexity counts the independent paths through a function (each if, loop, case and boolean "
        "operator adds one). Above the configured max_complexity a function is hard to test completely and easy "
        "to break. Split it: extract the branches into named helpers, or replace conditionals with a table.",
    ),
    "complexity.function-length": (
        "Function longer than the configured limit",
        "Long functions usually do several things. Above max_function_lines, extract the steps into functions "
        "whose names say what each step does.",
    ),
    "markers.todo": ("TODO left in a comment", "Work someone meant to do. Turn it into a ticket or do it."),
    "markers.fixme": ("FIXME left in a comment", "A known defect marked in the code. It should be a ticket."),
    "markers.hack": ("HACK left in a comment", "A workaround its author was not happy with; worth revisiting."),
    "markers.xxx": ("XXX left in a comment", "A warning to readers that something here is wrong or fragile."),
    "hygiene.large-file": (
        "Very large file in git",
        "Large files bloat every clone forever. Keep them in Git LFS, a package registry or release artefacts.",
    ),
    "hygiene.committed-binary": (
        "Build artefact or archive committed",
        "Binaries built from the source belong in a registry or release, not in version control.",
    ),
    "hygiene.missing-license": (
        "No licence file",
        "Without a LICENSE file nobody else may legally use the code. Add one at the repository root.",
    ),
    "hygiene.missing-readme": ("No README", "Add a README saying what the project is and how to run it."),
}
SECRETS_EXPLANATION = (
    "A credential is committed to the repository. Anyone with read access, and every clone and fork, has it. "
    "Revoke it now (removing it from the code does not un-leak it), then load it from a secret store or the "
    "environment. The finding's snippet is redacted; the secret is never stored or sent by Ticketsmith."
)


@dataclass(frozen=True, slots=True)
class RuleExplanation:
    rule_id: str
    tool: str
    title: str
    explanation: str
    help_url: str | None


def _ruff(code: str, rule_id: str) -> RuleExplanation:
    try:
        completed = subprocess.run(  # noqa: S603 - fixed tool, validated rule code
            [find_tool("ruff"), "rule", code, "--output-format", "json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        data = json.loads(completed.stdout) if completed.returncode == 0 else None
    except (CheckerUnavailable, OSError, subprocess.TimeoutExpired, ValueError):
        data = None
    if not isinstance(data, dict):
        raise NotFound(f"ruff has no rule {code!r}")
    return RuleExplanation(
        rule_id=rule_id,
        tool="ruff",
        title=f"{data.get('name', code)} ({data.get('linter', 'ruff')})",
        explanation=str(data.get("explanation", "")).strip(),
        help_url=f"https://docs.astral.sh/ruff/rules/{data.get('name', '')}/",
    )


def _bandit(test_id: str, rule_id: str) -> RuleExplanation:
    with warnings.catch_warnings():
        # bandit's plugin loader passes an argument stevedore has deprecated; nothing for us to change.
        warnings.simplefilter("ignore", DeprecationWarning)
        from bandit.core import extension_loader

    plugin = extension_loader.MANAGER.plugins_by_id.get(test_id)
    if plugin is None:
        raise NotFound(f"bandit has no test {test_id!r}")
    doc = inspect.cleandoc(plugin.plugin.__doc__ or "")
    return RuleExplanation(
        rule_id=rule_id,
        tool="bandit",
        title=plugin.name,
        explanation=doc,
        help_url=f"https://bandit.readthedocs.io/en/latest/plugins/{test_id.lower()}_{plugin.name}.html",
    )


def explain(rule_id: str) -> RuleExplanation:
    """What ``rule_id`` (as it appears on findings, e.g. ``ruff.F401``) means and how to fix it.

    Raises :class:`NotFound` for a rule no checker reports.
    """
    prefix, _, code = rule_id.partition(".")
    if prefix == "ruff" and re.fullmatch(r"[A-Z]+[0-9]+", code):
        return _ruff(code, rule_id)
    if prefix == "bandit" and re.fullmatch(r"B[0-9]{3}", code):
        return _bandit(code, rule_id)
    if prefix == "patterns" and code in catalogue():
        rule = catalogue()[code]
        return RuleExplanation(rule_id, "tree-sitter", code, f"{rule.message[:1].upper()}{rule.message[1:]}.", None)
    if prefix == "secrets" and code:
        return RuleExplanation(rule_id, "detect-secrets", code.replace("-", " "), SECRETS_EXPLANATION, None)
    if rule_id in OWN_RULES:
        title, text = OWN_RULES[rule_id]
        tool = "lizard" if prefix == "complexity" else "ticketsmith"
        return RuleExplanation(rule_id, tool, title, text, None)
    raise NotFound(f"no rule {rule_id!r}", hint="rule ids look like ruff.F401, bandit.B602 or complexity.cyclomatic")
