"""A scan run survives its worker being killed (SIGKILL) while it files tickets, and no ticket is filed twice.

A real ``python -m service worker`` process scans a seeded repository into the fake Jira (served from this test
process). The fake answers slowly, so the worker is killed right after Jira created the first ticket and before
its answer arrived: the outcome is unknown to the dead worker, its ledger claim is left behind and the run is
RUNNING at the file step. A second worker takes the job over when the lease expires, resumes the run at the
saved step and finishes it; every finding's fingerprint ends with exactly one ticket.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from service.container import Container, build_container
from service.domain.action_calls import Trigger
from service.domain.jobs import JobState
from service.domain.runs import RunState
from tests.conftest import make_settings
from tests.fakes.jira_server import FakeJira
from tests.quality_repos import SEEDED, make_repo

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 5


def _env(tmp_path: Path, site: FakeJira) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("TICKETSMITH_")}
    return inherited | {
        "PYTHONPATH": os.pathsep.join([str(ROOT), inherited.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "TICKETSMITH_DATA_DIR": str(tmp_path / "data"),
        "TICKETSMITH_JIRA__URL": site.base_url,
        "TICKETSMITH_JIRA__DEPLOYMENT": "cloud",
        "TICKETSMITH_JIRA__EMAIL": site.email,
        "TICKETSMITH_JIRA__API_TOKEN": site.api_token,
        "TICKETSMITH_JIRA__PROJECT_KEY": "OPS",
        "TICKETSMITH_JOBS__LEASE_SECONDS": str(LEASE_SECONDS),
        "TICKETSMITH_JOBS__POLL_INTERVAL_SECONDS": "0.2",
        "TICKETSMITH_JOBS__CALL_RETENTION_DAYS": "0",
        # The dead worker's ledger claim is taken over (after a lookup by label) once it is this old.
        "TICKETSMITH_TICKETS__CLAIM_STALE_SECONDS": "2",
        "TICKETSMITH_LOGGING__LEVEL": "INFO",
    }


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _fingerprint_labels(site: FakeJira) -> Counter[str]:
    with site.lock:
        return Counter(x for issue in site.store.issues.values() for x in issue.labels if x.startswith("ts-fp-"))


@pytest.fixture
def started_workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    workers: list[subprocess.Popen[bytes]] = []
    yield workers
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)


def test_a_killed_worker_leaves_a_run_another_worker_finishes_without_duplicates(
    tmp_path: Path, fake_jira_cloud: FakeJira, started_workers: list[subprocess.Popen[bytes]]
) -> None:
    repo = make_repo(tmp_path / "repos" / "seeded", SEEDED)
    env = _env(tmp_path, fake_jira_cloud)
    container: Container = build_container(make_settings(tmp_path))  # the same database as the workers
    logs = tmp_path / "logs"
    logs.mkdir()

    def worker(n: int) -> subprocess.Popen[bytes]:
        with (logs / f"worker-{n}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "service", "worker"], env=env, cwd=tmp_path, stdout=log, stderr=log
            )
        started_workers.append(process)
        return process

    try:
        run = container.runs.start(
            workflow="scan",
            repository="seeded",
            parameters={"source": str(repo), "since": None, "dry_run": False},
            trigger=Trigger.CLI,
            principal="test",
        )
        # Every Jira answer comes 1.5 s after Jira did the work: the window to kill the worker in.
        fake_jira_cloud.faults.latency_seconds = 1.5
        first = worker(1)
        _wait(lambda: sum(_fingerprint_labels(fake_jira_cloud).values()) >= 1, 240, "the first ticket")
        first.send_signal(signal.SIGKILL)  # its create is done in Jira, its answer not yet received
        first.wait(timeout=10)
        killed_at = container.run_store.get(run.id)
        assert (killed_at.state, killed_at.step) == (RunState.RUNNING, "file"), killed_at
        filed_before = _fingerprint_labels(fake_jira_cloud)

        fake_jira_cloud.faults.latency_seconds = 0.0
        worker(2)
        _wait(lambda: container.run_store.get(run.id).state.terminal, 240, "the resumed run to end")
        finished = container.run_store.get(run.id)
        assert finished.state is RunState.SUCCEEDED, (finished.error, (logs / "worker-2.log").read_text()[-3000:])
        (job,) = [j for j in container.job_queue.list(limit=100) if j.kind == "workflow.run"]
        assert (job.state, job.attempts) == (JobState.SUCCEEDED, 2), "the second worker took the job over"

        labels = _fingerprint_labels(fake_jira_cloud)
        assert set(filed_before) <= set(labels)
        assert {label: n for label, n in labels.items() if n != 1} == {}, "no fingerprint has two tickets"
        assert len(labels) >= 3, labels
    finally:
        container.close()
