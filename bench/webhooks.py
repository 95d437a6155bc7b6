"""Signed Jira webhooks accepted per second, and their latency, against a running `ticketsmith serve`.

Starts `ticketsmith serve` on loopback (SQLite with and without the in-process job worker running the webhook
jobs meanwhile, and PostgreSQL from the PyPI package ``pgserver`` with ``--postgres``), then keeps 32
connections busy for N seconds, each sending the recorded ``webhook_issue_updated.json`` delivery signed with
``X-Hub-Signature: sha256=<HMAC>`` and a unique ``X-Atlassian-Webhook-Identifier``; one delivery in 20 replays
an identifier already answered, as Jira's retries do. The client is a small asyncio HTTP/1.1 loop
(keep-alive), so every identifier's answer is known: after the run the persisted jobs are counted in the
database and compared.

- ``accepted``: 202 "accepted" answers; ``lost``: accepted identifiers with no persisted job;
- ``doubled``: identifiers with more than one job (a replay must be answered "duplicate", not stored again).

Targets (issue: Jira): >= 500 accepted/s with p99 < 50 ms on this 2-core machine, zero lost, zero doubled.
Prints one JSON document.

With ``--pin`` the service (and PostgreSQL) run on CPU 1 and the load generator on CPU 0, so the generator
does not take the service's CPU time; the default shares both cores between them, as a closed loop on one
machine does.

    python bench/webhooks.py [--duration 10] [--connections 32] [--workers 2] [--postgres] [--pin]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _service import free_port, wait_ready, wrk_latency_ms
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
BODY = (REPO / "tests" / "fixtures" / "jira" / "webhook_issue_updated.json").read_bytes()
SECRET = "bench-webhook-secret-0123456789"
REPLAY_EVERY = 20
SERVICE_CPUS = {1}
GENERATOR_CPUS = {0}


def pin_tree(pid: int, cpus: set[int]) -> None:
    """Pin ``pid`` and every process under it (each thread too) to ``cpus``."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)
        for child in (task / "children").read_text().split():
            pin_tree(int(child), cpus)


@dataclass
class Tally:
    """Every answer, by identifier, and each request's latency in milliseconds."""

    answers: dict[str, list[str]] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


def request_bytes(port: int, identifier: str, signature: str) -> bytes:
    head = (
        "POST /v1/webhooks/jira HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n"
        f"X-Hub-Signature: {signature}\r\n"
        f"X-Atlassian-Webhook-Identifier: {identifier}\r\n"
        "\r\n"
    )
    return head.encode() + BODY


async def connection(name: str, port: int, stop_at: float, tally: Tally, signature: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    mine: list[str] = []
    try:
        while time.monotonic() < stop_at:
            sent += 1
            replay = sent % REPLAY_EVERY == 0 and bool(mine)
            identifier = mine[-1] if replay else f"{name}-{sent}"
            started = time.perf_counter()
            writer.write(request_bytes(port, identifier, signature))
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                header, _, value = line.decode("latin-1").partition(":")
                if header.lower() == "content-length":
                    length = int(value)
            payload = await reader.readexactly(length)
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)
            status = int(status_line.split()[1])
            tally.statuses[status] += 1
            answer = json.loads(payload).get("status", "") if status == 202 else f"http-{status}"
            tally.answers.setdefault(identifier, []).append(answer)
            if not replay:
                mine.append(identifier)
    finally:
        writer.close()


async def drive(port: int, *, connections: int, duration: float, run: str) -> Tally:
    tally = Tally()
    signature = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    stop_at = time.monotonic() + duration
    await asyncio.gather(*(connection(f"{run}-{i}", port, stop_at, tally, signature) for i in range(connections)))
    return tally


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)


def persisted(url: str) -> Counter[str]:
    """Jobs per delivery identifier in the database."""
    engine = create_engine(url)
    column = (
        "payload->>'identifier'" if engine.dialect.name == "postgresql" else "json_extract(payload, '$.identifier')"
    )
    query = text(f"SELECT {column} AS identifier, COUNT(*) AS n FROM jobs WHERE kind = 'jira.webhook' GROUP BY 1")
    try:
        with engine.connect() as connection:
            return Counter({row.identifier: row.n for row in connection.execute(query)})
    finally:
        engine.dispose()


