"""Property-based run over /openapi.json: no generated input, valid or not, gets a 5xx answer.

Schemathesis builds the inputs from the service's own OpenAPI document (valid and invalid ones) and calls the
ASGI app in-process; its ``not_a_server_error`` check fails on any 5xx. A repository is indexed first and, in
positive mode, the knowledge-base and codebase routes are pointed at it, so generated queries, paths, globs
and line ranges reach real retrieval and file reading rather than stopping at "no such knowledge base".
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from service.app import create_app
from service.container import build_container
from service.settings import IndexingSettings, JobsSettings
from tests.conftest import claims_group, make_settings, time_group
from tests.knowledge_repos import make_knowledge_repo

EXAMPLES_PER_OPERATION = 60
INDEXED = "triage"
# Path parameters that name a knowledge base or an indexed repository.
REPOSITORY_PARAMETERS = ("name", "repo")


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> schemathesis.BaseSchema:
    data = Path(tmp_path_factory.mktemp("fuzz"))
    repo = make_knowledge_repo(data / "allowed" / INDEXED)
    # A real SQLite store, so the audit log and readiness paths are exercised too.
    # No in-process worker: the sync jobs the fuzzer queues would retry (drawing jitter from the global random
    # generator) while Hypothesis generates, which it reports as a strategy using ``random``.
    settings = make_settings(
        data,
        indexing=IndexingSettings(allowed_roots=[data / "allowed"]),
        jobs=JobsSettings(in_process_worker=False),
    )
    container = build_container(settings, extra_groups=[claims_group, time_group])
    container.knowledge.sync(str(repo), name=INDEXED, ref=None)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(container=container))


def test_openapi_document_lists_the_action_routes(api_schema: schemathesis.BaseSchema) -> None:
    labels = {result.ok().label for result in api_schema.get_all_operations()}
    assert {"POST /v1/bedrock/actions", "GET /v1/system/calls/{callId}", "POST /send-reminders"} <= labels
    assert {
        "POST /v1/knowledge-bases/{name}/sync",
        "GET /v1/knowledge-bases/{name}/sync/{job_id}",
        "POST /v1/knowledge-bases/{name}/retrieve",
        "GET /v1/codebase/repositories/{repo}/file",
        "GET /v1/codebase/repositories/{repo}/files",
        "GET /v1/codebase/repositories/{repo}/search",
        "GET /v1/jira/issues",
        "POST /v1/jira/issues",
    } <= labels


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_server_error(api_schema: schemathesis.BaseSchema, mode: GenerationMode) -> None:
    calls: dict[str, int] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            if mode is GenerationMode.POSITIVE and case.path_parameters:
                # In /symbols/{name}, name is the symbol, not the repository.
                names = ("repo",) if "/symbols/" in case.operation.path else REPOSITORY_PARAMETERS
                for parameter in names:
                    if parameter in case.path_parameters:
                        case.path_parameters[parameter] = INDEXED
            response = case.call()
            label = f"{case.method} {case.operation.path}"
            calls[label] = calls.get(label, 0) + 1
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Unsatisfiable:
            # Negative mode has nothing to break in an operation without parameters or body.
            assert mode is GenerationMode.NEGATIVE
    # Every operation was exercised (negative mode skips operations with nothing to get wrong).
    assert len(calls) >= (10 if mode is GenerationMode.POSITIVE else 4), calls
