"""Write action-call records in batches, off the request path.

A record per call written synchronously would put a database round trip (and a thread hop) on every Bedrock
event; instead :meth:`CallRecorder.submit` appends to an in-memory buffer and a background thread writes the
buffer in one transaction every ``flush_interval`` seconds. Readers call :meth:`CallRecorder.flush` first, so a
caller always sees its own calls. The buffer is bounded: when the store cannot keep up (or is down) for long,
the oldest unwritten records are dropped and counted, and the service keeps answering.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from service.domain.action_calls import ActionCall
from service.ports.action_call_log import ActionCallLog

logger = logging.getLogger(__name__)


class CallRecorder:
    """Buffers :class:`ActionCall` records for ``log``. Thread-safe; ``submit`` never blocks on I/O."""

    def __init__(self, log: ActionCallLog, *, max_pending: int = 10_000, flush_interval: float = 0.2) -> None:
        self.log = log
        self._pending: deque[ActionCall] = deque()
        self._max_pending = max_pending
        self._interval = flush_interval
        self._buffer_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def submit(self, call: ActionCall) -> None:
        """Queue ``call`` for writing. Starts the writer thread on first use."""
        with self._buffer_lock:
            if len(self._pending) >= self._max_pending:
                self._pending.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    logger.warning("action-call log is not keeping up; dropped=%d records so far", self.dropped)
            self._pending.append(call)
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(target=self._run, name="call-recorder", daemon=True)
                self._thread.start()

    def flush(self) -> None:
        """Write every pending record now. Raises what the store raises; unwritten records stay pending."""
        with self._write_lock:
            with self._buffer_lock:
                batch = list(self._pending)
                self._pending.clear()
            if not batch:
                return
            try:
                self.log.record_many(batch)
            except Exception:
                with self._buffer_lock:
                    self._pending.extendleft(reversed(batch))
                    while len(self._pending) > self._max_pending:
                        self._pending.popleft()
                        self.dropped += 1
                raise

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                # The store is down or refusing; keep the records and try again on the next tick.
                logger.exception("could not write action-call records; will retry")

    def close(self) -> None:
        """Stop the writer and write what is left. Safe to call twice."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.flush()
        except Exception:
            logger.exception("could not write the last %d action-call records", len(self._pending))
