"""SARIF output validates against the SARIF 2.1.0 schema and carries what code-scanning viewers need."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from typer.testing import CliRunner

from service.cli import app
from service.quality.checkers import all_checkers
from service.quality.runner import CheckReport, run_checks
from service.quality.sarif import FINGERPRINT_KEY, to_sarif
from tests.quality_repos import SEEDED, make_repo
from tests.unit.quality.test_runner import BrokenChecker

SCHEMA = Path(__file__).resolve().parents[2] / ".schemas" / "sarif-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    if not SCHEMA.exists():
        reason = f"{SCHEMA} is missing: run `make test-schemas`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return Draft4Validator(json.loads(SCHEMA.read_text()))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> CheckReport:
    root = make_repo(Path(tmp_path_factory.mktemp("sarif")) / "repo", SEEDED)
    return run_checks(root, all_checkers(), scratch_parent=root.parent / "scratch")


def _results(log: dict[str, Any]) -> list[dict[str, Any]]:
    return [result for run in log["runs"] for result in run["results"]]


def test_log_validates_against_the_sarif_schema(validator: Draft4Validator, report: CheckReport) -> None:
    log = to_sarif(report)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(log)]
    assert errors == []
    assert log["version"] == "2.1.0"


def test_every_finding_is_a_result_with_its_fingerprint_and_rule(report: CheckReport) -> None:
    log = to_sarif(report)
    results = _results(log)
    assert len(results) == len(report.findings)
    assert {r["partialFingerprints"][FINGERPRINT_KEY] for r in results} == {f.fingerprint for f in report.findings}
    for run in log["runs"]:
        rules = run["tool"]["driver"]["rules"]
        for result in run["results"]:
            assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_locations_levels_and_redaction(report: CheckReport) -> None:
    results = {r["ruleId"]: r for r in _results(to_sarif(report))}
    shell = results["bandit.B602"]["locations"][0]["physicalLocation"]
    assert shell["artifactLocation"] == {"uri": "app/shell.py", "uriBaseId": "%SRCROOT%"}
    assert shell["region"]["startLine"] == 5
    assert results["bandit.B602"]["level"] == "error"
    assert results["markers.fixme"]["level"] == "note"
    assert "region" not in results["hygiene.committed-binary"]["locations"][0]["physicalLocation"]
    assert results["hygiene.missing-license"]["locations"] == []
    assert "AKIAIOSFODNN7EXAMPLE" not in json.dumps(to_sarif(report))


def test_cli_writes_a_valid_sarif_file(
    validator: Draft4Validator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo(tmp_path / "repo", SEEDED)
    monkeypatch.setenv("TICKETSMITH_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "out.sarif"
    result = CliRunner().invoke(app, ["check", str(root), "--sarif", str(out), "--json"])
    assert result.exit_code == 1, result.output
    log = json.loads(out.read_text())
    assert list(validator.iter_errors(log)) == []
    assert len(_results(log)) == len(json.loads(result.output)["findings"])


def test_skipped_checkers_become_tool_notifications(validator: Draft4Validator, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", SEEDED)
    checkers = [BrokenChecker(), *[c for c in all_checkers() if c.name != "lint"]]
    log = to_sarif(run_checks(root, checkers, scratch_parent=tmp_path / "s"))
    assert list(validator.iter_errors(log)) == []
    ours = next(run for run in log["runs"] if run["tool"]["driver"]["name"] == "ticketsmith")
    notes = ours["invocations"][0]["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes] == ["checker lint (ruff) skipped: ruff crashed: segmentation fault"]
