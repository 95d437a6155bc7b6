"""Commit-pinned links: blob URLs on GitHub, GitLab and Bitbucket, ``path@commit:lines`` elsewhere."""

from __future__ import annotations

import pytest

from service.orchestrator.links import RemoteRepository, code_link, parse_remote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/acme/shop.git", RemoteRepository("github.com", "acme/shop")),
        ("git@github.com:acme/shop.git", RemoteRepository("github.com", "acme/shop")),
        ("ssh://git@gitlab.com/group/sub/shop.git", RemoteRepository("gitlab.com", "group/sub/shop")),
        ("https://bitbucket.org/team/shop", RemoteRepository("bitbucket.org", "team/shop")),
        ("https://www.github.com/acme/shop/", RemoteRepository("github.com", "acme/shop")),
        ("https://git.example.com/acme/shop.git", None),
        ("/srv/git/shop", None),
        ("https://github.com/acme", None),
        (None, None),
    ],
)
def test_remotes_on_known_hosts(url: str | None, expected: RemoteRepository | None) -> None:
    assert parse_remote(url) == expected


def test_links_pin_the_commit_and_the_lines() -> None:
    github, gitlab, bitbucket = (
        parse_remote(u)
        for u in ("git@github.com:acme/shop.git", "https://gitlab.com/g/shop", "https://bitbucket.org/t/shop")
    )
    assert (
        code_link(github, path="app/a b.py", commit=COMMIT, start=3, end=5)
        == f"https://github.com/acme/shop/blob/{COMMIT}/app/a%20b.py#L3-L5"
    )
    assert code_link(github, path="a.py", commit=COMMIT, start=3, end=3).endswith("a.py#L3")
    assert code_link(gitlab, path="a.py", commit=COMMIT, start=3, end=5).endswith(f"/-/blob/{COMMIT}/a.py#L3-5")
    assert code_link(bitbucket, path="a.py", commit=COMMIT, start=3, end=5).endswith(f"/src/{COMMIT}/a.py#lines-3:5")
    assert code_link(github, path="dist/x.exe", commit=COMMIT, start=0, end=0).endswith("/dist/x.exe")


def test_anywhere_else_the_link_is_path_at_commit() -> None:
    assert code_link(None, path="a.py", commit=COMMIT, start=3, end=5) == "a.py@0123456789ab:3-5"
    assert code_link(None, path="a.py", commit=COMMIT, start=3, end=2) == "a.py@0123456789ab:3"
    assert code_link(None, path="a.py", commit=None, start=0, end=0) == "a.py"
