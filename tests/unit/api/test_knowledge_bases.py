"""``/v1/knowledge-bases``: sync as a job (202), status, retrieval in our shape and in Bedrock's ``Retrieve`` shape
(validated against botocore's model of bedrock-agent-runtime), allowed roots, scopes, and unknown names."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from fastapi.testclient import TestClient

from service.adapters.knowledge.memory import InMemoryChunkIndex
from service.app import create_app
from service.container import Container, build_container, build_worker
from service.errors import Forbidden
from service.settings import ApiKeySettings, IndexingSettings, JobsSettings
from tests.conftest import make_settings
from tests.knowledge_fakes import FAKE_EMBEDDER_FUSION, CountingEmbedder
from tests.knowledge_repos import INDEXED, MAX_FILE_BYTES, commit, make_knowledge_repo, write

ADMIN_KEY = "admin-0123456789abcdef"
QUALITY_KEY = "quality-0123456789abcdef"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_knowledge_repo(tmp_path / "allowed" / "triage")


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    settings = make_settings(
        tmp_path,
        jobs=JobsSettings(in_process_worker=False),
        knowledge_base=FAKE_EMBEDDER_FUSION,
        indexing=IndexingSettings(
            allowed_roots=[tmp_path / "allowed"],
            allowed_url_prefixes=[f"file://{tmp_path}/allowed/"],
            max_file_bytes=MAX_FILE_BYTES,
        ),
        api_keys=[
            ApiKeySettings(name="admin", key=ADMIN_KEY),  # type: ignore[arg-type]
            ApiKeySettings(name="quality", key=QUALITY_KEY, action_groups=["quality"]),  # type: ignore[arg-type]
        ],
    )
    built = build_container(settings, in_memory=True, chunk_index=InMemoryChunkIndex(), embedder=CountingEmbedder())
    yield built
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container), headers={"X-Api-Key": ADMIN_KEY}) as test_client:
        yield test_client


def _drain(container: Container) -> None:
    asyncio.run(build_worker(container, worker_id="test").drain())


def _synced(client: TestClient, container: Container, name: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(f"/v1/knowledge-bases/{name}/sync", json=body)
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["jobId"]
    assert answer.json()["state"] == "queued"
    _drain(container)
    status = client.get(f"/v1/knowledge-bases/{name}/sync/{job_id}").json()
    assert status["state"] == "succeeded", status
    result: dict[str, Any] = status["result"]
    return result


def test_sync_status_and_incremental_resync(client: TestClient, container: Container, repo: Path) -> None:
    result = _synced(client, container, "triage", {"source": str(repo)})
    assert result["files"] == len(INDEXED)
    assert result["embed_job"]  # the embeddings were queued and drained behind it
    status = client.get("/v1/knowledge-bases/triage").json()
    assert status["status"] == "indexed"
    assert status["files"] == len(INDEXED)
    assert status["dense"]["coverage"] == 1.0
    assert status["commit"] == result["commit"]
    assert [kb["name"] for kb in client.get("/v1/knowledge-bases").json()["knowledgeBases"]] == ["triage"]

    embedder = container.embedder
    assert isinstance(embedder, CountingEmbedder)
    first_texts = set(embedder.texts)
    assert first_texts
    write(repo, {"triage/rota.py": "def on_call_rota():\n    return ['ana', 'bo']\n"})
    commit(repo, "rota")
    again = _synced(client, container, "triage", {})  # no source: the one it was indexed from
    assert (again["processed"], again["added"], again["previous_commit"]) == (1, 1, result["commit"])
    later = embedder.texts[len(first_texts) :]
    assert later
    assert all("rota" in text for text in later)  # only the new file's content went to the model
    assert not set(later) & first_texts


def test_retrieve_in_our_shape_and_bedrocks(client: TestClient, container: Container, repo: Path) -> None:
    _synced(client, container, "triage", {"source": str(repo)})
    ours = client.post("/v1/knowledge-bases/triage/retrieve", json={"query": "parse priority", "k": 3})
    assert ours.status_code == 200, ours.text
    data = ours.json()
    top = data["results"][0]
    assert (top["path"], top["symbol"], top["startLine"]) == ("triage/router.py", "parse_priority", 16)
    assert top["citation"] == f"triage/router.py:16-19@{data['commit'][:12]}"
    assert data["mode"] == "hybrid"

    filtered = client.post(
        "/v1/knowledge-bases/triage/retrieve", json={"query": "badge", "filters": {"pathGlob": "web/*"}, "k": 5}
    ).json()
    assert filtered["results"]
    assert all(r["path"].startswith("web/") for r in filtered["results"])

    request = {
        "retrievalQuery": {"text": "parse priority"},
        "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 2}},
    }
    shaped = client.post("/v1/knowledge-bases/triage/retrieve", json=request)
    assert shaped.status_code == 200, shaped.text
    answer = shaped.json()
    assert len(answer["retrievalResults"]) == 2
    first = answer["retrievalResults"][0]
    assert first["content"]["text"].startswith("# file: triage/router.py")
    assert first["location"]["type"] == "CUSTOM"
    assert first["location"]["customDocumentLocation"]["id"].startswith("kb://triage/triage/router.py?commit=")
    assert first["metadata"]["path"] == "triage/router.py"
    # The answer is a valid RetrieveResponse by botocore's own model of the service.
    model = botocore.session.get_session().get_service_model("bedrock-agent-runtime")
    output_shape = model.operation_model("Retrieve").output_shape
    report = ParamValidator().validate(answer, output_shape)
    assert not report.has_errors(), report.generate_report()
    # And Bedrock's request shape is a valid RetrieveRequest once the knowledge base id is added.
    input_shape = model.operation_model("Retrieve").input_shape
    assert not ParamValidator().validate({"knowledgeBaseId": "TRIAGE0001", **request}, input_shape).has_errors()

    as_query = client.post("/v1/knowledge-bases/triage/retrieve?format=bedrock", json={"query": "parse priority"})
    assert "retrievalResults" in as_query.json()
    semantic = {
        "retrievalQuery": {"text": "escalation"},
        "retrievalConfiguration": {
            "vectorSearchConfiguration": {"numberOfResults": 1, "overrideSearchType": "SEMANTIC"}
        },
    }
    assert len(client.post("/v1/knowledge-bases/triage/retrieve", json=semantic).json()["retrievalResults"]) == 1


def test_errors(client: TestClient, container: Container, repo: Path, tmp_path: Path) -> None:
    unknown = client.post("/v1/knowledge-bases/nope/retrieve", json={"query": "x"})
    assert unknown.status_code == 404
    assert "ticketsmith index" in unknown.json()["error"]["hint"]
    assert client.get("/v1/knowledge-bases/nope").status_code == 404
    assert client.post("/v1/knowledge-bases/nope/sync", json={}).status_code == 404
    outside = make_knowledge_repo(tmp_path / "elsewhere")
    forbidden = client.post("/v1/knowledge-bases/x/sync", json={"source": str(outside)})
    assert forbidden.status_code == 403
    assert "ALLOWED_ROOTS" in forbidden.json()["error"]["hint"]
    sneaky = client.post("/v1/knowledge-bases/x/sync", json={"source": f"{tmp_path}/allowed/../elsewhere"})
    assert sneaky.status_code == 403
    url = client.post("/v1/knowledge-bases/x/sync", json={"source": "https://example.com/acme/widget.git"})
    assert url.status_code == 403
    assert client.post("/v1/knowledge-bases/bad..name!/sync", json={"source": str(repo)}).status_code == 400
    no_query = client.post("/v1/knowledge-bases/nope/retrieve", json={"k": 3})
    assert no_query.status_code == 400
    too_many = client.post(
        "/v1/knowledge-bases/nope/retrieve",
        json={
            "retrievalQuery": {"text": "x"},
            "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 101}},
        },
    )
    assert too_many.status_code == 422
    scoped = client.get("/v1/knowledge-bases", headers={"X-Api-Key": QUALITY_KEY})
    assert scoped.status_code == 403
    assert client.get("/v1/knowledge-bases", headers={"X-Api-Key": "wrong-0123456789abcdef"}).status_code == 401


def test_url_source_under_an_allowed_prefix(client: TestClient, container: Container, repo: Path) -> None:
    result = _synced(client, container, "cloned", {"source": f"file://{repo}"})
    assert result["files"] == len(INDEXED)
    assert client.get("/v1/knowledge-bases/cloned").json()["source"] == f"file://{repo}"


@pytest.mark.parametrize(
    "suffix", ["../elsewhere", "triage/../../elsewhere", "%2e%2e/elsewhere", "%2E%2e/elsewhere", "./../elsewhere"]
)
def test_a_url_under_an_allowed_prefix_cannot_climb_out(
    client: TestClient, container: Container, tmp_path: Path, suffix: str
) -> None:
    make_knowledge_repo(tmp_path / "elsewhere")
    answer = client.post("/v1/knowledge-bases/x/sync", json={"source": f"file://{tmp_path}/allowed/{suffix}"})
    assert answer.status_code == 403, answer.text
    assert "'..'" in answer.json()["error"]["message"]
    assert container.job_queue.list() == []  # nothing was queued


def test_unusable_source_paths_get_a_clear_400(client: TestClient, container: Container) -> None:
    for source in ["/tmp/a\x00b", "~no-such-user-here/x"]:
        answer = client.post("/v1/knowledge-bases/x/sync", json={"source": source})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "invalid_input"


def test_refusals_do_not_echo_clone_url_credentials(client: TestClient) -> None:
    answer = client.post(
        "/v1/knowledge-bases/x/sync", json={"source": "https://bot:s3cr3t-token@example.com/acme/widget.git"}
    )
    assert answer.status_code == 403
    assert "s3cr3t-token" not in answer.text


def test_a_url_prefix_without_a_slash_matches_only_at_a_path_boundary(tmp_path: Path) -> None:
    from service.api.knowledge_bases import check_source_allowed

    settings = IndexingSettings(allowed_url_prefixes=["https://github.com/acme", "https://git.example.com"])
    assert check_source_allowed("https://github.com/acme/widget.git", settings) == "https://github.com/acme/widget.git"
    assert check_source_allowed("https://git.example.com/x/y", settings) == "https://git.example.com/x/y"
    for source in ["https://github.com/acme-evil/widget.git", "https://git.example.com.evil.io/x/y"]:
        with pytest.raises(Forbidden):
            check_source_allowed(source, settings)


@pytest.mark.parametrize("name", ["a b", "-rf", "triage\u202e", ".hidden"])
def test_a_name_the_indexer_would_refuse_is_a_400_on_every_route(client: TestClient, name: str) -> None:
    answers = [
        client.get(f"/v1/knowledge-bases/{name}"),
        client.post(f"/v1/knowledge-bases/{name}/retrieve", json={"query": "x"}),
        client.get(f"/v1/knowledge-bases/{name}/sync/some-job"),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert "--name" in answer.json()["error"]["hint"]  # the naming rule, not "index it under this name"
        assert "index it first" not in answer.text
