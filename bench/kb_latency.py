"""Query latency of the embedded index at 100k+ chunks: lexical, dense and hybrid p50/p99, each stage on its own.

``--build`` grows the Django sdist to at least 100k chunks in ``--workdir`` (as ``bench/kb_index.py`` does:
lexical index, then random unit vectors for every chunk) and keeps it there; without ``--build`` the index
already in ``--workdir`` is measured, so the same index can be timed with two versions of the code (run with
another ``PYTHONPATH`` for the other version). Also reports the first lexical search, how long until lexical searches
get fast (in-memory postings built, where the code has them) and the load average around the run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checks import GIT_ENV, fetch, make_repository
from kb_index import (
    DJANGO_SHA256,
    STDLIB_CHUNKS_ESTIMATE,
    TARGET_CHUNKS,
    fill_vectors,
    grow,
    measured,
    package_chunks,
    query_texts,
    ticketsmith,
)

QUERIES = 200
WARMUP = 10


def build(workdir: Path, cache: Path) -> dict[str, Any]:
    sdist, digest = fetch(cache)
    if digest != DJANGO_SHA256:
        raise SystemExit(f"{sdist} has sha256 {digest}, not the pinned {DJANGO_SHA256}")
    root = make_repository(sdist, workdir)
    data_dir = workdir / "data"
    env = os.environ | GIT_ENV | {"TICKETSMITH_DATA_DIR": str(data_dir)}
    index_args = [*ticketsmith("index", str(root), "--name", "django", "--json"), "--no-embed"]
    _, _, cold = measured(index_args, env, root)
    per_copy = package_chunks(data_dir, "django", "django/")
    copies = max(1, -(-(TARGET_CHUNKS - cold["index"]["chunks"] - STDLIB_CHUNKS_ESTIMATE) // per_copy))
    grow(root, copies, stdlib=True)
    seconds, _, grown = measured(index_args, env, root)
    while grown["index"]["chunks"] < TARGET_CHUNKS:
        copies += 1
        grow(root, copies, stdlib=False)
        seconds, _, grown = measured(index_args, env, root)
    return {"chunks": grown["index"]["chunks"], "index_seconds": seconds, "vectors": fill_vectors(data_dir, "django")}


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(v * 1000 for v in values)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
    }


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(workdir: Path, count: int) -> dict[str, Any]:
    from service.container import build_container
    from service.domain.lexical import query_terms
    from service.settings import Settings

    root = next(p for p in workdir.iterdir() if p.name.startswith("django-"))
    queries = query_texts(root, count)
    container = build_container(Settings(data_dir=workdir / "data"))
    try:
        knowledge = container.knowledge
        embedder, index = knowledge.embedder, knowledge.index
        before = rss_mib()
        started = time.perf_counter()
        index.search_lexical(repository="django", terms=query_terms(queries[0]), k=50)
        first_lexical = time.perf_counter() - started
        # A large repository's postings build in the background; wait for searches to get fast (at most a minute).
        fast_after = None
        while fast_after is None and time.perf_counter() - started < 60:
            probe = time.perf_counter()
            index.search_lexical(repository="django", terms=query_terms(queries[1]), k=50)
            if time.perf_counter() - probe < 0.02:
                fast_after = time.perf_counter() - started
            else:
                time.sleep(0.2)
        after = rss_mib()
        for query in queries[:WARMUP]:
            knowledge.search(query, repository="django", k=10)
        stages: dict[str, list[float]] = {"lexical": [], "dense": [], "embed_query": [], "hybrid": []}
        for query in queries[WARMUP:]:
            started = time.perf_counter()
            index.search_lexical(repository="django", terms=query_terms(query), k=50)
            stages["lexical"].append(time.perf_counter() - started)
            started = time.perf_counter()
            vector = embedder.embed_query(query)
            stages["embed_query"].append(time.perf_counter() - started)
            started = time.perf_counter()
            index.search_dense(repository="django", model_id=embedder.model_id, vector=vector, k=50)
            stages["dense"].append(time.perf_counter() - started)
            started = time.perf_counter()
            results = knowledge.search(query, repository="django", k=10)
            stages["hybrid"].append(time.perf_counter() - started)
            assert results.mode == "hybrid", results.mode
        status = knowledge.status("django")
        return {
            "chunks": status.chunks,
            "embedded": status.embedded,
            "queries": len(queries) - WARMUP,
            "first_lexical_search_ms": round(first_lexical * 1000, 1),
            "lexical_fast_after_ms": None if fast_after is None else round(fast_after * 1000, 1),
            "rss_growth_until_then_mib": round(after - before, 1),
            **{name: percentiles(values) for name, values in stages.items()},
        }
    finally:
        container.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="where the grown index is (or is built)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ticketsmith-bench"))
    parser.add_argument("--build", action="store_true", help="build the grown index in --workdir first")
    parser.add_argument("--queries", type=int, default=QUERIES)
    parser.add_argument("--label", default="", help="recorded with the result (e.g. the commit measured)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "kb_latency", "label": args.label}
    if args.build:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result["build"] = build(args.workdir, args.cache)
    load_before = os.getloadavg()
    result["latency"] = measure(args.workdir, args.queries)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
