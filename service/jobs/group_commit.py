"""Group commit: requests from the event loop are queued by one writer thread, many per transaction.

A transaction per request costs a thread hop, a pooled connection, the store's write lock and a commit each;
under 32 concurrent webhook deliveries those requests queued in front of the write lock in no particular order,
and the unlucky ones waited 100 ms and more. Here every request joins a FIFO; one thread takes everything
pending (up to ``max_batch``), queues it with :meth:`JobQueue.enqueue_many` in ONE transaction, and only then
wakes each waiter with its own outcome. Durability is unchanged: :meth:`GroupCommit.enqueue` returns after
the commit that stored its job. No request waits for company: the batch is whatever arrived while the
previous one was being written, so an idle service writes batches of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import defaultdict
from dataclasses import dataclass

from service.domain.jobs import Enqueued, JobRequest
from service.errors import InvalidInput, StoreUnavailable, TicketsmithError
from service.ports.job_queue import JobQueue

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Waiter:
    request: JobRequest
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Enqueued]


_STOP = object()
_Outcome = tuple[asyncio.Future[Enqueued], Enqueued | BaseException]


def _settle(outcomes: list[_Outcome]) -> None:
    for future, outcome in outcomes:
        if future.done():  # the waiter was cancelled; its job is stored all the same
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class GroupCommit:
    """Queues jobs for async callers through one writer thread, batching what arrives together.

    Thread-safe and usable from several event loops. The thread starts on the first :meth:`enqueue`.
    """

    def __init__(self, queue_: JobQueue, *, max_batch: int = 128) -> None:
        if max_batch < 1:
            raise InvalidInput("max_batch must be at least 1")
        self._queue = queue_
        self._max_batch = max_batch
        self._pending: queue.SimpleQueue[_Waiter | object] = queue.SimpleQueue()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    async def enqueue(self, request: JobRequest) -> Enqueued:
        """Queue ``request``; return once the transaction that holds it has committed.

        Raises :class:`InvalidInput` at once for a request no store would take (it never joins a batch), and
        :class:`StoreUnavailable` (a 503) when the batch's transaction failed: then nothing of that batch was stored and
        every request in it gets the error. Raises :class:`StoreUnavailable` after :meth:`close`.
        """
        if request.max_attempts < 1:
            raise InvalidInput("max_attempts must be at least 1")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Enqueued] = loop.create_future()
        with self._start_lock:
            if self._closed:
                raise StoreUnavailable("the job queue is shutting down", hint="send it again to the restarted service")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="job-group-commit", daemon=True)
                self._thread.start()
            self._pending.put(_Waiter(request, loop, future))
        return await future

    def close(self) -> None:
        """Write what is pending, then stop the thread. Later :meth:`enqueue` calls fail. Safe to call twice."""
        with self._start_lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._pending.put(_STOP)
        if thread is not None:
            thread.join(timeout=30)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._pending.get()
            batch: list[_Waiter] = []
            while True:
                if item is _STOP:
                    stopping = True
                else:
                    assert isinstance(item, _Waiter)
                    batch.append(item)
                if stopping or len(batch) >= self._max_batch:
                    break
                try:
                    item = self._pending.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)

    def _write(self, batch: list[_Waiter]) -> None:
        outcomes: list[Enqueued | BaseException]
        try:
            answers = self._queue.enqueue_many([waiter.request for waiter in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"the job queue answered {len(answers)} of {len(batch)} requests")
            outcomes = list(answers)
        except Exception as exc:
            logger.warning("job batch failed size=%d error=%s", len(batch), type(exc).__name__, exc_info=True)
            outcomes = [_failure(exc, len(batch)) for _ in batch]  # one each: waiters must not share a traceback
        by_loop: defaultdict[asyncio.AbstractEventLoop, list[_Outcome]] = defaultdict(list)
        for waiter, outcome in zip(batch, outcomes, strict=True):
            by_loop[waiter.loop].append((waiter.future, outcome))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, settled)


def _failure(exc: Exception, size: int) -> StoreUnavailable:
    reason = exc.message if isinstance(exc, TicketsmithError) else (str(exc).splitlines() or [""])[0][:300]
    error = StoreUnavailable(
        f"the job store failed; nothing of this batch of {size} was stored: {type(exc).__name__}: {reason}",
        hint="the store is unreachable or refusing writes; send the request again",
    )
    error.__cause__ = exc
    return error
