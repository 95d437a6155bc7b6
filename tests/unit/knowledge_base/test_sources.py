"""Sources: local repositories read without writing, URLs cloned bare and fetched, refs resolved, errors hinted."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from service.errors import InvalidInput, NotFound, UpstreamFailed
from service.knowledge_base.sources import GitReader, default_name, is_url, resolve_source
from tests.knowledge_repos import commit, git, make_knowledge_repo, write


def _snapshot(root: Path) -> dict[str, str]:
    """Hash of every file under root, .git included: proves a read changed nothing."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("https://github.com/acme/Widget.git", "Widget"),
        ("git@github.com:acme/widget-api.git", "widget-api"),
        ("file:///srv/git/tools/", "tools"),
        ("/home/me/src/my repo", "my-repo"),
    ],
)
def test_default_names(source: str, name: str) -> None:
    assert default_name(source) == name


def test_urls_and_paths_are_told_apart() -> None:
    assert is_url("https://x/y")
    assert is_url("git@host:a/b")
    assert is_url("file:///tmp/r")
    assert not is_url("/tmp/r")
    assert not is_url("relative/dir")
    assert not is_url("C:/r")


def test_local_repository_is_read_at_a_commit_without_touching_it(tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "repo")
    first = git(root, "rev-parse", "HEAD").strip()
    write(root, {"triage/router.py": "# uncommitted edit\n"})  # the work tree differs from the commit
    before = _snapshot(root)
    resolved = resolve_source(str(root), ref=None, name=None, data_dir=tmp_path / "data")
    assert (resolved.name, resolved.commit, resolved.cloned) == ("repo", first, False)
    with GitReader(resolved.git_dir) as reader:
        tree = reader.tree(resolved.commit)
        assert "debug.log" not in tree
        assert "forced.log" in tree
        assert b"class TicketRouter" in reader.read_blob(tree["triage/router.py"].blob_sha)
        assert reader.read_path(first, "triage/router.py").startswith(b'"""Ticket triage')
    assert _snapshot(root) == before
    assert not (tmp_path / "data").exists()


def test_branches_tags_and_shas(tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "repo")
    first = git(root, "rev-parse", "HEAD").strip()
    git(root, "tag", "v1")
    git(root, "checkout", "-q", "-b", "feature")
    write(root, {"new.py": "X = 1\n"})
    second = commit(root, "feature work")
    git(root, "checkout", "-q", "main")
    data = tmp_path / "data"
    assert resolve_source(str(root), ref="feature", name="r", data_dir=data).commit == second
    assert resolve_source(str(root), ref="v1", name="r", data_dir=data).commit == first
    assert resolve_source(str(root), ref=second[:10], name="r", data_dir=data).commit == second
    with pytest.raises(NotFound) as caught:
        resolve_source(str(root), ref="no-such-branch", name="r", data_dir=data)
    assert caught.value.hint
    assert "branch" in caught.value.hint


def test_diff_detects_renames(tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "repo")
    old = git(root, "rev-parse", "HEAD").strip()
    git(root, "mv", "sync/retry.go", "sync/backoff.go")
    git(root, "rm", "-q", "docs/notes.txt")
    write(root, {"web/badge.js": "export const x = 1;\n", "added.py": "Y = 2\n"})
    new = commit(root, "change")
    with GitReader(root) as reader:
        changes = {(c.status, c.path, c.old_path) for c in reader.changes(old, new)}
    assert changes == {
        ("R", "sync/backoff.go", "sync/retry.go"),
        ("D", "docs/notes.txt", None),
        ("M", "web/badge.js", None),
        ("A", "added.py", None),
    }


