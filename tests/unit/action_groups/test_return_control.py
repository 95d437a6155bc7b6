"""Return of control, the README's recipe: an InvokeAgent invocation input plus messageVersion is an event, and
the envelope's response is the apiResult/functionResult InvokeAgent takes back (checked with botocore's model)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from service.action_groups.operations import ActionGroup, CallContext, Operation
from service.app import create_app
from service.container import Container, build_container
from service.settings import Settings
from tests.conftest import load_fixture


class WeatherParams(BaseModel):
    location: str = Field(description="City.")
    date: str = Field(description="Day, YYYY-MM-DD.")


class Weather(BaseModel):
    forecast: str = Field(description="The weather.")


async def _weather(ctx: CallContext, params: WeatherParams, body: None) -> Weather:
    return Weather(forecast=f"It's rainy in {params.location.title()} on {params.date}.")


def weather_group(_: Container) -> ActionGroup:
    return ActionGroup(
        name="WeatherAPIs",
        description="Weather (the AWS InvokeAgent return-of-control example).",
        prefix="",
        operations=(
            Operation(
                operation_id="getWeather",
                method="GET",
                path="/get-weather",
                summary="Weather",
                description="The weather for a place and day.",
                params=WeatherParams,
                response=Weather,
                handler=_weather,
            ),
        ),
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    container = build_container(settings, in_memory=True, extra_groups=[weather_group])
    with TestClient(create_app(container=container)) as test_client:
        yield test_client


def _results_request(invocation_id: str, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "agentId": "AGENT12345",
        "agentAliasId": "ALIAS12345",
        "sessionId": "session-1",
        "enableTrace": True,
        "sessionState": {"invocationId": invocation_id, "returnControlInvocationResults": [result]},
    }


def _validated_by_botocore(request: dict[str, Any]) -> None:
    client = boto3.client(
        "bedrock-agent-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        stubber.add_response(
            "invoke_agent", {"completion": {}, "contentType": "text", "sessionId": "session-1"}, request
        )
        client.invoke_agent(**request)


@pytest.mark.parametrize(
    ("fixture", "kind", "result_key"),
    [
        ("bedrock/return_control_openapi.json", "apiInvocationInput", "apiResult"),
        ("bedrock/return_control_function.json", "functionInvocationInput", "functionResult"),
    ],
)
def test_invocation_input_round_trip(client: TestClient, fixture: str, kind: str, result_key: str) -> None:
    returned = load_fixture(fixture)
    invocation = returned["invocationInputs"][0][kind]
    envelope = client.post("/v1/bedrock/actions", json=invocation | {"messageVersion": "1.0"}).json()
    result = {result_key: envelope["response"]}
    body_holder = result[result_key].get("responseBody") or result[result_key]["functionResponse"]["responseBody"]
    text = next(iter(body_holder.values()))["body"]
    assert json.loads(text) == {"forecast": "It's rainy in Seattle on 2024-09-15."}
    if result_key == "functionResult":
        # InvokeAgent's functionResult carries responseBody at its top level
        result[result_key] = {
            "actionGroup": envelope["response"]["actionGroup"],
            "function": envelope["response"]["function"],
            "responseBody": envelope["response"]["functionResponse"]["responseBody"],
        }
    request = _results_request(returned["invocationId"], result)
    _validated_by_botocore(request)
    expected = load_fixture(fixture.replace(".json", "_results_request.json"))["sessionState"]
    ours = request["sessionState"]["returnControlInvocationResults"][0][result_key]
    theirs = expected["returnControlInvocationResults"][0][result_key]
    assert set(theirs) <= set(ours)
    assert {k: ours[k] for k in theirs if k != "responseBody"} == {
        k: v for k, v in theirs.items() if k != "responseBody"
    }
    assert list(ours["responseBody"]) == list(theirs["responseBody"]), "same content type key"
    assert request["sessionState"]["invocationId"] == expected["invocationId"]
