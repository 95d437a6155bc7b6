"""Knowledge-base scale: cold index speed, incremental sync at 100k chunks, hybrid query latency, peak memory.

The repository is the Django 5.2.8 sdist from PyPI (sha256 pinned, fetched and committed into a fresh git
repository exactly as ``bench/checks.py`` does). In one run the script measures:

a. a cold ``ticketsmith index`` of Django in a fresh process: lexical files/s (the sync: read, chunk, FTS)
   and dense chunks/s of the embedded default model (by default on a seeded sample of 1,000 of the chunks,
   batched as the indexer batches; ``--embed-all`` times the index process's full embedding pass instead);
b. the same repository grown past 100,000 chunks (the standard library of this interpreter and copies of the
   ``django/`` package under other prefixes, committed on top), then ``ticketsmith index`` after a one-file
   commit: seconds of the lexical part and of the dense part;
c. hybrid search latency at that size on the embedded default (SQLite + flat vectors, local model), p50/p99 over
   at least 200 queries (docstring first paragraphs of Django functions), in-process after a warm-up;
d. peak RSS (``ru_maxrss``) of each ``index`` process, and of ``serve`` (VmHWM) after it answered queries.

Embedding the grown repository's ~100k chunks with the real model takes most of an hour on 2 cores, and what
(b) and (c) time does not depend on the vectors' values: by default the chunks added in (b) get random unit
vectors stored under the real model's id (the one-file sync and every query are still embedded by the real
model). ``--embed-all`` embeds them with the model instead. The load average is recorded before and after.

Targets (issue: knowledge base): lexical >= 300 files/s, dense >= 50 chunks/s, one-file sync lexical < 1 s and
dense < 5 s, hybrid p50 <= 20 ms and p99 <= 100 ms. Prints one JSON document.

    python bench/kb_index.py [--workdir DIR] [--cache DIR] [--embed-all] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _service import free_port
from checks import DJANGO, GIT_ENV, fetch, make_repository, sh

DJANGO_SHA256 = "23254866a5bb9a2cfa6004e8b809ec6246eba4b58a7589bc2772f1bcc8456c7f"
TARGET_CHUNKS = 100_000
QUERIES = 200
WARMUP = 10
SERVE_QUERIES = 20
STDLIB_CHUNKS_ESTIMATE = 30_000
DENSE_SAMPLE = 1000


def measured(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, dict[str, Any]]:
    """Run ``command``; its wall seconds, peak RSS in MiB (``ru_maxrss`` of that process) and JSON stdout."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"{command[2:4]} exited {process.returncode}: {stderr.read().decode()[-2000:]}")
        return round(elapsed, 3), usage.ru_maxrss // 1024, json.loads(stdout.read() or b"{}")


def ticketsmith(*args: str) -> list[str]:
    return [sys.executable, "-m", "service", *args]


def grow(root: Path, copies: int, *, stdlib: bool) -> None:
    """Add the stdlib under ``stdlib/`` (once) and copies of ``django/`` under ``copies/N/`` up to ``copies``, and
    commit."""
    if stdlib:
        shutil.copytree(
            Path(sysconfig.get_paths()["stdlib"]),
            root / "stdlib",
            ignore=shutil.ignore_patterns("site-packages", "__pycache__", "*.pyc", "*.so", "*.exe", "*.a"),
            symlinks=True,
        )
    for number in range(1, copies + 1):
        if not (root / "copies" / str(number)).exists():
            shutil.copytree(root / "django", root / "copies" / str(number) / "django", symlinks=True)
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-q", "-m", "grow the repository"], root)


def package_chunks(data_dir: Path, repository: str, prefix: str) -> int:
    """How many chunks the indexed files under ``prefix`` have."""
    from service.container import build_container
    from service.settings import Settings

    container = build_container(Settings(data_dir=data_dir))
    try:
        files = container.knowledge.index.list_files(repository=repository, prefix=prefix, limit=10_000_000)
        return max(1, sum(f.chunk_count for f in files))
    finally:
        container.close()


def embed_sample(data_dir: Path, repository: str, count: int) -> dict[str, Any]:
    """Embed ``count`` pending contents drawn with a fixed seed, in the configured batches, with the default
    model as the index command would; time only the model calls and the stores."""
    import random

    from service.container import build_container
    from service.settings import Settings

    settings = Settings(data_dir=data_dir)
    container = build_container(settings)
    try:
        knowledge = container.knowledge
        assert knowledge.embedder is not None
        embedder, index = knowledge.embedder, knowledge.index
        pending = index.pending_embeddings(repository=repository, model_id=embedder.model_id, limit=10_000_000)
        chosen = random.Random(11).sample(pending, min(count, len(pending)))
        embedder.embed_documents(["warm up"])  # the model loads once per process; not part of the throughput
        batch = settings.embeddings.batch_size
        started = time.perf_counter()
        for first in range(0, len(chosen), batch):
            part = chosen[first : first + batch]
            vectors = embedder.embed_documents([content for _, content in part])
            index.store_embeddings(
                model_id=embedder.model_id, vectors={digest: vectors[i] for i, (digest, _) in enumerate(part)}
            )
        return {"embedded": len(chosen), "seconds": round(time.perf_counter() - started, 3)}
    finally:
        container.close()


