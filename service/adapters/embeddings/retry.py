"""Back-off with full jitter for remote embedding calls (shared by the Bedrock and HTTP adapters)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    """``attempts`` tries in all; before try ``n`` (from 1) we wait a random time in ``[0, min(cap, base * 2**n))``.

    A server-given delay (``Retry-After``) replaces the random one when it is larger, up to ``cap``. ``sleep`` and
    ``rng`` are injectable so tests run without waiting.
    """

    attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 20.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    rng: Callable[[], float] = field(default=random.random)

    def delay(self, retry: int, server_hint: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        jittered = self.rng() * min(self.cap_seconds, self.base_seconds * float(2**retry))
        if server_hint is not None:
            return min(self.cap_seconds, max(jittered, server_hint))
        return jittered

    def wait(self, retry: int, server_hint: float | None = None) -> None:
        self.sleep(self.delay(retry, server_hint))
