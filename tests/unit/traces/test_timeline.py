"""The text timeline of a run: a header, then one line per span with the facts a person looks for."""

from __future__ import annotations

from dataclasses import replace

from service.adapters.storage.memory_runs import InMemoryRunStore
from service.domain.runs import RunState
from service.traces.recorder import TraceRecorder
from service.traces.timeline import timeline
from tests.run_samples import RUN_ID, new_run, record_sample


def test_one_line_per_span_with_its_facts() -> None:
    store = InMemoryRunStore()
    run = record_sample(store)
    text = timeline(run, store.spans(RUN_ID))
    header, body = text.split("\n\n")
    assert header.splitlines()[0] == f"run {RUN_ID}  scan  succeeded"
    assert "usage 2/200 steps, 829/200000 tokens (692 in, 137 out), 1/20 tickets" in header
    assert "result 2 findings, 1 ticket filed (TS-12)" in header
    lines = body.splitlines()
    assert len(lines) == len(store.spans(RUN_ID))
    assert lines[0].split() == ["+0.250s", "rationale", "check", "the", "files", "changed", "since", "HEAD~1"]
    assert "quality.runChecks(root=ticketsmith, since=HEAD~1, limit=50) -> " in lines[1]
    assert '{"files": 7, "findings": 2}' in lines[1]
    assert "-> 2 citations (top service/triage.py:10-42)" in lines[2]
    assert lines[3].split()[:4] == ["+0.000s", "step", "check", "ok"]
    assert "prompt ticket@3, 692 in / 137 out tokens, stop end_turn  [3.72s]" in lines[4]
    assert lines[5].startswith("!")
    assert "deny jira.transitionIssue: not allowed for trigger cli" in lines[5]
    assert not lines[6].startswith("!")
    assert lines[7].startswith("!")
    assert "tickets.file: UpstreamFailed: Jira answered 503" in lines[7]
    assert [line.startswith("!") for line in lines].count(True) == 2


def test_failed_steps_and_tools_are_marked_and_long_values_cut() -> None:
    store = InMemoryRunStore()
    run = store.create(new_run())
    recorder = TraceRecorder(store, run.id)
    try:
        with recorder.step("check"), recorder.tool("quality.runChecks", {"root": "x" * 500}):
            raise RuntimeError("checker\ncrashed")
    except RuntimeError:
        pass
    recorder.model(
        model_id="deterministic",
        prompt="triage",
        prompt_version="2",
        input_tokens=0,
        output_tokens=0,
        stop_reason="",
        duration_ms=1500,
    )
    failed = replace(run, state=RunState.FAILED, error="RuntimeError: checker crashed")
    lines = timeline(failed, store.spans(run.id)).splitlines()
    assert "! error RuntimeError: checker crashed" in lines
    spans = lines[lines.index("") + 1 :]
    assert [line[0] for line in spans] == ["!", "!", "!", " "]  # tool, failure, step; the model call is fine
    assert all(len(line) < 260 for line in spans)
    assert "…" in spans[0]
    assert "check: RuntimeError: checker crashed" in spans[1]
    assert "step       check FAILED" in spans[2]
    assert "deterministic, prompt triage@2, no model was used  [1.50s]" in spans[3]


def test_a_run_without_spans() -> None:
    run = new_run(state=RunState.QUEUED)
    assert timeline(run, []).endswith("(no spans recorded)")