@contextmanager
def postgres(data: Path, *, pin: bool) -> Iterator[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    server: Any = pgserver.get_server(data / "pg", cleanup_mode="stop")
    if pin:  # backends fork from the postmaster, so they inherit its CPU
        pin_tree(int((data / "pg" / "postmaster.pid").read_text().split()[0]), SERVICE_CPUS)
    admin = create_engine(make_url(server.get_uri()).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("CREATE DATABASE bench_webhooks"))
    admin.dispose()
    try:
        url = make_url(server.get_uri()).set(drivername="postgresql+psycopg", database="bench_webhooks")
        yield url.render_as_string(hide_password=False)
    finally:
        server.cleanup()


WRK_SCRIPT = """
local threads = {}
local count = 0
function setup(thread)
  count = count + 1
  thread:set("tid", count)
end
function init(args)
  sent = 0
end
function request()
  sent = sent + 1
  wrk.headers["X-Atlassian-Webhook-Identifier"] = "wrk-" .. tid .. "-" .. sent
  return wrk.format("POST", "/v1/webhooks/jira", wrk.headers, wrk.body)
end
"""


def run_wrk(port: int, data: Path, *, connections: int, duration: float) -> dict[str, Any]:
    """wrk (C, two threads) at the same concurrency: its latencies are not inflated by a Python client."""
    signature = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    script = data / "webhooks.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-Hub-Signature"] = "{signature}"\n'
        f"wrk.body = {json.dumps(BODY.decode())}\n" + WRK_SCRIPT
    )
    command = ["wrk", "-t2", f"-c{connections}", f"-d{int(duration)}s", "--latency", "-s", str(script)]
    output = subprocess.run([*command, f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result: dict[str, Any] = {
        "requests": requests,
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }
    for share in ("50", "75", "90", "99"):
        found = re.search(rf"^\s+{share}%\s+(\S+)", output, re.MULTILINE)
        result[f"p{share}_ms"] = wrk_latency_ms(found.group(1), digits=2) if found else None
    return result


def run_against(database_url: str | None, data: Path, args: argparse.Namespace, *, worker: bool) -> dict[str, Any]:
    port = free_port()
    env = os.environ | {
        "TICKETSMITH_DATA_DIR": str(data),
        "TICKETSMITH_LOGGING__LEVEL": "WARNING",
        "TICKETSMITH_API_KEYS": "[]",
        "TICKETSMITH_WEBHOOK__SECRET": SECRET,
        "TICKETSMITH_JOBS__CALL_RETENTION_DAYS": "0",
        "TICKETSMITH_JOBS__IN_PROCESS_WORKER": "true" if worker else "false",
        "PYTHONPATH": str(REPO),
    }
    env.pop("TICKETSMITH_DATABASE_URL", None)
    if database_url:
        env["TICKETSMITH_DATABASE_URL"] = database_url
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        cwd=data,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=(lambda: os.sched_setaffinity(0, SERVICE_CPUS)) if args.pin else None,
    )
    load_before = os.getloadavg()[0]
    try:
        wait_ready(f"http://127.0.0.1:{port}", timeout=60.0)
        asyncio.run(drive(port, connections=args.connections, duration=2, run="warmup"))
        started = time.perf_counter()
        tally = asyncio.run(drive(port, connections=args.connections, duration=args.duration, run="bench"))
        elapsed = time.perf_counter() - started
        use_wrk = shutil.which("wrk") is not None and not args.no_wrk
        wrk = run_wrk(port, data, connections=args.connections, duration=args.duration) if use_wrk else None
    finally:
        server.terminate()
        server.wait(timeout=30)
    url = database_url or f"sqlite:///{data / 'ticketsmith.db'}"
    everything = persisted(url)
    stored = Counter({i: n for i, n in everything.items() if i and i.startswith("bench-")})
    if wrk is not None:
        answered = wrk["requests"] - wrk["non_2xx"]
        stored_wrk = sum(n for i, n in everything.items() if i and i.startswith("wrk-"))
        # wrk does not say which requests were answered: requests still in flight when it stops are stored
        # but not counted, at most one per connection. More answered than stored means lost deliveries.
        wrk |= {
            "answered_2xx": answered,
            "persisted_jobs": stored_wrk,
            "lost_at_least": max(0, answered - stored_wrk),
            "in_flight_at_stop": stored_wrk - answered,
            "doubled": sum(1 for i, n in everything.items() if i and i.startswith("wrk-") and n > 1),
        }
    accepted = [i for i, answers in tally.answers.items() if "accepted" in answers]
    replays = sum(len(a) - 1 for a in tally.answers.values())
    replays_duplicate = sum(a[1:].count("duplicate") for a in tally.answers.values())
    return {
        "database": "postgresql" if database_url else "sqlite",
        "in_process_worker": worker,
        "load_average_1m_at_start": round(load_before, 2),
        "requests": len(tally.latencies_ms),
        "seconds": round(elapsed, 2),
        "accepted": len(accepted),
        "accepted_per_second": round(len(accepted) / elapsed, 1),
        "requests_per_second": round(len(tally.latencies_ms) / elapsed, 1),
        "p50_ms": percentile(tally.latencies_ms, 0.50),
        "p99_ms": percentile(tally.latencies_ms, 0.99),
        "mean_ms": round(statistics.fmean(tally.latencies_ms), 2),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "replays": replays,
        "replays_answered_duplicate": replays_duplicate,
        "lost": sum(1 for i in accepted if stored.get(i, 0) == 0),
        "doubled": sum(1 for n in stored.values() if n > 1),
        "persisted_jobs": sum(stored.values()),
        "wrk": wrk,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per database")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server processes")
    parser.add_argument("--postgres", action="store_true", help="also run against PostgreSQL (pgserver)")
    parser.add_argument("--no-wrk", action="store_true", help="skip the wrk phase (Debian package wrk)")
    parser.add_argument("--pin", action="store_true", help="service on CPU 1, load generator on CPU 0")
    args = parser.parse_args()
    if args.pin:
        os.sched_setaffinity(0, GENERATOR_CPUS)  # this process drives the load; wrk inherits it

    results = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        sqlite_dir = Path(scratch) / "sqlite"
        sqlite_dir.mkdir()
        results.append(run_against(None, sqlite_dir, args, worker=True))
        intake_dir = Path(scratch) / "sqlite-intake"
        intake_dir.mkdir()
        results.append(run_against(None, intake_dir, args, worker=False))
        if args.postgres:
            pg_dir = Path(scratch) / "postgres"
            pg_dir.mkdir()
            with postgres(pg_dir, pin=args.pin) as url:
                results.append(run_against(url, pg_dir, args, worker=True))

    report = {
        "benchmark": "webhooks",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "server": f"ticketsmith serve (uvicorn), {args.workers} worker process(es); the in-process job worker "
        "runs the webhook jobs during the load unless in_process_worker is false (then only the intake is measured)",
        "load_generator": f"asyncio HTTP/1.1 keep-alive client (every answer recorded), then wrk -t2, "
        f"{args.connections} connections each, closed loop, loopback",
        "cpus": f"service and PostgreSQL on CPU {sorted(SERVICE_CPUS)}, load generator on CPU {sorted(GENERATOR_CPUS)}"
        if args.pin
        else "service, PostgreSQL and load generator share every CPU",
        "delivery": "tests/fixtures/jira/webhook_issue_updated.json, signed, unique identifier, 1 in 20 replayed",
        "duration_seconds": args.duration,
        "results": results,
        "targets": {
            r["database"] + ("" if r["in_process_worker"] else " (intake only)"): {
                "accepted_per_second_at_least_500": r["accepted_per_second"] >= 500,
                "p99_under_50ms": r["p99_ms"] < 50,
                "wrk_p99_under_50ms": r["wrk"]["p99_ms"] < 50 if r["wrk"] else None,
                "none_lost": r["lost"] == 0 and (r["wrk"] is None or r["wrk"]["lost_at_least"] == 0),
                "none_doubled": r["doubled"] == 0 and (r["wrk"] is None or r["wrk"]["doubled"] == 0),
            }
            for r in results
        },
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
