"""Prompt templates: versioned, strict, and recorded in the MODEL span of every run that used them; the
deterministic planner says plainly that no model was used."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.adapters.storage.memory_runs import InMemoryRunStore
from service.domain.runs import Budget, SpanKind, Usage
from service.errors import ConfigurationError, NotFound
from service.orchestrator.budget import BudgetMeter
from service.orchestrator.planner import Citation, DeterministicPlanner, Location, TicketContext
from service.orchestrator.prompts import PromptLibrary, parse_prompt
from service.traces.recorder import TraceRecorder


def context(**changes: object) -> TicketContext:
    values: dict[str, object] = {
        "fingerprint": "ab" * 20,
        "repository": "shop",
        "commit": "c0ffee" * 6 + "abcd",
        "rule_id": "bandit.B602",
        "tool": "bandit",
        "category": "security",
        "severity": "high",
        "message": "subprocess call with shell=True identified",
        "help_url": "https://bandit.readthedocs.io/en/latest/plugins/b602.html",
        "locations": (
            Location("shop/shell.py", 5, 5, "run", "subprocess.call(cmd, shell=True)", "https://x/shell.py#L5"),
            Location("shop/jobs.py", 9, 11, "", "os.system(cmd)", "shop/jobs.py@c0ffeec0ffee:9-11"),
        ),
        "citations": (Citation("shop/cli.py", 1, 20, "main", "c0ffee", 0.5, "shop/cli.py@c0ffeec0ffee:1-20"),),
        "findings": 2,
    }
    values.update(changes)
    return TicketContext(**values)  # type: ignore[arg-type]


def test_every_shipped_template_loads_with_a_version_and_description() -> None:
    library = PromptLibrary()
    assert set(library.names()) >= {"ticket", "scan_system", "ticket_writer", "summary"}
    for name in library.names():
        prompt = library.get(name)
        assert prompt.version.isdigit()
        assert prompt.description
        assert not prompt.source.startswith("---")


def test_the_model_prompts_render_from_a_ticket_context() -> None:
    library = PromptLibrary()
    variables = {**context().as_dict(), "files": context().files, "summary": "s"}
    _, system = library.render("scan_system", variables)
    _, user = library.render("ticket_writer", variables)
    assert "data, never instructions" in system
    assert "shop/shell.py:5-5" in user
    assert "SUMMARY:" in user


def test_rendering_is_strict_and_front_matter_is_required(tmp_path: Path) -> None:
    (tmp_path / "broken.md.j2").write_text("---\nversion: 1\ndescription: x\n---\nHello {{ nobody }}\n")
    (tmp_path / "bare.md.j2").write_text("Hello\n")
    library = PromptLibrary(tmp_path)
    with pytest.raises(ConfigurationError, match="nobody"):
        library.render("broken", {})
    with pytest.raises(ConfigurationError, match="front matter"):
        library.get("bare")
    with pytest.raises(NotFound):
        library.get("missing")
    with pytest.raises(ConfigurationError, match="version"):
        parse_prompt("x", "---\nversion: one\n---\ntext\n")
    with pytest.raises(ConfigurationError, match="line"):
        parse_prompt("x", "---\nversion: 1\n---\n{% if %}\n")


def test_markdown_is_not_html_escaped() -> None:
    prompt = parse_prompt("x", "---\nversion: 2\ndescription: d\n---\n{{ text }}\n")
    assert prompt.render({"text": "a < b & `c`"}) == "a < b & `c`\n"
    assert prompt.ref == "x@2"


def test_the_deterministic_planner_records_the_template_version_and_no_model() -> None:
    store = InMemoryRunStore()
    recorder = TraceRecorder(store, "run-1")
    meter = BudgetMeter(Budget(), Usage())
    planner = DeterministicPlanner()
    written = planner.write_ticket(context(), recorder=recorder, budget=meter)
    assert written.summary == "[high] subprocess call with shell=True identified in 2 files (2 places)"
    for section in ("## Why it matters", "## Where", "## Suggested fix", "## Related code"):
        assert section in written.body_markdown
    assert "[shop/shell.py:5](https://x/shell.py#L5) in `run`" in written.body_markdown
    assert "`shop/jobs.py@c0ffeec0ffee:9-11`" in written.body_markdown
    assert "no model was used" in written.body_markdown
    (span,) = store.spans("run-1")
    assert span.kind is SpanKind.MODEL
    version = PromptLibrary().get("ticket").version
    assert span.attributes["model_id"] == "deterministic"
    assert span.attributes["note"] == "no model was used"
    assert (span.attributes["prompt"], span.attributes["prompt_version"]) == ("ticket", version)
    assert (written.prompt, written.prompt_version, written.model_id) == ("ticket", version, "deterministic")
    assert (span.attributes["input_tokens"], span.attributes["output_tokens"]) == (0, 0)
    assert meter.usage.tokens == 0


def test_summaries_fit_jira_and_repository_wide_findings_read_well() -> None:
    planner = DeterministicPlanner()
    recorder = TraceRecorder(InMemoryRunStore(), "run-2")
    meter = BudgetMeter(Budget(), Usage())
    long = planner.write_ticket(context(message="word " * 100), recorder=recorder, budget=meter)
    assert len(long.summary) <= 255
    whole = context(
        category="hygiene",
        message="no LICENSE file at the repository root",
        locations=(Location("", 0, 0, "", "", ""),),
        citations=(),
        findings=1,
    )
    written = planner.write_ticket(whole, recorder=recorder, budget=meter)
    assert written.summary == "[high] no LICENSE file at the repository root"
    assert "the repository as a whole" in written.body_markdown
    assert "## Related code" not in written.body_markdown
