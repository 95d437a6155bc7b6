"""A real OpenAI-compatible ``/v1/embeddings`` server on loopback, for the HTTP embedder's tests.

It answers in the documented ``CreateEmbeddingResponse`` shape with vectors from the hashing fake (scaled, so the
client must normalise them, and listed in reverse order, so the client must sort by ``index``). Tests can queue
failure answers (status, headers) that are served before the next real one, and read every request received.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from service.adapters.embeddings.fake import HashingEmbedder


@dataclass
class EmbeddingServer:
    base_url: str
    dimensions: int = 48
    requests: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, status: int, headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.failures.append((status, headers or {}))


def _handler(server: EmbeddingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with server.lock:
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                failure = server.failures.pop(0) if server.failures else None
            if self.path != "/v1/embeddings":
                self._send(404, {"error": {"message": "not found"}})
                return
            if failure is not None:
                self._send(failure[0], {"error": {"message": "scripted failure"}}, failure[1])
                return
            inputs = body["input"]
            if any(not text for text in inputs):
                self._send(400, {"error": {"message": "'$.input' is invalid: empty string"}})
                return
            size = body.get("dimensions", server.dimensions)
            vectors = HashingEmbedder(size).embed_documents(inputs) * 3.0
            data = [
                {"object": "embedding", "index": i, "embedding": [float(x) for x in vectors[i]]}
                for i in reversed(range(len(inputs)))
            ]
            self._send(
                200,
                {
                    "object": "list",
                    "data": data,
                    "model": body["model"],
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                },
            )

    return Handler


@pytest.fixture
def embedding_server() -> Iterator[EmbeddingServer]:
    """A running server on 127.0.0.1 (a free port); its API root is ``server.base_url``."""
    holder = EmbeddingServer(base_url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    holder.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield holder
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)
