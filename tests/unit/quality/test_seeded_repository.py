"""A seeded repository with one defect of each category, and decoys that must stay clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.domain.findings import Category, Severity
from service.quality.checkers import all_checkers
from service.quality.runner import CheckReport, run_checks
from tests.quality_repos import SEEDED, make_repo


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> CheckReport:
    root = make_repo(Path(tmp_path_factory.mktemp("seeded")) / "repo", SEEDED)
    return run_checks(root, all_checkers(), scratch_parent=root.parent / "scratch")


EXPECTED = [
    (Category.LINT, "app/models.py", "ruff.F401"),
    (Category.SECURITY, "app/shell.py", "bandit.B602"),
    (Category.SECURITY, "web/render.js", "patterns.js.inner-html"),
    (Category.SECURITY, "server/Run.java", "patterns.java.runtime-exec"),
    (Category.SECURITY, "agent/client.go", "patterns.go.tls-insecure-skip-verify"),
    (Category.COMPLEXITY, "app/rules.py", "complexity.cyclomatic"),
    (Category.COMPLEXITY, "web/route.js", "complexity.cyclomatic"),
    (Category.SECRETS, "config/deploy.py", "secrets.aws-access-key"),
    (Category.MARKERS, "app/models.py", "markers.fixme"),
    (Category.HYGIENE, "dist/tool.exe", "hygiene.committed-binary"),
    (Category.HYGIENE, "", "hygiene.missing-license"),
]


@pytest.mark.parametrize(("category", "path", "rule"), EXPECTED, ids=[r for _, _, r in EXPECTED])
def test_every_seeded_defect_is_found(report: CheckReport, category: Category, path: str, rule: str) -> None:
    matching = [f for f in report.findings if f.rule_id == rule and f.path == path]
    assert matching, [(f.rule_id, f.path) for f in report.findings]
    assert all(f.category is category for f in matching)


def test_decoys_have_no_findings(report: CheckReport) -> None:
    decoys = {"app/clean.py", "web/clean.js", "server/Clean.java", "agent/clean.go", "README.md"}
    assert [(f.rule_id, f.path) for f in report.findings if f.path in decoys] == []
    assert "hygiene.missing-readme" not in {f.rule_id for f in report.findings}


def test_every_checker_ran(report: CheckReport) -> None:
    assert report.skipped == []
    assert report.checkers_run == [
        "lint (ruff)",
        "security (bandit)",
        "security (tree-sitter)",
        "complexity (lizard)",
        "secrets (detect-secrets)",
        "markers (git blame)",
        "hygiene (ticketsmith)",
    ]
    assert report.files_checked == len(SEEDED)


def test_findings_carry_symbols_snippets_and_help(report: CheckReport) -> None:
    by_rule = {f.rule_id: f for f in report.findings}
    assert by_rule["complexity.cyclomatic"].symbol in {"triage", "route"}
    assert by_rule["bandit.B602"].symbol == "run"
    assert "shell=True" in by_rule["bandit.B602"].snippet
    assert by_rule["ruff.F401"].help_url
    assert by_rule["markers.fixme"].message.startswith("FIXME: names are not unique yet")
    assert "days old" in by_rule["markers.fixme"].message
    assert by_rule["markers.fixme"].symbol == "name"


def test_secrets_are_redacted_everywhere(report: CheckReport) -> None:
    secret = next(f for f in report.findings if f.category is Category.SECRETS)
    assert secret.severity is Severity.CRITICAL
    assert "AKIAIOSFODNN7EXAMPLE" not in repr(report.findings)
    assert secret.snippet == 'AWS_ACCESS_KEY_ID = "********"'


def test_worst_first_and_fingerprints_unique(report: CheckReport) -> None:
    ranks = [f.severity.rank for f in report.findings]
    assert ranks == sorted(ranks)
    prints = [f.fingerprint for f in report.findings]
    assert all(len(p) == 20 for p in prints)
    assert len(set(prints)) == len(prints)


def test_checking_leaves_the_repository_byte_for_byte(tmp_path: Path) -> None:
    files = dict(SEEDED) | {"pyproject.toml": "[tool.ruff]\nfix = true\n"}
    root = make_repo(tmp_path / "repo", files)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}
    run_checks(root, all_checkers(), scratch_parent=tmp_path / "scratch")
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == before
