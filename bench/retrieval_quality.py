"""Retrieval quality: docstring → function on the CPython standard library that ships with this interpreter.

The source is every ``.py`` file under ``sysconfig.get_paths()['stdlib']`` except test directories and
site-packages, pinned by the interpreter version and a hash of the file list and contents. Every function
docstring is removed from the code (``service.knowledge_base.labelled_sets``); a function's docstring (first
paragraph) is the query and the function's code the answer. From all the pairs, a seeded sample is split into a
tuning set (1,000) and a disjoint test set (2,000). By default (``--corpus functions``) each split's functions
alone are indexed, each in a scratch index of its own, chunked by the indexer's chunker: 2,000 functions with
their docstrings removed for the test. ``--corpus files`` indexes the whole stripped standard library instead
(every function competes with all the other code; harder, and ~19k chunks to embed). In the same run:

* BM25 (lexical), MiniLM (dense, the local embedder) and hybrid search are measured on the test set;
* hybrid is measured at the naive equal weights and at the weights the sweep found best *on the tuning set* for
  each fusion method (the test set never chooses a weight).

Target (issue: knowledge base): hybrid MRR@10 >= 0.60 on the test set. Prints one JSON document.

    python bench/retrieval_quality.py [--tune 1000] [--test 2000] [--seed 13] [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.knowledge_base.embedding import embed_pending
from service.knowledge_base.evaluation import (
    DEFAULT_WEIGHTS,
    IndexCandidates,
    QueryRun,
    best_points,
    evaluate,
    gather,
    sweep,
)
from service.knowledge_base.evaluation_index import build_scratch_index
from service.knowledge_base.labelled_sets import docstring_corpus, function_corpus, sample, split

EXCLUDED_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"})
REPOSITORY = "stdlib-eval"
TARGET_MRR = 0.60


def stdlib_files(root: Path) -> dict[str, str]:
    """Path (relative, ``/``-separated) → text of every stdlib ``.py`` file outside test directories."""
    files: dict[str, str] = {}
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in EXCLUDED_DIRS)
        for name in sorted(names):
            if name.endswith(".py"):
                full = Path(directory) / name
                try:
                    files[full.relative_to(root).as_posix()] = full.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue
    return files


def corpus_digest(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path].encode()).digest())
    return digest.hexdigest()


def main() -> None:
    from _kb import fusion_methods, local_embedder, scratch_index, tuned_defaults

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tune", type=int, default=1000, help="queries in the tuning split")
    parser.add_argument("--test", type=int, default=2000, help="queries in the test split")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--depth", type=int, default=50, help="candidates fetched from each retriever")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--corpus",
        choices=("functions", "files"),
        default="functions",
        help="functions: index only the split's functions (tuning and test each in an index of their own); "
        "files: index every stdlib file, docstrings removed (larger and harder; ~19k chunks to embed)",
    )
    parser.add_argument(
        "--index-dir",
        type=Path,
        default=None,
        help="keep the scratch index here: a rerun embeds only content it has not embedded before",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    root = Path(sysconfig.get_paths()["stdlib"])
    files = stdlib_files(root)
    corpus = docstring_corpus(files)
    chosen = sample(corpus.queries, limit=args.tune + args.test, seed=args.seed)
    tune, test = split(chosen, first=args.tune, seed=args.seed)
    if args.corpus == "functions":
        tune_files, tune = function_corpus(corpus, tune)
        test_files, test = function_corpus(corpus, test)
        corpora = {"stdlib-tune": tune_files, "stdlib-test": test_files}
        searched = {"tune": ("stdlib-tune", tune), "test": ("stdlib-test", test)}
    else:
        corpora = {"stdlib": {**files, **corpus.files}}
        searched = {"tune": ("stdlib", tune), "test": ("stdlib", test)}
    methods = fusion_methods()
    timings: dict[str, float | int] = {}
    chunks: dict[str, int] = {}
    runs: dict[str, list[QueryRun]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.index_dir or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        embedder = local_embedder(Path(scratch))
        index, close = scratch_index(directory)
        try:
            started = time.perf_counter()
            for name, texts in corpora.items():
                index.delete_repository(name=name)
                chunks[name] = build_scratch_index(index, repository=name, files=texts)
            timings["lexical_index_seconds"] = round(time.perf_counter() - started, 2)
            started = time.perf_counter()
            embedded = sum(embed_pending(index, embedder, name).embedded for name in corpora)
            timings["embed_seconds"] = round(time.perf_counter() - started, 2)
            timings["embedded_now"] = embedded
            started = time.perf_counter()
            for split_name, (name, queries) in searched.items():
                candidates = IndexCandidates(index, embedder, repository=name)
                runs[split_name] = gather(queries, candidates, depth=args.depth)
            timings["search_seconds"] = round(time.perf_counter() - started, 2)
        finally:
            close()
    tune_runs, test_runs = runs["tune"], runs["test"]
    tuned = best_points(sweep(tune_runs, methods, weights=DEFAULT_WEIGHTS))
    default_method, default_weight = tuned_defaults()
    on_test: dict[str, Any] = {}
    equal = evaluate("docstrings", test_runs, methods, method=default_method, lexical_weight=0.5, weights=[0.5])
    on_test["lexical"] = equal.lexical.as_dict()
    on_test["dense"] = equal.dense.as_dict()
    for name in methods:
        naive = evaluate("docstrings", test_runs, methods, method=name, lexical_weight=0.5, weights=())
        on_test[f"hybrid_{name}_equal_weights"] = naive.hybrid.as_dict()
        point = tuned[name]
        best = evaluate("docstrings", test_runs, methods, method=name, lexical_weight=point.lexical_weight, weights=())
        on_test[f"hybrid_{name}_tuned"] = {"lexical_weight": point.lexical_weight, **best.hybrid.as_dict()}
    configured = evaluate(
        "docstrings", test_runs, methods, method=default_method, lexical_weight=default_weight, weights=()
    )
    on_test["hybrid_configured_default"] = {
        "method": default_method,
        "lexical_weight": default_weight,
        **configured.hybrid.as_dict(),
    }
    best_method = max(tuned, key=lambda name: tuned[name].scores.mrr_at_10)
    hybrid_mrr = on_test[f"hybrid_{best_method}_tuned"]["mrr@10"]
    result: dict[str, Any] = {
        "benchmark": "retrieval_quality",
        "corpus": {
            "source": "CPython standard library shipped with the interpreter",
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "stdlib_files": len(files),
            "files_sha256": corpus_digest(files),
            "excluded_dirs": sorted(EXCLUDED_DIRS),
            "files_with_docstrings_removed": len(corpus.files),
            "indexed": args.corpus,
            "chunks": chunks,
        },
        "labelled_set": {
            "pairs_found": len(corpus.queries),
            "seed": args.seed,
            "tune_queries": len(tune),
            "test_queries": len(test),
            "candidate_depth": args.depth,
        },
        "embedder": embedder.model_id,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "timings": timings,
        "tuning": {
            name: {"lexical_weight": p.lexical_weight, **p.scores.as_dict()} for name, p in sorted(tuned.items())
        },
        "test": on_test,
        "best_method": best_method,
        "targets": {"hybrid_mrr@10_at_least_0.60": hybrid_mrr >= TARGET_MRR},
    }
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
