"""A webhook answered 202 survives the service being killed (SIGKILL) right after the answer."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from service.container import build_container
from service.jobs.jira_webhooks import JIRA_WEBHOOK
from service.settings import Settings
from tests.conftest import FIXTURES
from tests.unit.api.test_jira_webhooks import SECRET, sign


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_accepted_deliveries_survive_sigkill(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETSMITH_")} | {
        "TICKETSMITH_DATA_DIR": str(tmp_path / "data"),
        "TICKETSMITH_WEBHOOK__SECRET": SECRET,
        "TICKETSMITH_JOBS__IN_PROCESS_WORKER": "false",
        "TICKETSMITH_LOGGING__LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("ticketsmith")), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    accepted: list[str] = []
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.1)
        body = (FIXTURES / "jira" / "webhook_issue_created.json").read_bytes()
        for n in range(5):
            request = urllib.request.Request(
                f"{base}/v1/webhooks/jira",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature": sign(body),
                    "X-Atlassian-Webhook-Identifier": f"delivery-{n}",
                },
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 202
                accepted.append(json.loads(response.read())["jobId"])
        server.send_signal(signal.SIGKILL)  # right after the last 202: no shutdown, no flush
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    container = build_container(settings)
    try:
        stored = {job.id for job in container.job_queue.list(limit=100) if job.kind == JIRA_WEBHOOK}
    finally:
        container.close()
    assert stored == set(accepted)
