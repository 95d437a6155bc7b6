"""Small real git repositories for the quality tests, built from text kept here."""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, env=GIT_ENV, capture_output=True, text=True, check=True).stdout


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def make_repo(root: Path, files: dict[str, str | bytes], message: str = "initial") -> Path:
    """A git repository at ``root`` with ``files`` committed."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    write(root, files)
    commit(root, message)
    return root


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


COMPLEX_PY = """
def triage(kind, size, age, owner, label, state):
    if kind == "bug":
        return 1
    elif kind == "smell":
        return 2
    if size > 10:
        return 3
    if age > 30:
        return 4
    if owner is None:
        return 5
    if label == "security":
        return 6
    if state == "open":
        return 7
    for _ in range(size):
        if age:
            return 8
    while owner:
        return 9
    return 10 if label else 11
"""

COMPLEX_JS = """
function route(a, b, c, d) {
  if (a) { return 1; }
  if (b) { return 2; }
  if (c) { return 3; }
  if (d) { return 4; }
  if (a && b) { return 5; }
  if (b || c) { return 6; }
  if (c && d) { return 7; }
  if (a || d) { return 8; }
  for (let i = 0; i < 3; i++) { if (i) { return 9; } }
  return a ? 10 : 11;
}
"""

SEEDED: dict[str, str | bytes] = {
    "README.md": "# seeded\n",
    "app/__init__.py": "",
    # lint: an unused import; markers: a FIXME with text
    "app/models.py": 'import os\n\n\ndef name():\n    # FIXME: names are not unique yet\n    return "model"\n',
    # security: a shell command built from input
    "app/shell.py": "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n",
    # complexity, in Python and in JavaScript
    "app/rules.py": COMPLEX_PY,
    "web/route.js": COMPLEX_JS,
    # secrets: an AWS access key id (AWS's own documentation example)
    "config/deploy.py": 'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"\n',
    # hygiene: a committed build artefact
    "dist/tool.exe": b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64,
    # security in other languages: HTML from data, a shell command, TLS checks off
    "web/render.js": "function show(el, name) {\n  el.innerHTML = '<b>' + name + '</b>';\n}\n",
    "server/Run.java": (
        "class Run {\n  void go(String cmd) throws Exception {\n    Runtime.getRuntime().exec(cmd);\n  }\n}\n"
    ),
    "agent/client.go": (
        'package agent\n\nimport "crypto/tls"\n\n'
        "func config() *tls.Config {\n\treturn &tls.Config{InsecureSkipVerify: true}\n}\n"
    ),
    # decoys: clean code that mentions the same things without being a defect
    "app/clean.py": (
        "import os\n\n\n"
        "def api_key():\n"
        '    """Read the key from the environment, never from code."""\n'
        '    return os.environ["API_KEY"]\n\n\n'
        'TODO_STATES = ("todo", "doing")\n'
        'NOTE = "TODO list"\n'
    ),
    "web/clean.js": "function add(a, b) {\n  return a + b;\n}\nfunction label(el) {\n  el.textContent = 'ok';\n}\n",
    "server/Clean.java": (
        "import java.security.MessageDigest;\nclass Clean {\n  byte[] h(byte[] b) throws Exception {\n"
        '    return MessageDigest.getInstance("SHA-256").digest(b);\n  }\n}\n'
    ),
    "agent/clean.go": (
        'package agent\n\nimport "crypto/tls"\n\n'
        "func strict() *tls.Config {\n"
        "\treturn &tls.Config{InsecureSkipVerify: false, MinVersion: tls.VersionTLS12}\n}\n"
    ),
}
