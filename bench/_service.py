"""Pieces the benchmarks that start `ticketsmith serve` share: a free port, waiting for health, wrk's latencies."""

from __future__ import annotations

import re
import socket
import time
import urllib.request

LATENCY_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(base: str, timeout: float) -> None:
    """Poll ``{base}/healthz`` until it answers 200; exit the benchmark after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the service did not become healthy in time")


def wrk_latency_ms(value: str, *, digits: int) -> float:
    """A latency as wrk prints it (``812.00us``, ``5.25ms``, ``1.02s``) in milliseconds, rounded to ``digits``."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if match is None:
        raise ValueError(f"unexpected wrk latency {value!r}")
    return round(float(match.group(1)) * LATENCY_UNITS[match.group(2)], digits)
