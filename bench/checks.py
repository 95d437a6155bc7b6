"""Wall time of `ticketsmith check` on a pinned real repository against the same analysers run directly.

The repository is the Django 5.2.8 sdist from PyPI (sha256 pinned), unpacked and committed into a fresh git
repository. In the same run the script times:

* ``ticketsmith check <repo> --json`` (all six checkers, in a fresh process);
* the analysers from the shell, one after the other, on the same tree: ruff, bandit, lizard, detect-secrets,
  and ``git grep`` + ``git blame`` for the markers (what the markers checker does);
* ``ticketsmith check --since HEAD~1`` after a one-file commit.

Targets (issue: quality checks): our time / analysers' time <= 1.15, and the one-file ``--since`` run < 3 s.
Prints one JSON document.

    python bench/checks.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

DJANGO = "django==5.2.8"
DJANGO_SDIST = "django-5.2.8.tar.gz"
BIN = Path(sys.executable).parent
GIT_ENV = os.environ | {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def sh(command: list[str], cwd: Path, *, ok: tuple[int, ...] = (0,), env: dict[str, str] | None = None) -> float:
    """Run ``command``, discard its output, return its wall time in seconds."""
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, capture_output=True, env=env or GIT_ENV, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode not in ok:
        raise SystemExit(f"{command[0]} exited {completed.returncode}: {completed.stderr.decode()[-500:]}")
    return round(elapsed, 3)


def fetch(cache: Path) -> tuple[Path, str]:
    cache.mkdir(parents=True, exist_ok=True)
    sdist = cache / DJANGO_SDIST
    if not sdist.exists():
        sh(
            [sys.executable, "-m", "pip", "download", DJANGO, "--no-binary", ":all:", "--no-deps", "-d", str(cache)],
            cache,
        )
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    return sdist, digest


def make_repository(sdist: Path, workdir: Path) -> Path:
    with tarfile.open(sdist) as archive:
        archive.extractall(workdir, filter="data")
    root = workdir / DJANGO_SDIST.removesuffix(".tar.gz")
    sh(["git", "init", "-q", "-b", "main"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-q", "-m", "django sdist"], root)
    return root


def direct_markers(root: Path) -> float:
    """What the markers checker does, from the shell: find marker lines, blame the files that have them."""
    started = time.perf_counter()
    grep = subprocess.run(
        ["git", "grep", "-l", "-E", r"(#|//|/\*|\*|--|<!--|;)\s*(TODO|FIXME|HACK|XXX)\b"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    for path in grep.stdout.split():
        sh(["git", "blame", "--line-porcelain", "--", path], root)
    return round(time.perf_counter() - started, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=None, help="where to unpack (default: a temporary dir)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ticketsmith-bench")
    args = parser.parse_args()
    sdist, digest = fetch(args.cache)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir or Path(scratch)
        root = make_repository(sdist, workdir)
        files = len(
            subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
        )
        env = os.environ | {"TICKETSMITH_DATA_DIR": str(workdir / "data")}

        ours = sh([str(BIN / "ticketsmith"), "check", str(root), "--json"], root, ok=(0, 1), env=env)
        direct = {
            "ruff": sh(
                [str(BIN / "ruff"), "check", "--output-format=json", "--no-fix", "--no-cache", "--exit-zero", "."], root
            ),
            "bandit": sh([str(BIN / "bandit"), "-f", "json", "-q", "-r", "."], root, ok=(0, 1)),
            "lizard": sh([str(BIN / "lizard"), "-w", "."], root, ok=(0, 1)),
            "detect-secrets": sh([str(BIN / "detect-secrets"), "scan", "."], root),
            "markers (git grep + git blame)": direct_markers(root),
        }
        analysers = round(sum(direct.values()), 3)

        target = root / "django" / "utils" / "text.py"
        target.write_text(target.read_text() + "\n\ndef _bench_added():\n    return 1\n")
        sh(["git", "commit", "-q", "-am", "one-file change"], root)
        since = sh(
            [str(BIN / "ticketsmith"), "check", str(root), "--since", "HEAD~1", "--json"], root, ok=(0, 1), env=env
        )
        report = json.loads(
            subprocess.run(
                [str(BIN / "ticketsmith"), "check", str(root), "--json"],
                cwd=root,
                capture_output=True,
                text=True,
                env=env,
                check=False,
            ).stdout
        )

    ratio = round(ours / analysers, 3)
    result: dict[str, Any] = {
        "benchmark": "checks",
        "repository": {"sdist": DJANGO, "sha256": digest, "tracked_files": files},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "ticketsmith_check_seconds": ours,
        "analysers_seconds": direct,
        "analysers_total_seconds": analysers,
        "overhead_ratio": ratio,
        "since_one_file_seconds": since,
        "findings": len(report["findings"]),
        "skipped": report["skipped"],
        "targets": {"ratio_at_most_1.15": ratio <= 1.15, "since_under_3s": since < 3},
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
