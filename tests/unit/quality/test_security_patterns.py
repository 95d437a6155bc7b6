"""Each security pattern on a real snippet that has the defect, and on clean code that must stay quiet."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.quality.checker import CheckTarget
from service.quality.checkers.patterns import PatternSecurityChecker

CASES = [
    ("a.js", "const x = eval(input);\n", "js.eval"),
    ("a.js", "const f = new Function('a', body);\n", "js.new-function"),
    ("a.js", "require('child_process').exec(`ls ${dir}`);\n", "js.child-process-exec"),
    ("a.ts", "cp.execSync('rm -rf ' + target);\n", "js.child-process-exec"),
    ("a.tsx", "const C = () => { ref.current.innerHTML = html; return <div/>; };\n", "js.inner-html"),
    (
        "A.java",
        "class A { void f(String c) throws Exception { Runtime.getRuntime().exec(c); } }\n",
        "java.runtime-exec",
    ),
    (
        "A.java",
        'class A { Object f() throws Exception { return MessageDigest.getInstance("MD5"); } }\n',
        "java.weak-hash",
    ),
    ("a.go", "package a\nfunc f() { _ = tls.Config{InsecureSkipVerify: true} }\n", "go.tls-insecure-skip-verify"),
    ("a.go", 'package a\nfunc f(x string) { exec.Command("sh", "-c", x).Run() }\n', "go.exec-shell"),
    ("a.go", "package a\nfunc f(b []byte) { md5.Sum(b) }\n", "go.weak-hash"),
]

CLEAN = [
    ("a.js", "const x = JSON.parse(input);\nrequire('child_process').execFile('ls', [dir]);\nel.textContent = v;\n"),
    ("a.ts", "cp.execSync('git status');\nel.innerHTML = '<br>';\n"),
    ("A.java", 'class A { Object f() throws Exception { return MessageDigest.getInstance("SHA-256"); } }\n'),
    ("a.go", 'package a\nfunc f() { exec.Command("git", "status").Run(); sha256.Sum256(nil) }\n'),
]


def _run(tmp_path: Path, name: str, code: str) -> list[str]:
    (tmp_path / name).write_text(code)
    target = CheckTarget(root=tmp_path, files=(name,), scratch=tmp_path)
    return [f.rule_id for f in PatternSecurityChecker().run(target)]


@pytest.mark.parametrize(("name", "code", "rule"), CASES, ids=[f"{r}-{n}" for n, _, r in CASES])
def test_pattern_finds_the_defect(tmp_path: Path, name: str, code: str, rule: str) -> None:
    assert _run(tmp_path, name, code) == [f"patterns.{rule}"]


@pytest.mark.parametrize(("name", "code"), CLEAN, ids=[n for n, _ in CLEAN])
def test_clean_code_has_no_findings(tmp_path: Path, name: str, code: str) -> None:
    assert _run(tmp_path, name, code) == []