def fill_vectors(data_dir: Path, repository: str) -> dict[str, Any]:
    """Random unit vectors under the default model's id for every pending chunk (see the module docstring)."""
    import numpy as np

    from service.container import build_container
    from service.settings import Settings

    settings = Settings(data_dir=data_dir)
    container = build_container(settings)
    try:
        knowledge = container.knowledge
        assert knowledge.embedder is not None
        model_id, dimensions = knowledge.embedder.model_id, knowledge.embedder.dimensions
        rng = np.random.default_rng(7)
        filled = 0
        started = time.perf_counter()
        while pending := knowledge.index.pending_embeddings(repository=repository, model_id=model_id, limit=4096):
            rows = rng.standard_normal((len(pending), dimensions)).astype(np.float32)
            rows /= np.linalg.norm(rows, axis=1, keepdims=True)
            knowledge.index.store_embeddings(
                model_id=model_id, vectors={digest: rows[i] for i, (digest, _) in enumerate(pending)}
            )
            filled += len(pending)
        return {"random_vectors": filled, "seconds": round(time.perf_counter() - started, 2)}
    finally:
        container.close()


def query_texts(root: Path, count: int) -> list[str]:
    from service.knowledge_base.labelled_sets import docstring_corpus, sample

    files = {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8", errors="replace")
        for path in sorted((root / "django").rglob("*.py"))
    }
    return [q.query for q in sample(docstring_corpus(files).queries, limit=count + WARMUP, seed=5)]


def latency(data_dir: Path, repository: str, queries: list[str]) -> dict[str, Any]:
    from service.container import build_container
    from service.settings import Settings

    container = build_container(Settings(data_dir=data_dir))
    try:
        knowledge = container.knowledge
        for query in queries[:WARMUP]:
            knowledge.search(query, repository=repository, k=10)
        timings: list[float] = []
        modes: set[str] = set()
        for query in queries[WARMUP:]:
            started = time.perf_counter()
            results = knowledge.search(query, repository=repository, k=10)
            timings.append((time.perf_counter() - started) * 1000)
            modes.add(results.mode)
        timings.sort()
        status = knowledge.status(repository)
        parts = stage_medians(knowledge, repository, queries[WARMUP:])
        return {
            "queries": len(timings),
            "chunks": status.chunks,
            "embedded": status.embedded,
            "modes": sorted(modes),
            "p50_ms": round(statistics.median(timings), 2),
            "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 2),
            "max_ms": round(timings[-1], 2),
            "stage_p50_ms": parts,
        }
    finally:
        container.close()


def stage_medians(knowledge: Any, repository: str, queries: list[str]) -> dict[str, float]:
    """Median milliseconds of each stage of a hybrid search, run on its own: embedding the query, the dense
    search (k=50) and the lexical search (k=50)."""
    from service.domain.lexical import query_terms

    embedder, index = knowledge.embedder, knowledge.index
    stages: dict[str, list[float]] = {"embed_query": [], "dense_search": [], "lexical_search": []}
    for query in queries:
        started = time.perf_counter()
        vector = embedder.embed_query(query)
        stages["embed_query"].append(time.perf_counter() - started)
        started = time.perf_counter()
        index.search_dense(repository=repository, model_id=embedder.model_id, vector=vector, k=50)
        stages["dense_search"].append(time.perf_counter() - started)
        started = time.perf_counter()
        index.search_lexical(repository=repository, terms=query_terms(query), k=50)
        stages["lexical_search"].append(time.perf_counter() - started)
    return {name: round(statistics.median(values) * 1000, 2) for name, values in stages.items()}


