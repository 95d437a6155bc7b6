"""Running an external analyser: find it, run it read-only, and turn every failure into CheckerUnavailable."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from service.quality.checker import CheckerUnavailable

# Far below Linux's 2 MiB argument limit; files beyond it go in further runs of the tool.
ARGUMENT_BYTES_PER_RUN = 512 * 1024


def find_tool(name: str) -> str:
    """The tool installed beside this Python (the project's own virtualenv) or on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise CheckerUnavailable(f"{name} is not installed (pip install {name})")
    return found


def batches(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """``items`` in as few runs as the argument limit allows (a tool's start-up is paid once per run)."""
    batch: list[str] = []
    size = 0
    for item in items:
        if batch and size + len(item) + 1 > ARGUMENT_BYTES_PER_RUN:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += len(item) + 1
    if batch:
        yield batch


def run_json(command: list[str], *, cwd: Path, ok_codes: tuple[int, ...], timeout: float = 900) -> Any:
    """Run ``command`` in ``cwd`` and decode its JSON stdout. Raises :class:`CheckerUnavailable` on any failure."""
    try:
        completed = subprocess.run(  # noqa: S603 - a fixed tool with file arguments, no shell
            command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CheckerUnavailable(f"{Path(command[0]).name} could not run: {exc}") from None
    if completed.returncode not in ok_codes:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        raise CheckerUnavailable(f"{Path(command[0]).name} exited {completed.returncode}: {' | '.join(tail)}")
    try:
        return json.loads(completed.stdout or "null")
    except ValueError as exc:
        raise CheckerUnavailable(f"{Path(command[0]).name} printed no JSON: {exc}") from None


def relative(root: Path, filename: str) -> str:
    """``filename`` (absolute or relative to ``root``) as a ``/``-separated path relative to ``root``."""
    path = Path(filename)
    if path.is_absolute():
        path = path.resolve().relative_to(root.resolve())
    return path.as_posix()
