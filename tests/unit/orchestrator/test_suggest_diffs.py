"""The suggest workflow's diff handling: ruff's output made a git diff, a model's diff normalised and parsed,
``git apply --check`` in a scratch checkout that leaves the source repository as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

from service.orchestrator.steps.suggest_fixes import diff_lines
from service.orchestrator.steps.suggest_git import apply_check, normalised, scratch_checkout, touched_files
from service.orchestrator.steps.suggest_propose import parse_answer
from tests.quality_repos import git, make_repo

SOURCE = "def f(x):\n    if x == None:\n        return 0\n    return x\n"


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def test_ruffs_summary_and_separators_are_not_part_of_the_diff() -> None:
    first = "--- a.py\n+++ a.py\n@@ -1,2 +1,1 @@\n-import os\n \n"
    second = "--- b.py\n+++ b.py\n@@ -1 +0,0 @@\n-x\n"
    assert diff_lines(f"{first}\n{second}\nWould fix 2 errors.\n") == first + second


def test_a_models_diff_gets_prefixes_and_true_hunk_counts() -> None:
    sloppy = (
        "--- m.py\n+++ m.py\n@@ -1,9 +1,9 @@\n def f(x):\n-    if x == None:\n+    if x is None:\n\n"
        "         return 0\n\n"
    )
    fixed = normalised(sloppy)
    assert fixed.startswith("--- a/m.py\n+++ b/m.py\n@@ -1,4 +1,4 @@\n")
    assert "\n \n" in fixed  # the blank line inside the hunk is an empty context line
    assert touched_files(fixed) == ("m.py",)
    # A removed line that starts with "-- " is not a file header.
    assert normalised("--- a/q.sql\n+++ b/q.sql\n@@ -1 +1 @@\n--- old\n+-- new\n").count("--- a/") == 1


def test_parse_answer_takes_the_diff_block_and_says_why_when_there_is_none() -> None:
    explanation, diff, why = parse_answer("Fix it.\n\n```diff\n--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-a\n+b\n```\nDone.")
    assert (explanation, why) == ("Fix it.\n\n\nDone.", None)
    assert diff == "--- a/m.py\n+++ b/m.py\n@@ -1,1 +1,1 @@\n-a\n+b\n"
    assert parse_answer("NO_CHANGE: the ticket is about the docs")[2] == (
        "the model proposed no change: the ticket is about the docs"
    )
    assert parse_answer("just words")[2] == "the model's answer has no ```diff block"
    assert parse_answer("```diff\n\n```")[2] == "the model's ```diff block is empty"


def test_apply_check_in_a_scratch_checkout_leaves_the_source_alone(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {"m.py": SOURCE})
    first = git(root, "rev-parse", "HEAD").strip()
    (root / "m.py").write_text(SOURCE + "# edited in the work tree, not committed\n")
    before = _digest(root)
    good = (
        "--- a/m.py\n+++ b/m.py\n@@ -1,4 +1,4 @@\n def f(x):\n-    if x == None:\n+    if x is None:\n"
        "         return 0\n     return x\n"
    )
    bad = good.replace(" def f(x):", " def g(x):")
    with scratch_checkout(root / ".git", first, tmp_path / "scratch") as scratch:
        assert (scratch / "m.py").read_text() == SOURCE  # the commit, not the edited work tree
        ok = apply_check(scratch, good)
        refused = apply_check(scratch, bad)
        outside = apply_check(scratch, good.replace("a/m.py", "a/../m.py").replace("b/m.py", "b/../m.py"))
    assert ok.applies, ok.reason
    assert ok.files == ("m.py",)
    assert not refused.applies
    assert "git apply --check failed" in refused.reason
    assert not outside.applies
    assert not apply_check(tmp_path, "").applies
    assert list((tmp_path / "scratch").iterdir()) == []  # the scratch checkout is gone
    assert _digest(root) == before
