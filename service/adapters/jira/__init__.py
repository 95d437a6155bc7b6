"""Jira adapters for the IssueTracker port: Cloud (REST v3, httpx) and Server/Data Center (REST v2, ``jira``).

Package layout by concern: ``client`` (HTTP and the retry policy), ``errors`` (translation), ``mapping``
(payloads and domain objects), ``tracker`` (the port over either API), ``cloud`` and ``datacenter``.
"""

from __future__ import annotations

import httpx

from service.adapters.jira.client import JiraHttp, RetryPolicy
from service.adapters.jira.cloud import CLOUD_AUTH_HINT, CloudApi
from service.adapters.jira.datacenter import DataCenterApi
from service.adapters.jira.tracker import JiraTracker
from service.ports.issue_tracker import IssueTracker
from service.settings import JiraSettings, Settings


def build_issue_tracker(
    settings: Settings | JiraSettings,
    *,
    policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> IssueTracker | None:
    """The tracker for the configured Jira, or None when no Jira is configured (the caller uses the local store).

    ``policy`` replaces the retry policy built from the settings (tests inject a recording sleep). Nothing is
    sent until the first call.
    """
    jira = settings.jira if isinstance(settings, Settings) else settings
    if not jira.configured or jira.url is None:
        return None
    policy = policy or RetryPolicy(max_retries=jira.max_retries)
    if jira.resolved_deployment == "cloud":
        assert jira.email is not None  # JiraSettings refuses a Cloud URL without both
        assert jira.api_token is not None
        http = JiraHttp(
            jira.url,
            auth=(jira.email, jira.api_token.get_secret_value()),
            timeout=jira.timeout_seconds,
            policy=policy,
            auth_hint=CLOUD_AUTH_HINT,
            transport=transport,
        )
        return JiraTracker(CloudApi(http, site=jira.url), name="jira-cloud", issue_type=jira.issue_type)
    basic = (jira.username, jira.password.get_secret_value()) if jira.username and jira.password else None
    api = DataCenterApi(
        jira.url,
        pat=jira.pat.get_secret_value() if jira.pat else None,
        basic=None if jira.pat else basic,
        timeout=jira.timeout_seconds,
        policy=policy,
    )
    return JiraTracker(api, name="jira-dc", issue_type=jira.issue_type)


__all__ = ["JiraTracker", "RetryPolicy", "build_issue_tracker"]
