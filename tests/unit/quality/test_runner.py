"""Configuration, suppressions, --since, and checkers that cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.domain.findings import Finding, Severity
from service.errors import InvalidInput
from service.quality.checker import CheckerUnavailable, CheckTarget
from service.quality.checkers import all_checkers
from service.quality.checkers.secrets import redact
from service.quality.config import load_config
from service.quality.runner import run_checks
from tests.quality_repos import SEEDED, commit, git, make_repo, write


class BrokenChecker:
    name = "lint"
    tool = "ruff"

    def run(self, target: CheckTarget) -> list[Finding]:
        raise CheckerUnavailable("ruff crashed: segmentation fault")


def test_an_unavailable_checker_is_skipped_with_its_reason_and_the_others_run(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", SEEDED)
    checkers = [BrokenChecker(), *[c for c in all_checkers() if c.name != "lint"]]
    report = run_checks(root, checkers, scratch_parent=tmp_path / "s")
    assert [(s.name, s.reason) for s in report.skipped] == [("lint (ruff)", "ruff crashed: segmentation fault")]
    assert "bandit.B602" in {f.rule_id for f in report.findings}


def test_inline_suppressions(tmp_path: Path) -> None:
    files = {
        "README.md": "x\n",
        "LICENSE": "MIT\n",
        "a.py": (
            "import os  # ticketsmith: ignore[F401]\n"
            "import sys  # ticketsmith: ignore[ruff.E501]\n"
            "# ticketsmith: ignore\n"
            "import json\n"
        ),
    }
    report = run_checks(make_repo(tmp_path / "repo", files), all_checkers(), scratch_parent=tmp_path / "s")
    unused = [(f.rule_id, f.start_line) for f in report.findings if f.rule_id == "ruff.F401"]
    assert unused == [("ruff.F401", 2)], "line 1 suppressed by code, line 4 by the comment above it"
    assert report.suppressed == 2


def test_configuration_enables_ignores_and_overrides(tmp_path: Path) -> None:
    config = (
        '[tool.ticketsmith]\ncheckers = ["complexity", "hygiene"]\nignore = ["web/*"]\nmax_complexity = 20\n'
        '[tool.ticketsmith.severity]\n"hygiene.committed-binary" = "critical"\n'
    )
    root = make_repo(tmp_path / "repo", SEEDED | {"pyproject.toml": config})
    report = run_checks(root, all_checkers(), scratch_parent=tmp_path / "s")
    assert report.checkers_run == ["complexity (lizard)", "hygiene (ticketsmith)"]
    assert report.config_file == root / "pyproject.toml"
    assert not any(f.path.startswith("web/") for f in report.findings)
    assert "complexity.cyclomatic" not in {f.rule_id for f in report.findings}, "CCN 12 is under the limit of 20"
    binary = next(f for f in report.findings if f.rule_id == "hygiene.committed-binary")
    assert binary.severity is Severity.CRITICAL


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (".ticketsmith.toml", "checkers = ['lint', 'telepathy']", "unknown checkers"),
        (".ticketsmith.toml", "max_complexity = 0", "max_complexity"),
        (".ticketsmith.toml", "colour = 'blue'", "colour"),
        ("pyproject.toml", "[tool.ticketsmith\n", "not valid TOML"),
    ],
)
def test_bad_configuration_is_named(tmp_path: Path, name: str, content: str, message: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(InvalidInput, match=message):
        load_config(tmp_path)


def test_since_checks_only_changed_files(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", SEEDED)
    base = git(root, "rev-parse", "HEAD").strip()
    write(root, {"app/new.py": "import os\n"})
    commit(root, "add new.py")
    report = run_checks(root, all_checkers(), since=base, scratch_parent=tmp_path / "s")
    assert report.files_checked == 1
    assert {f.path for f in report.findings} <= {"app/new.py", ""}
    assert "ruff.F401" in {f.rule_id for f in report.findings}


def test_not_a_repository_and_unknown_commit(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(InvalidInput, match="not a git work tree"):
        run_checks(tmp_path / "plain", all_checkers())
    root = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    with pytest.raises(InvalidInput, match="unknown commit 'nope'"):
        run_checks(root, all_checkers(), since="nope")


def test_redaction_never_keeps_the_secret() -> None:
    assert redact('key = "abc123"', "abc123") == 'key = "********"'
    assert redact("password: hunter2", None) == "password: ********"
    assert redact("hunter2", "not-there") == "********"
