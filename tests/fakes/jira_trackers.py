"""Jira adapters wired to a fake site, with a retry policy that records its waits instead of sleeping."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from service.adapters.jira import JiraTracker, RetryPolicy, build_issue_tracker
from service.settings import JiraSettings
from tests.fakes.jira_server import FakeJira


@dataclass
class Sleeps:
    """A ``sleep`` that records the requested waits (seconds) and returns at once."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def jira_settings(site: FakeJira, **overrides: object) -> JiraSettings:
    if site.deployment == "cloud":
        auth: dict[str, object] = {"email": site.email, "api_token": site.api_token}
    else:
        auth = {"pat": site.pat}
    values: dict[str, object] = {
        "url": site.base_url,
        "deployment": site.deployment,
        "project_key": "OPS",
        "timeout_seconds": 5,
        **auth,
    }
    return JiraSettings.model_validate({**values, **overrides})


def tracker_for(site: FakeJira, sleeps: Sleeps | None = None, **overrides: object) -> JiraTracker:
    settings = jira_settings(site, **overrides)
    policy = RetryPolicy(max_retries=settings.max_retries, sleep=sleeps or Sleeps(), rng=random.Random(7))
    tracker = build_issue_tracker(settings, policy=policy)
    assert isinstance(tracker, JiraTracker)
    return tracker
