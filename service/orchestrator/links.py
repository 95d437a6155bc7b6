"""Commit-pinned links to code: a blob URL on GitHub, GitLab or Bitbucket, else ``path@commit:lines``.

A link names the commit, never a branch, so it shows the code the ticket was written about even after the
code moves on.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

_SCP = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w.-]+):(?P<path>(?!//)[^\s]+)$")  # git@github.com:owner/repo.git
KNOWN_HOSTS = ("github.com", "gitlab.com", "bitbucket.org")
SHORT_COMMIT = 12


@dataclass(frozen=True)
class RemoteRepository:
    """A repository on a known host: ``https://<host>/<owner>/<name>`` (GitLab groups may nest)."""

    host: str
    project: str

    @property
    def web_url(self) -> str:
        return f"https://{self.host}/{self.project}"


def parse_remote(url: str | None) -> RemoteRepository | None:
    """The web location of a clone URL (https, ssh or scp-like) on a known host; None for anything else."""
    if not url:
        return None
    url = url.strip()
    host: str
    path: str
    if "://" in url:
        parts = urlsplit(url)
        host, path = (parts.hostname or "").lower(), parts.path
    else:
        match = _SCP.match(url)
        if match is None:
            return None
        host, path = match.group("host").lower(), match.group("path")
    if host.startswith("www."):
        host = host[4:]
    if host not in KNOWN_HOSTS:
        return None
    project = path.strip("/").removesuffix(".git").strip("/")
    if project.count("/") < 1 or any(not part for part in project.split("/")):
        return None
    return RemoteRepository(host=host, project=project)


def remote_url(root: Path) -> str | None:
    """The ``origin`` remote of the git work tree at ``root`` (None without one, or when git fails)."""
    try:
        completed = subprocess.run(  # noqa: S603 -- fixed arguments, no shell
            ["git", "-C", str(root), "remote", "get-url", "origin"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    url = completed.stdout.strip()
    return url if completed.returncode == 0 and url else None


def code_link(remote: RemoteRepository | None, *, path: str, commit: str | None, start: int, end: int) -> str:
    """A link to ``path`` lines ``start``..``end`` at ``commit`` (whole file when ``start`` is 0)."""
    end = max(end, start)
    if remote is None or not commit:
        pinned = f"{path}@{commit[:SHORT_COMMIT]}" if commit else path
        if start <= 0:
            return pinned
        return f"{pinned}:{start}" if end == start else f"{pinned}:{start}-{end}"
    file = quote(path)
    if remote.host == "github.com":
        base, lines = f"{remote.web_url}/blob/{commit}/{file}", f"#L{start}" + (f"-L{end}" if end > start else "")
    elif remote.host == "gitlab.com":
        base, lines = f"{remote.web_url}/-/blob/{commit}/{file}", f"#L{start}" + (f"-{end}" if end > start else "")
    else:
        base, lines = f"{remote.web_url}/src/{commit}/{file}", f"#lines-{start}" + (f":{end}" if end > start else "")
    return base if start <= 0 else base + lines
