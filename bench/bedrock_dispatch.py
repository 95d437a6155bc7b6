"""Bedrock events per second through POST /v1/bedrock/actions versus the same handler's REST route.

Starts `ticketsmith serve` (uvicorn) on loopback with a fresh SQLite store, then drives each path with `wrk`
(Debian package `wrk`) at the same concurrency, alternating the two paths so drift hits both alike. Prints one
JSON document. Targets (issue: foundation): Bedrock throughput >= 0.8 x REST, Bedrock p99 < 20 ms at 50
connections.

    python bench/bedrock_dispatch.py [--duration 10] [--connections 50] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from _service import free_port, wait_ready, wrk_latency_ms

REPO = Path(__file__).resolve().parents[1]

EVENT = {
    "messageVersion": "1.0",
    "agent": {"name": "bench", "id": "BENCH00001", "alias": "TSTALIASID", "version": "DRAFT"},
    "sessionId": "bench-session",
    "sessionAttributes": {},
    "promptSessionAttributes": {},
    "inputText": "what version is running?",
    "actionGroup": "system",
    "apiPath": "/v1/system/info",
    "httpMethod": "GET",
}


def check_paths(base: str) -> None:
    """Both paths must answer the same handler successfully before anything is timed."""
    with urllib.request.urlopen(f"{base}/v1/system/info") as response:
        rest = json.loads(response.read())
    request = urllib.request.Request(
        f"{base}/v1/bedrock/actions", data=json.dumps(EVENT).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        envelope = json.loads(response.read())
    assert envelope["response"]["httpStatusCode"] == 200, envelope
    bedrock = json.loads(envelope["response"]["responseBody"]["application/json"]["body"])
    assert rest["version"] == bedrock["version"], (rest, bedrock)


def run_wrk(url: str, *, script: Path | None, duration: int, connections: int, threads: int) -> dict[str, Any]:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),  # type: ignore[union-attr]
    }
    for percentile in ("50", "75", "90", "99"):
        found = re.search(rf"^\s+{percentile}%\s+(\S+)", output, re.MULTILINE)
        if found is None:
            raise SystemExit(f"wrk printed no {percentile}% latency:\n{output}")
        result[f"p{percentile}_ms"] = wrk_latency_ms(found.group(1), digits=3)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    result["non_2xx"] = int(errors.group(1)) if errors else 0
    result["socket_errors"] = socket_errors.group(1) if socket_errors else None
    return result


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs (robust to one noisy run on a shared machine), every run kept for the record."""
    return {
        "requests_per_second": statistics.median(r["requests_per_second"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "non_2xx": sum(r["non_2xx"] for r in runs),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=5, help="alternating REST/Bedrock rounds")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server processes (both paths)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data:
        env = os.environ | {
            "TICKETSMITH_DATA_DIR": data,
            "TICKETSMITH_LOGGING__LEVEL": "WARNING",
            "TICKETSMITH_API_KEYS": "[]",
        }
        env.pop("TICKETSMITH_DATABASE_URL", None)
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("ticketsmith")),
                "serve",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_ready(base, timeout=30.0)
            check_paths(base)
            script = Path(data) / "bedrock.lua"
            script.write_text(
                'wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = {json.dumps(json.dumps(EVENT))}\n"
            )
            options = {"duration": args.duration, "connections": args.connections, "threads": args.threads}
            run_wrk(f"{base}/v1/system/info", script=None, **options | {"duration": 2})  # warm-up
            rest_runs, bedrock_runs = [], []
            for _ in range(args.rounds):
                rest_runs.append(run_wrk(f"{base}/v1/system/info", script=None, **options))
                bedrock_runs.append(run_wrk(f"{base}/v1/bedrock/actions", script=script, **options))
        finally:
            server.terminate()
            server.wait(timeout=10)

    rest, bedrock = summary(rest_runs), summary(bedrock_runs)
    ratio = round(bedrock["requests_per_second"] / rest["requests_per_second"], 3)
    report = {
        "benchmark": "bedrock_dispatch",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "server": f"ticketsmith serve (uvicorn), {args.workers} worker process(es), SQLite audit log, no API keys",
        "load_generator": f"wrk -t{args.threads} -c{args.connections}, closed loop, loopback",
        "operation": "system.getServiceInfo",
        "connections": args.connections,
        "duration_seconds": args.duration,
        "rest": rest,
        "bedrock": bedrock,
        "statistic": "median over rounds",
        "bedrock_to_rest_throughput": ratio,
        "targets": {
            "throughput_ratio_at_least_0.8": ratio >= 0.8,
            "bedrock_p99_under_20ms": bedrock["p99_ms"] < 20,
            "no_errors": rest["non_2xx"] == 0 and bedrock["non_2xx"] == 0,
        },
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
