"""A real boto3 ``bedrock-runtime`` client answered on this machine: requests go through botocore's validation,
serialisation and signing, then a ``before-send`` hook answers ``InvokeModel`` like Bedrock would for Titan Text
Embeddings V2 and Cohere Embed v3 (vectors from the hashing fake, unnormalised). Nothing leaves the process.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from service.adapters.embeddings.fake import HashingEmbedder


class _Raw(io.BytesIO):
    """The urllib3-like body botocore reads a response from."""

    def stream(self, amt: int = 1024, decode_content: bool | None = None) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk


def _answer(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
    body = json.loads(request.body or b"{}")
    if "/model/cohere.embed" in request.url:
        vectors = HashingEmbedder(1024).embed_documents(body["texts"]) * 2.0
        payload: dict[str, Any] = {
            "id": "local",
            "response_type": "embeddings_floats",
            "texts": body["texts"],
            "embeddings": vectors.tolist(),
        }
    else:
        vector = HashingEmbedder(int(body.get("dimensions", 1024))).embed_query(body["inputText"])
        payload = {"embedding": vector.tolist(), "inputTextTokenCount": len(body["inputText"].split())}
    data = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(data))}
    return AWSResponse(request.url, 200, headers, _Raw(data))


def local_bedrock_runtime() -> Any:
    """A ``bedrock-runtime`` client in us-east-1 with dummy credentials whose InvokeModel is answered locally."""
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    client.meta.events.register("before-send.bedrock-runtime.InvokeModel", _answer)
    return client
