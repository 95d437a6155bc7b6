"""HTTP to Jira with the retry policy this service needs: the adapter, never a library, decides on re-sends.

Reads and idempotent writes are retried on 429, 502/503/504 and lost connections; ``Retry-After`` is honoured
(seconds or an HTTP date, capped at ``max_delay``), otherwise exponential back-off with jitter; at most
``max_retries`` retries. A write that is not safe to re-send (a create, a comment) is retried only when Jira
certainly did not act on it: a 429 (Jira refused it) or a connection that was never established. A timeout, a
5xx or a connection lost after sending raises :class:`OutcomeUnknown`: the issue may exist, and the caller looks
it up by label. Guidance: developer.atlassian.com/cloud/jira/platform/rate-limiting/ (429 + Retry-After).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from service.adapters.jira.errors import Answer, HttpFailure, TransportFailure, translate, unknown_outcome, unreachable

T = TypeVar("T")
log = logging.getLogger(__name__)
RETRIED_5XX = frozenset({502, 503, 504})


def retry_after_seconds(value: str | None, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None if absent/garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - now()).total_seconds())


@dataclass
class RetryPolicy:
    """How long to wait between attempts. ``sleep`` and ``rng`` are injected so tests measure waits."""

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Wait before retry number ``attempt`` (0-based): Retry-After plus up to 10 % jitter, never less;
        else half of ``base * 2**attempt`` plus a random share of the other half."""
        if retry_after is not None:
            return min(self.max_delay, retry_after * (1 + 0.1 * self.rng.random()))
        ceiling = min(self.max_delay, self.base_delay * 2**attempt)
        return float(ceiling / 2 + self.rng.uniform(0, ceiling / 2))

    def run(self, attempt: Callable[[], T], *, resend_safe: bool, what: str, url: str, auth_hint: str) -> T:
        """Run ``attempt`` (which raises HttpFailure or TransportFailure) under this policy; translate failures."""
        tries = 0
        while True:
            try:
                return attempt()
            except TransportFailure as failure:
                if failure.sent and not resend_safe:
                    raise unknown_outcome(what, str(failure)) from failure.cause
                if tries >= self.max_retries:
                    raise unreachable(what, str(failure), url) from failure.cause
                wait = self.delay(tries, None)
                log.warning("jira_retry what=%s cause=%s wait=%.2f", what, failure, wait)
            except HttpFailure as failure:
                answer = failure.answer
                retryable = answer.status == 429 or (answer.status in RETRIED_5XX and resend_safe)
                if answer.status >= 500 and not resend_safe:
                    raise unknown_outcome(what, f"HTTP {answer.status}") from None
                if not retryable or tries >= self.max_retries:
                    raise translate(answer, what=what, auth_hint=auth_hint) from None
                wait = self.delay(tries, retry_after_seconds(answer.headers.get("retry-after")))
                log.warning("jira_retry what=%s status=%s wait=%.2f", what, answer.status, wait)
            self.sleep(wait)
            tries += 1


class JiraHttp:
    """httpx against one Jira site, every call under the :class:`RetryPolicy`.

    ``resend_safe=False`` marks writes that must never be sent twice (creates, comments).
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | tuple[str, str],
        timeout: float,
        policy: RetryPolicy,
        auth_hint: str,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self.policy = policy
        self.auth_hint = auth_hint
        self._client = httpx.Client(
            base_url=base_url,
            auth=auth,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "ticketsmith"},
        )

    def close(self) -> None:
        self._client.close()

    def _once(
        self, method: str, path: str, json_body: Any, params: dict[str, Any] | None, accept: frozenset[int]
    ) -> Answer:
        try:
            response = self._client.request(method, path, json=json_body, params=params)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise TransportFailure(exc, sent=False) from exc
        except httpx.TransportError as exc:  # read/write timeouts, dropped connections, protocol errors
            raise TransportFailure(exc, sent=True) from exc
        answer = Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.text)
        if response.status_code >= 400 and response.status_code not in accept:
            raise HttpFailure(answer)
        return answer

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        resend_safe: bool = True,
        accept: frozenset[int] = frozenset(),
    ) -> Any:
        """The decoded JSON of a 2xx answer, or of an error status listed in ``accept`` (None when empty)."""
        answer = self.policy.run(
            lambda: self._once(method, path, json_body, params, accept),
            resend_safe=resend_safe,
            what=what,
            url=self.base_url,
            auth_hint=self.auth_hint,
        )
        try:
            return answer.json()
        except ValueError:
            return None
