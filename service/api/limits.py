"""Refuse request bodies over the configured size before any handler sees them.

A declared ``Content-Length`` over the limit is answered with 413 at once (a Bedrock error envelope on the
Bedrock endpoint). A body without one (chunked) is read here, up to the limit, and replayed to the application,
so no handler ever works on a truncated input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge

ErrorBody = Callable[[Scope, PayloadTooLarge], dict[str, Any]]


class BodySizeLimit:
    """ASGI middleware: HTTP request bodies of at most ``max_bytes``; ``render`` builds the 413 body."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, render: ErrorBody) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._refuse(scope, send)
                return
            # The HTTP server frames the body by Content-Length, so it cannot grow past what was declared.
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        error = PayloadTooLarge(
            f"request body is larger than {self.max_bytes} bytes",
            hint="send less, or raise TICKETSMITH_SERVER__MAX_BODY_BYTES",
        )
        rendered = self.render(scope, error)
        payload = json.dumps(rendered).encode("utf-8")
        # The Bedrock endpoint answers 200 with the error inside the envelope, like every other event error.
        status = 200 if "response" in rendered else error.status_code
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})
