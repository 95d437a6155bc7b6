"""A deterministic-planner scan of a pinned real repository into the fake Jira, then the same scan again.

The repository is a PyPI sdist (name, version and sha256 pinned below; ``--sdist`` picks another one and records
its digest), unpacked and committed into a fresh git repository as ``bench/checks.py`` does. The scan runs the way
the service runs it: a run started through ``RunService`` (``POST /v1/runs`` does the same), advanced by the job
worker the container builds (``ticketsmith worker --once`` is the same code), with no LLM configured (the
deterministic planner), filing into the stateful fake Jira Cloud (``tests/fakes/``) served on loopback from this
process, with the default local embedding model. Then the same scan is started again; it must file nothing.

Measured per run: wall time (start to end of the run), the analysers' time (the ``quality.check`` action spans of
the run's trace), the embedding model's time (every call of the embedder, timed around it: indexing and query
embeddings), and what is left, the orchestration overhead: sync without embeddings (git, chunking, the FTS
index), triage, inspection lookups, ticket writing, filing over HTTP, the engine's saves and the trace. Also the
tickets filed, the step durations and the process's peak RSS. The embedding model is loaded (and timed) before
the first run, as a running worker has it loaded. The runs get a ticket budget (``--max-tickets``, default 1000)
large enough for every problem found, so the repeated scan has nothing left to file. Target (issue 6): overhead
under 10% of the first run's wall time. The load average before and after is recorded (``uptime``): the machine
is shared.

    python bench/scan.py [--sdist NAME==VERSION] [--cache DIR] [--workdir DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checks import GIT_ENV, sh  # noqa: E402

from service.adapters.embeddings import build_embedder  # noqa: E402
from service.container import Container, build_container, build_worker  # noqa: E402
from service.domain.action_calls import Trigger  # noqa: E402
from service.domain.runs import Run, SpanKind  # noqa: E402
from service.knowledge_base.sources import default_name  # noqa: E402
from service.ports.embedder import Embedder, Matrix  # noqa: E402
from service.settings import JiraSettings, JobsSettings, OrchestratorSettings, Settings  # noqa: E402
from tests.fakes.jira_server import FakeJira, FakeJiraServer  # noqa: E402

PINNED = {"requests==2.32.3": "55365417734eb18255590a9ff9eb97e9e1da868d4ccd6402399eaf68af20a760"}
DEFAULT_SDIST = "requests==2.32.3"
TARGET_OVERHEAD_SHARE = 0.10


class TimedEmbedder:
    """The configured embedder, with the seconds spent inside it added up per kind of call (thread-safe)."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.seconds = {"documents": 0.0, "queries": 0.0}
        self.calls = 0
        self.texts = 0

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def dimensions(self) -> int:
        return self._inner.dimensions

    def _add(self, kind: str, started: float, texts: int) -> None:
        with self._lock:
            self.seconds[kind] += time.perf_counter() - started
            self.calls += 1
            self.texts += texts

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        started = time.perf_counter()
        try:
            return self._inner.embed_documents(texts)
        finally:
            self._add("documents", started, len(texts))

    def embed_query(self, text: str) -> Matrix:
        started = time.perf_counter()
        try:
            return self._inner.embed_query(text)
        finally:
            self._add("queries", started, 1)

    def reset(self) -> tuple[dict[str, float], int, int]:
        with self._lock:
            taken = (self.seconds, self.calls, self.texts)
            self.seconds, self.calls, self.texts = {"documents": 0.0, "queries": 0.0}, 0, 0
            return taken


def fetch(requirement: str, cache: Path) -> tuple[Path, str]:
    """The sdist of ``requirement`` (downloaded once into ``cache``) and its sha256, checked against the pin."""
    cache.mkdir(parents=True, exist_ok=True)
    name, version = requirement.split("==")
    sdist = cache / f"{name}-{version}.tar.gz"
    if not sdist.exists():
        download = [sys.executable, "-m", "pip", "download", requirement, "--no-binary", ":all:", "--no-deps"]
        sh([*download, "-d", str(cache)], cache)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    pinned = PINNED.get(requirement)
    if pinned is not None and digest != pinned:
        raise SystemExit(f"{sdist.name}: sha256 {digest} is not the pinned {pinned}")
    return sdist, digest


