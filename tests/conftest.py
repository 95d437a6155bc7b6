"""Shared fixtures: settings isolated from the environment, containers with fakes, recorded payloads.

The sample action groups below are the ones the recorded Bedrock events in ``tests/fixtures/bedrock/`` were
captured against (Powertools' and the AWS documentation's examples), registered so the events replay as sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, RootModel

from service.action_groups.operations import ActionGroup, CallContext, NoParams, Operation
from service.app import create_app
from service.container import Container, build_container
from service.errors import Conflict
from service.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
CURRENT_TIME = 1704708165  # the body of fixtures/bedrock/openapi_response.json


def load_fixture(relative: str) -> Any:
    """A recorded payload from ``tests/fixtures/``, decoded."""
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings that read no environment file and keep data under ``tmp_path``."""
    return Settings(_env_file=None, data_dir=tmp_path / "data", **overrides)  # type: ignore[call-arg]


# --- sample action groups matching the recorded events -------------------------------------------------


class Claim(BaseModel):
    id: str = Field(description="Claim id.")
    status: str = Field(description="Claim status.")


class ClaimList(BaseModel):
    claims: list[Claim] = Field(description="Open claims.")


class ReminderBody(BaseModel):
    claim_id: int = Field(alias="claimId", description="Claim to remind about.")
    pending_documents: str = Field(alias="pendingDocuments", description="Documents still missing.")


class ReminderSent(BaseModel):
    claim_id: int = Field(alias="claimId", description="Claim reminded about.")
    sent_for: list[str] = Field(alias="sentFor", description="Documents the reminder names.")


class CurrentTime(RootModel[int]):
    """Seconds since the epoch."""


class VacationParams(BaseModel):
    start_date: str = Field(alias="startDate", pattern=r"^\d{4}-\d{2}-\d{2}$", description="First day, YYYY-MM-DD.")
    end_date: str = Field(alias="endDate", pattern=r"^\d{4}-\d{2}-\d{2}$", description="Last day, YYYY-MM-DD.")


class VacationRequest(BaseModel):
    request_id: str = Field(alias="requestId", description="Id of the filed request.")
    days: int = Field(description="Calendar days requested.")


class SlowParams(BaseModel):
    mode: str = Field(description="'sleep' waits forever, 'crash' raises, 'conflict' raises Conflict.")


async def _list_claims(ctx: CallContext, params: NoParams, body: None) -> ClaimList:
    return ClaimList(claims=[Claim(id="20", status="pending documents")])


async def _send_reminders(ctx: CallContext, params: NoParams, body: ReminderBody | None) -> ReminderSent:
    assert body is not None
    ctx.session_attributes["lastReminder"] = str(body.claim_id)
    return ReminderSent(claimId=body.claim_id, sentFor=[d.strip() for d in body.pending_documents.split(" and ")])


async def _current_time(ctx: CallContext, params: NoParams, body: None) -> CurrentTime:
    return CurrentTime(CURRENT_TIME)


async def _submit_vacation(ctx: CallContext, params: VacationParams, body: None) -> VacationRequest:
    start = int(params.start_date[-2:])
    end = int(params.end_date[-2:])
    return VacationRequest(requestId=f"VAC-{params.start_date}", days=end - start + 1)


async def _misbehave(ctx: CallContext, params: SlowParams, body: None) -> VacationRequest:
    if params.mode == "sleep":
        await asyncio.sleep(3600)
    if params.mode == "conflict":
        raise Conflict("the record changed meanwhile", hint="read it again")
    raise RuntimeError("database on fire")


def claims_group(_: Container) -> ActionGroup:
    return ActionGroup(
        name="ClaimManagementActionGroup",
        description="Insurance claims (Powertools' recorded events).",
        prefix="",
        operations=(
            Operation(
                operation_id="listClaims",
                method="GET",
                path="/claims",
                summary="List claims",
                description="Lists open claims.",
                params=NoParams,
                response=ClaimList,
                handler=_list_claims,
            ),
            Operation(
                operation_id="sendReminders",
                method="POST",
                path="/send-reminders",
                summary="Send reminders",
                description="Sends reminders for the pending documents of a claim.",
                params=NoParams,
                body=ReminderBody,
                response=ReminderSent,
                handler=_send_reminders,
                writes=True,
                require_confirmation=True,
            ),
        ),
    )


def time_group(_: Container) -> ActionGroup:
    return ActionGroup(
        name="CurrentTime",
        description="The time (Powertools' getting-started example).",
        prefix="",
        operations=(
            Operation(
                operation_id="currentTime",
                method="GET",
                path="/current_time",
                summary="Current time",
                description="Returns the current time in seconds since the epoch.",
                params=NoParams,
                response=CurrentTime,
                handler=_current_time,
            ),
        ),
    )


def vacations_group(_: Container) -> ActionGroup:
    return ActionGroup(
        name="VacationsActionGroup",
        description="Vacation requests (Powertools' function-details event).",
        prefix="/v1/vacations",
        operations=(
            Operation(
                operation_id="submitVacationRequest",
                method="GET",
                path="/request",
                summary="Submit a vacation request",
                description="Files a vacation request between two dates.",
                params=VacationParams,
                response=VacationRequest,
                handler=_submit_vacation,
            ),
            Operation(
                operation_id="misbehave",
                method="GET",
                path="/misbehave",
                summary="Misbehave",
                description="Fails on purpose, to test error handling.",
                params=SlowParams,
                response=VacationRequest,
                handler=_misbehave,
            ),
        ),
    )


SAMPLE_GROUPS = (claims_group, time_group, vacations_group)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = build_container(settings, in_memory=True, extra_groups=SAMPLE_GROUPS)
    yield built
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container), raise_server_exceptions=False) as test_client:
        yield test_client


pytest_plugins = ["tests.postgres_fixtures", "tests.embedding_server"]
