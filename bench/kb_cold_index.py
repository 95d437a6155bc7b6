"""Cold lexical index speed: ``ticketsmith index <repo> --no-embed --json`` into an empty data directory.

The corpus is the Django 5.2.8 sdist from PyPI (sha256 pinned), unpacked and committed into a fresh git
repository exactly as ``bench/checks.py`` does; ``--stdlib`` adds this interpreter's standard library (copied
without ``site-packages`` and compiled files, committed the same way). Each run is a fresh process on a fresh
index. Wall time alone says little on a shared machine, so every run also reports the CPU seconds of the index
process and the children it waited for (``os.wait4``: git included), its peak RSS, and the load average before
and after. ``sync_seconds`` is the indexer's own time (read, chunk, write the FTS index), without interpreter
start-up and JSON output.

Target (issue: knowledge base): >= 300 files/s for the cold lexical index of Django on 2 cores. Prints one JSON
document (and writes it to ``--out`` when given).

    python bench/kb_cold_index.py [--workdir DIR] [--cache DIR] [--runs N] [--stdlib] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from checks import DJANGO, GIT_ENV, fetch, make_repository, sh

ROOT = Path(__file__).resolve().parent.parent


def stdlib_repository(workdir: Path) -> Path:
    root = workdir / "stdlib"
    shutil.copytree(
        Path(sysconfig.get_paths()["stdlib"]),
        root,
        ignore=shutil.ignore_patterns("site-packages", "__pycache__", "*.pyc", "*.so", "*.exe", "*.a"),
        symlinks=True,
    )
    sh(["git", "init", "-q", "-b", "main"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-q", "-m", "stdlib"], root)
    return root


def cold_index(repository: Path, workdir: Path) -> dict[str, Any]:
    """One ``index --no-embed --json`` in a fresh process on an empty data directory."""
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=workdir))
    env = GIT_ENV | {"TICKETSMITH_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "service", "index", str(repository), "--no-embed", "--json"]
    load_before = os.getloadavg()
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        stdout.seek(0)
        stderr.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"index exited {os.waitstatus_to_exitcode(status)}: {stderr.read().decode()[-2000:]}")
        summary = json.loads(stdout.read())["index"]
    shutil.rmtree(data_dir, ignore_errors=True)
    cpu = usage.ru_utime + usage.ru_stime
    files, chunks, sync = summary["files"], summary["chunks"], summary["seconds"]
    return {
        "files": files,
        "files_read": summary["processed"],
        "chunks": chunks,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "user_seconds": round(usage.ru_utime, 3),
        "system_seconds": round(usage.ru_stime, 3),
        "sync_seconds": sync,
        "files_per_second": round(files / wall, 1),
        "files_per_sync_second": round(files / sync, 1) if sync else None,
        "files_per_cpu_second": round(files / cpu, 1) if cpu else None,
        "chunks_per_second": round(chunks / wall, 1),
        "peak_rss_mib": usage.ru_maxrss // 1024,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def corpus_result(name: str, repository: Path, workdir: Path, runs: int, pin: dict[str, str]) -> dict[str, Any]:
    measured = [cold_index(repository, workdir) for _ in range(runs)]
    tree_files = len(subprocess.run(["git", "ls-files", "-z"], cwd=repository, capture_output=True, check=True)
                     .stdout.split(b"\0")) - 1  # fmt: skip
    best = min(measured, key=lambda run: run["wall_seconds"])
    return {
        "corpus": name,
        **pin,
        "tracked_files": tree_files,
        "runs": measured,
        "best_wall": best,
        "median_wall_seconds": statistics.median(run["wall_seconds"] for run in measured),
        "median_cpu_seconds": statistics.median(run["cpu_seconds"] for run in measured),
        "median_files_per_second": statistics.median(run["files_per_second"] for run in measured),
        "median_files_per_sync_second": statistics.median(run["files_per_sync_second"] or 0 for run in measured),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="where to unpack (default: a temporary dir)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ticketsmith-bench-cache")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stdlib", action="store_true", help="also index this interpreter's standard library")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sdist, digest = fetch(args.cache)
    with tempfile.TemporaryDirectory(dir=args.workdir) as scratch:
        workdir = Path(scratch)
        corpora = [corpus_result("django", make_repository(sdist, workdir), workdir, args.runs,
                                 {"sdist": DJANGO, "sha256": digest})]  # fmt: skip
        if args.stdlib:
            pin = {"python": platform.python_version(), "stdlib": sysconfig.get_paths()["stdlib"]}
            corpora.append(corpus_result("stdlib", stdlib_repository(workdir), workdir, args.runs, pin))
    django = corpora[0]
    result = {
        "benchmark": "kb_cold_index",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "corpora": corpora,
        "target": {
            "lexical_files_per_second": 300,
            "met_by_best_wall": django["best_wall"]["files_per_second"] >= 300,
            "met_by_best_sync": (django["best_wall"]["files_per_sync_second"] or 0) >= 300,
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