def test_not_a_repository_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(InvalidInput) as caught:
        resolve_source(str(tmp_path / "plain"), ref=None, name=None, data_dir=tmp_path / "data")
    assert "not a git repository" in caught.value.message
    assert caught.value.hint
    with pytest.raises(InvalidInput, match="does not exist"):
        resolve_source(str(tmp_path / "nowhere"), ref=None, name=None, data_dir=tmp_path / "data")
    with pytest.raises(InvalidInput, match="invalid repository name"):
        resolve_source(str(tmp_path / "plain"), ref=None, name="../evil", data_dir=tmp_path / "data")


def test_url_is_cloned_bare_then_fetched(tmp_path: Path) -> None:
    origin = make_knowledge_repo(tmp_path / "origin")
    data = tmp_path / "data"
    url = f"file://{origin}"
    first = resolve_source(url, ref=None, name=None, data_dir=data)
    assert first.cloned
    assert first.git_dir == (data / "repos" / "origin").resolve()
    assert (first.git_dir / "HEAD").exists()
    assert not (first.git_dir / "triage").exists()
    write(origin, {"later.py": "Z = 3\n"})
    newer = commit(origin, "later")
    again = resolve_source(url, ref="main", name=None, data_dir=data)
    assert again.commit == newer
    git(origin, "checkout", "-q", "-b", "topic")
    write(origin, {"topic.py": "T = 4\n"})
    topic = commit(origin, "topic")
    assert resolve_source(url, ref="topic", name=None, data_dir=data).commit == topic


def test_clone_failure_has_a_hint(tmp_path: Path) -> None:
    with pytest.raises(UpstreamFailed) as caught:
        resolve_source(f"file://{tmp_path}/missing.git", ref=None, name="m", data_dir=tmp_path / "data")
    assert caught.value.hint
    assert "URL" in caught.value.hint
    # git's own reason, not the closing quote of GitPython's "stderr: '...'" wrapper
    reason = caught.value.message.split(": ", 1)[1]
    assert reason.startswith("fatal:"), caught.value.message


def test_credentials_never_reach_the_record(tmp_path: Path) -> None:
    from service.knowledge_base.sources import without_credentials

    assert (
        without_credentials("https://bot:s3cret@git.example.com/acme/api.git") == "https://git.example.com/acme/api.git"
    )
    assert without_credentials("git@github.com:acme/api.git") == "git@github.com:acme/api.git"
    with pytest.raises(UpstreamFailed) as caught:
        resolve_source("https://bot:s3cret@127.0.0.1:9/acme/api.git", ref=None, name="api", data_dir=tmp_path)
    assert "s3cret" not in caught.value.message


def test_a_name_given_to_another_url_follows_it(tmp_path: Path) -> None:
    first = make_knowledge_repo(tmp_path / "first")
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    write(other, {"only.py": "ONLY = 1\n"})
    other_head = commit(other, "other")
    data = tmp_path / "data"
    resolve_source(f"file://{first}", ref=None, name="shared", data_dir=data)
    moved = resolve_source(f"file://{other}", ref="main", name="shared", data_dir=data)
    assert moved.commit == other_head
    with GitReader(moved.git_dir) as reader:
        assert set(reader.tree(moved.commit)) == {"only.py"}


def test_blobs_stream_in_order_with_repeats_and_a_missing_one_raises(tmp_path: Path) -> None:
    root = make_knowledge_repo(tmp_path / "repo")
    with GitReader(root) as reader:
        tree = reader.tree(git(root, "rev-parse", "HEAD").strip())
        shas = [entry.blob_sha for entry in tree.values() if entry.regular]
        wanted = [*shas, shas[0]]
        assert list(reader.read_blobs(wanted)) == [(sha, reader.read_blob(sha)) for sha in wanted]
        assert list(reader.read_blobs([])) == []
        stream = reader.read_blobs([shas[0], "0" * 40])
        assert next(stream) == (shas[0], reader.read_blob(shas[0]))
        with pytest.raises(NotFound):
            next(stream)
        early = reader.read_blobs(shas)
        next(early)
        early.close()  # stopping early ends the git process without reading the rest
