"""Liveness and readiness probes for load balancers and orchestrators. No authentication."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = Field(description="'ok' while the process serves requests.")


class Readiness(BaseModel):
    status: str = Field(description="'ready' or 'not ready'.")
    checks: dict[str, str] = Field(description="Each dependency checked: 'ok' or why not.")


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, summary="Readiness", responses={503: {"model": Readiness}})
async def readyz(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}
    for probe in request.app.state.container.readiness:
        try:
            await anyio.to_thread.run_sync(probe.check)
            checks[probe.name] = "ok"
        except Exception as exc:  # the reason is the answer; readiness must not raise
            checks[probe.name] = f"{type(exc).__name__}: {exc}"
    ready = all(value == "ok" for value in checks.values())
    body = Readiness(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(status_code=200 if ready else 503, content=body.model_dump())
