"""Fingerprints survive line shifts and unrelated edits in a real repository; identical findings stay distinct."""

from __future__ import annotations

from pathlib import Path

from service.quality.checkers import all_checkers
from service.quality.fingerprint import fingerprint, normalise_code
from service.quality.runner import run_checks
from tests.quality_repos import COMPLEX_PY, SEEDED, commit, make_repo, write


def _prints(root: Path, scratch: Path) -> dict[tuple[str, str, str], str]:
    report = run_checks(root, all_checkers(), scratch_parent=scratch)
    return {(f.rule_id, f.path, f.symbol): f.fingerprint for f in report.findings}


def test_moving_code_keeps_every_unchanged_fingerprint(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", SEEDED)
    before = _prints(root, tmp_path / "scratch")
    write(
        root,
        {
            # lines inserted above every finding, and an unrelated function added
            "app/models.py": '"""Models."""\n\n' + str(SEEDED["app/models.py"]) + "\n\ndef other():\n    return 2\n",
            "app/shell.py": "# Shell helpers.\n\n\n" + str(SEEDED["app/shell.py"]),
            # the complex function moved below a new one, and re-indented blank lines
            "app/rules.py": "def first():\n    return 0\n\n" + COMPLEX_PY.replace("\n\n", "\n  \n"),
            "config/deploy.py": "REGION = 'eu-west-1'\n" + str(SEEDED["config/deploy.py"]),
        },
    )
    commit(root, "move things around")
    after = _prints(root, tmp_path / "scratch")
    assert before.keys() <= after.keys()
    changed = {key for key in before if before[key] != after[key]}
    assert changed == set()


def test_an_edited_finding_gets_a_new_fingerprint(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", SEEDED)
    before = _prints(root, tmp_path / "scratch")
    write(
        root,
        {"app/shell.py": "import subprocess\n\n\ndef run(command):\n    return subprocess.call(command, shell=True)\n"},
    )
    commit(root, "rename")
    after = _prints(root, tmp_path / "scratch")
    key = ("bandit.B602", "app/shell.py", "run")
    assert before[key] != after[key]


def test_identical_findings_in_one_symbol_stay_distinct(tmp_path: Path) -> None:
    call = "    subprocess.call(cmd, shell=True)\n"
    twice = "import subprocess\n\n\ndef run(cmd):\n" + call + call
    root = make_repo(tmp_path / "repo", {"README.md": "x\n", "LICENSE": "MIT\n", "app.py": twice})
    report = run_checks(root, all_checkers(), scratch_parent=tmp_path / "scratch")
    prints = [f.fingerprint for f in report.findings if f.rule_id == "bandit.B602"]
    assert len(prints) == 2
    assert len(set(prints)) == 2


def test_fingerprint_ignores_whitespace_but_not_code() -> None:
    base = {"rule_id": "r", "path": "a.py", "symbol": "f", "occurrence": 0}
    assert normalise_code("  x =  1\n\n\ty = 2 ") == "x = 1\ny = 2"
    assert fingerprint(code="x = 1", **base) == fingerprint(code="  x   =  1  ", **base)  # type: ignore[arg-type]
    assert fingerprint(code="x = 1", **base) != fingerprint(code="x = 2", **base)  # type: ignore[arg-type]
