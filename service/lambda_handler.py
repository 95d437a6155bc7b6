"""AWS Lambda entry point: ``service.lambda_handler.handler(event, context)``.

Set the function's handler to ``service.lambda_handler.handler`` and point the action group's executor at the
function. Events are answered by the same dispatcher and handlers as ``POST /v1/bedrock/actions``. The
container is built on the first invocation, from the function's environment, and reused while the execution
environment stays warm.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from service.container import Container, build_container
from service.domain.action_calls import Trigger
from service.domain.principals import LAMBDA_INVOKER
from service.settings import Settings

logger = logging.getLogger(__name__)


class LambdaApp:
    """Answers Bedrock action-group events with one container and one event loop for its lifetime."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self._loop = asyncio.new_event_loop()

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        """The response envelope for ``event``. Never raises for bad input: errors are inside the envelope."""
        envelope = self._loop.run_until_complete(
            self.container.dispatcher.handle_event(event, trigger=Trigger.LAMBDA, principal=LAMBDA_INVOKER)
        )
        # Lambda may freeze the environment as soon as we return; write the call record first.
        try:
            self.container.recorder.flush()
        except Exception:
            logger.exception("could not write the action-call record")
        return envelope

    def close(self) -> None:
        self._loop.close()
        self.container.close()


_default: list[LambdaApp] = []


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """The Lambda function handler, built from ``TICKETSMITH_*`` environment settings on first use."""
    if not _default:
        _default.append(LambdaApp(build_container(Settings())))
    return _default[0](event, context)