def serve_rss(env: dict[str, str], cwd: Path, repository: str, queries: list[str]) -> dict[str, Any]:
    """Start ``serve``, wait until ready, run a few retrieve calls, and read its peak RSS (VmHWM)."""
    port = free_port()
    process = subprocess.Popen(
        ticketsmith("serve", "--port", str(port)),
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("serve did not become healthy") from None
                time.sleep(0.2)
        answered = 0
        for query in queries[:SERVE_QUERIES]:
            request = urllib.request.Request(
                f"{base}/v1/knowledge-bases/{repository}/retrieve",
                data=json.dumps({"query": query, "k": 10}).encode(),
                headers={"content-type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    answered += response.status == 200
            except OSError:
                continue
        status = Path(f"/proc/{process.pid}/status").read_text()
        peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
        return {"retrieve_calls_answered": answered, "peak_rss_mib": peak // 1024}
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=None, help="where to unpack (default: a temporary dir)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ticketsmith-bench")
    parser.add_argument("--embed-all", action="store_true", help="embed the grown repository with the real model")
    parser.add_argument("--dense-sample", type=int, default=DENSE_SAMPLE, help="chunks embedded to time the model")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    load_before = os.getloadavg()
    sdist, digest = fetch(args.cache)
    if digest != DJANGO_SHA256:
        raise SystemExit(f"{sdist} has sha256 {digest}, not the pinned {DJANGO_SHA256}")
    result: dict[str, Any] = {"benchmark": "kb_index", "repository": {"sdist": DJANGO, "sha256": digest}}
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir or Path(scratch)
        root = make_repository(sdist, workdir)
        data_dir = workdir / "data"
        env = os.environ | GIT_ENV | {"TICKETSMITH_DATA_DIR": str(data_dir)}

        cold_args = ticketsmith("index", str(root), "--name", "django", "--json")
        seconds, rss, cold = measured(cold_args if args.embed_all else [*cold_args, "--no-embed"], env, root)
        sync = cold["index"]
        embed = cold["embedding"] if args.embed_all else embed_sample(data_dir, "django", args.dense_sample)
        result["cold_index"] = {
            "wall_seconds": seconds,
            "files": sync["files"],
            "chunks": sync["chunks"],
            "lexical_seconds": sync["seconds"],
            "lexical_files_per_second": round(sync["files"] / sync["seconds"], 1),
            "dense": "all, in the index process" if args.embed_all else f"a seeded sample of {args.dense_sample}",
            "dense_seconds": embed["seconds"],
            "embedded": embed["embedded"],
            "dense_chunks_per_second": round(embed["embedded"] / embed["seconds"], 1) if embed["seconds"] else None,
            "peak_rss_mib": rss,
        }

        per_copy = package_chunks(data_dir, "django", "django/")
        copies = max(1, -(-(TARGET_CHUNKS - sync["chunks"] - STDLIB_CHUNKS_ESTIMATE) // per_copy))
        grow(root, copies, stdlib=True)
        index_args = ticketsmith("index", str(root), "--name", "django", "--json")
        if not args.embed_all:
            index_args.append("--no-embed")
        seconds, rss, grown = measured(index_args, env, root)
        while grown["index"]["chunks"] < TARGET_CHUNKS:  # the estimate fell short: one more copy, and sync again
            copies += 1
            grow(root, copies, stdlib=False)
            seconds, rss, grown = measured(index_args, env, root)
        filled = None if args.embed_all else fill_vectors(data_dir, "django")
        result["grown_index"] = {
            "copies_of_django": copies,
            "wall_seconds": seconds,
            "files": grown["index"]["files"],
            "chunks": grown["index"]["chunks"],
            "vectors": "real model" if args.embed_all else filled,
            "peak_rss_mib": rss,
        }

        target = root / "django" / "utils" / "text.py"
        target.write_text(target.read_text() + "\n\ndef _bench_added():\n    return 1\n")
        sh(["git", "commit", "-q", "-am", "one-file change"], root)
        seconds, rss, one = measured(ticketsmith("index", str(root), "--name", "django", "--json"), env, root)
        result["one_file_sync"] = {
            "wall_seconds": seconds,
            "processed_files": one["index"]["processed"],
            "lexical_seconds": one["index"]["seconds"],
            "dense_seconds": one["embedding"]["seconds"],
            "embedded": one["embedding"]["embedded"],
            "chunks": one["index"]["chunks"],
            "peak_rss_mib": rss,
        }

        queries = query_texts(root, QUERIES)
        result["query_latency"] = latency(data_dir, "django", queries)
        result["serve"] = serve_rss(env, root, "django", queries)

    cold, sync_one, lat = result["cold_index"], result["one_file_sync"], result["query_latency"]
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "bench_process_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    result["targets"] = {
        "lexical_at_least_300_files_per_s": cold["lexical_files_per_second"] >= 300,
        "dense_at_least_50_chunks_per_s": (cold["dense_chunks_per_second"] or 0) >= 50,
        "index_at_least_100k_chunks": result["grown_index"]["chunks"] >= TARGET_CHUNKS,
        "one_file_sync_lexical_under_1s": sync_one["lexical_seconds"] < 1,
        "one_file_sync_dense_under_5s": sync_one["dense_seconds"] < 5,
        "hybrid_p50_at_most_20ms": lat["p50_ms"] <= 20,
        "hybrid_p99_at_most_100ms": lat["p99_ms"] <= 100,
    }
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