def make_repository(sdist: Path, workdir: Path) -> Path:
    with tarfile.open(sdist) as archive:
        archive.extractall(workdir, filter="data")
        top = archive.getnames()[0].split("/")[0]
    root = workdir / top
    sh(["git", "init", "-q", "-b", "main"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-q", "-m", f"{sdist.name}"], root)
    return root


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def tickets_in(site: FakeJira) -> int:
    with site.lock:
        return len(site.store.issues)


def scan_once(container: Container, embedder: TimedEmbedder, site: FakeJira, repository: Path) -> dict[str, Any]:
    """Start a scan run, let a worker run every due job, and measure the run."""
    embedder.reset()
    tickets_before = tickets_in(site)
    load_before = os.getloadavg()
    started = time.perf_counter()
    run = container.runs.start(
        workflow="scan",
        repository=default_name(str(repository)),
        parameters={"source": str(repository), "since": None, "dry_run": False},
        trigger=Trigger.CLI,
        principal="bench",
    )
    worker = build_worker(container, worker_id="bench")
    jobs = asyncio.run(worker.drain())
    wall = time.perf_counter() - started
    embedding, embedding_calls, embedded_texts = embedder.reset()
    embedding_seconds = sum(embedding.values())
    finished: Run = container.run_store.get(run.id)
    spans = container.run_store.spans(run.id)
    analysers = sum(s.duration_ms for s in spans if s.kind is SpanKind.TOOL and s.name == "quality.check") / 1000
    steps = {s.name: round(s.duration_ms / 1000, 3) for s in spans if s.kind is SpanKind.STEP}
    overhead = wall - analysers - embedding_seconds
    outside_steps = wall - sum(steps.values())
    return {
        "run_id": run.id,
        "state": finished.state.value,
        "error": finished.error,
        "wall_seconds": round(wall, 3),
        "analysers_seconds": round(analysers, 3),
        "embedding_seconds": round(embedding_seconds, 3),
        "embedding_seconds_by_call": {kind: round(seconds, 3) for kind, seconds in embedding.items()},
        "embedding_calls": embedding_calls,
        "embedded_texts": embedded_texts,
        "overhead_seconds": round(overhead, 3),
        "overhead_share": round(overhead / wall, 4) if wall else None,
        # The same overhead against the run without its embeddings (a remote or warm-cache embedder).
        "overhead_share_without_embeddings": round(overhead / (wall - embedding_seconds), 4)
        if wall > embedding_seconds
        else None,
        # Where the overhead went: each step's time less the analysers and embeddings inside it, and the time
        # outside any step (queue claim, engine saves, the worker).
        "overhead_by_step": {
            "sync_without_embeddings": round(steps.get("sync", 0.0) - embedding["documents"], 3),
            "check_without_analysers": round(steps.get("check", 0.0) - analysers, 3),
            "inspect_without_query_embeddings": round(steps.get("inspect", 0.0) - embedding["queries"], 3),
            **{name: seconds for name, seconds in steps.items() if name not in ("sync", "check", "inspect")},
            "outside_steps": round(outside_steps, 3),
        },
        "step_seconds": steps,
        "spans": len(spans),
        "jobs_run": [f"{job.kind}:{job.state.value}" for job in jobs],
        "tickets_filed": tickets_in(site) - tickets_before,
        "usage": finished.usage.as_dict(),
        "result": finished.result,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", default=DEFAULT_SDIST, help="PyPI requirement NAME==VERSION of the repository")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ticketsmith-bench-cache")
    parser.add_argument("--workdir", type=Path, default=None, help="where to unpack (default: a temporary dir)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--max-tickets", type=int, default=1000, help="the runs' ticket budget")
    args = parser.parse_args()
    sdist, digest = fetch(args.sdist, args.cache)
    uptime_before = uptime()
    server = FakeJiraServer().start()
    site = server.reset("cloud")
    try:
        with tempfile.TemporaryDirectory(dir=args.workdir) as scratch:
            workdir = Path(scratch)
            repository = make_repository(sdist, workdir)
            tracked = len(sh_output(["git", "ls-files", "-z"], repository).split(b"\0")) - 1
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                data_dir=workdir / "data",
                jira=JiraSettings(
                    url=site.base_url,
                    deployment="cloud",
                    email=site.email,
                    api_token=site.api_token,  # type: ignore[arg-type]
                    project_key="OPS",
                ),
                jobs=JobsSettings(call_retention_days=0, in_process_worker=False),
                # Room for every problem the repository has: the repeated scan must then find nothing new
                # (with the default 20 it would file the next 20, as a budgeted run should).
                orchestrator=OrchestratorSettings(max_tickets=args.max_tickets),
            )
            embedder = TimedEmbedder(build_embedder(settings))
            # The model loads on its first call; a worker keeps it loaded, so the load is measured apart.
            loading = time.perf_counter()
            embedder.embed_query("warm up")
            model_load_seconds = time.perf_counter() - loading
            embedder.reset()
            container = build_container(settings, embedder=embedder)
            try:
                first = scan_once(container, embedder, site, repository)
                second = scan_once(container, embedder, site, repository)
            finally:
                container.close()
    finally:
        server.stop()
    result = {
        "benchmark": "scan",
        "repository": {"sdist": args.sdist, "sha256": digest, "tracked_files": tracked},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "planner": "deterministic",
        "embedder": embedder.model_id,
        "model_load_seconds": round(model_load_seconds, 3),
        "ticket_budget": args.max_tickets,
        "uptime_before": uptime_before,
        "uptime_after": uptime(),
        "first_run": first,
        "repeated_run": second,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "target": {
            "overhead_share_below": TARGET_OVERHEAD_SHARE,
            "met": first["overhead_share"] is not None and first["overhead_share"] < TARGET_OVERHEAD_SHARE,
            "repeat_files_zero": second["tickets_filed"] == 0,
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


def sh_output(command: list[str], cwd: Path) -> bytes:
    return subprocess.run(command, cwd=cwd, capture_output=True, env=GIT_ENV, check=True).stdout


if __name__ == "__main__":
    main()
