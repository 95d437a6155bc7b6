"""A real boto3 ``bedrock-agent-runtime`` client whose ``InvokeAgent`` is answered on this machine with event
streams encoded here, so botocore's own event-stream decoder and response parser read them.

The binary message format (``application/vnd.amazon.eventstream``) is the one botocore decodes in
``botocore/eventstream.py`` (``EventStreamBuffer``, ``EventStreamHeaderParser``, ``DecodeUtils``):

    prelude  total length (uint32, big-endian) | headers length (uint32) | CRC32 of those 8 bytes (uint32)
    headers  per header: name length (uint8) | name (UTF-8) | value type (uint8, 7 = string) |
             value length (uint16) | value (UTF-8)
    payload  the event's JSON body
    trailer  CRC32 of everything before it (uint32)

Events carry ``:message-type event``, ``:event-type <member of ResponseStream>`` and ``:content-type
application/json``; exceptions ``:message-type exception`` and ``:exception-type <member>``. A ``chunk``'s
``bytes`` is a JSON blob, so base64. Requests go through botocore's validation, serialisation and signing; a
``before-send`` hook records each one and answers it with the next scripted stream. Nothing leaves the process.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

STRING = 7


def _header(name: str, value: str) -> bytes:
    encoded_name, encoded_value = name.encode(), value.encode()
    return (
        struct.pack("!B", len(encoded_name))
        + encoded_name
        + struct.pack("!BH", STRING, len(encoded_value))
        + encoded_value
    )


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message."""
    encoded_headers = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded_headers))
    prelude += struct.pack("!I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + encoded_headers + payload
    return message + struct.pack("!I", zlib.crc32(message) & 0xFFFFFFFF)


def event(event_type: str, body: Mapping[str, Any]) -> bytes:
    """An ``event`` message of ``event_type`` (``chunk``, ``trace``, ``returnControl``, ``files``)."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(body).encode())


def chunk(text: str, attribution: Mapping[str, Any] | None = None) -> bytes:
    """A ``chunk`` of the answer (``PayloadPart``)."""
    body: dict[str, Any] = {"bytes": base64.b64encode(text.encode()).decode()}
    if attribution is not None:
        body["attribution"] = attribution
    return event("chunk", body)


def trace(part: Mapping[str, Any]) -> bytes:
    """A ``trace`` event (``TracePart``)."""
    return event("trace", part)


def return_control(payload: Mapping[str, Any]) -> bytes:
    """A ``returnControl`` event (``ReturnControlPayload``: ``invocationId``, ``invocationInputs``)."""
    return event("returnControl", payload)


def exception(exception_type: str, message: str) -> bytes:
    """An exception event such as ``throttlingException``."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, json.dumps({"message": message}).encode())


class _Raw(io.BytesIO):
    """The urllib3-like body botocore reads a streamed response from."""

    def stream(self, amt: int = 1024, decode_content: bool | None = None) -> Iterator[bytes]:
        while data := self.read(amt):
            yield data


@dataclass(frozen=True)
class HttpError:
    """An HTTP error answer (what InvokeAgent says before any stream): ``code`` goes in ``x-amzn-ErrorType``."""

    status: int
    code: str
    message: str


@dataclass
class Sent:
    """One request the client sent: the URL path and the decoded JSON body."""

    path: str
    body: dict[str, Any]


@dataclass
class ScriptedAgent:
    """Answers each InvokeAgent with the next scripted response: a list of encoded messages, or an HttpError."""

    responses: list[Sequence[bytes] | HttpError]
    session_id: str = "session-1"
    sent: list[Sent] = field(default_factory=list)

    def answer(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        path = request.url.split("amazonaws.com", 1)[-1]
        self.sent.append(Sent(path=path, body=json.loads(request.body or b"{}")))
        if not self.responses:
            raise AssertionError("InvokeAgent was called more often than scripted")
        scripted = self.responses.pop(0)
        if isinstance(scripted, HttpError):
            data = json.dumps({"message": scripted.message}).encode()
            headers = {"Content-Type": "application/json", "x-amzn-ErrorType": scripted.code}
            return AWSResponse(request.url, scripted.status, headers, _Raw(data))
        headers = {
            "Content-Type": "application/vnd.amazon.eventstream",
            "x-amzn-bedrock-agent-content-type": "application/json",
            "x-amz-bedrock-agent-session-id": self.session_id,
        }
        return AWSResponse(request.url, 200, headers, _Raw(b"".join(scripted)))


def local_agent_runtime(agent: ScriptedAgent) -> Any:
    """A ``bedrock-agent-runtime`` client in us-east-1 with dummy credentials answered by ``agent``."""
    client = boto3.client(
        "bedrock-agent-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    client.meta.events.register("before-send.bedrock-agent-runtime.InvokeAgent", agent.answer)
    return client
