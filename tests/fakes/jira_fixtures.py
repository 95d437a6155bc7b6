"""Pytest fixtures for the fake Jira: one server per test session, a fresh site per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.jira_server import FakeJira, FakeJiraServer


@pytest.fixture(scope="session")
def fake_jira_server() -> Iterator[FakeJiraServer]:
    server = FakeJiraServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_jira_cloud(fake_jira_server: FakeJiraServer) -> FakeJira:
    """A fresh Jira Cloud site (REST v3, ADF, Basic email + API token) on loopback."""
    return fake_jira_server.reset("cloud")


@pytest.fixture
def fake_jira_dc(fake_jira_server: FakeJiraServer) -> FakeJira:
    """A fresh Jira Data Center site (REST v2, wiki text, Basic or PAT bearer) on loopback."""
    return fake_jira_server.reset("datacenter")
