"""`ticketsmith agent invoke`: ask an Amazon Bedrock agent, running its return-of-control actions here.

The agent's actions run through the same dispatcher and handlers as the service (trigger ``bedrock``); an action
that asks for confirmation is put to the person at the terminal (or settled by ``--yes`` / ``--no``). The run
and Bedrock's own trace events are stored: ``ticketsmith runs show ID [--format bedrock]``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, cast

import typer

from service.cli._common import EXIT_FAILED, JsonOption, app, err, fail, out, with_container
from service.cli.knowledge import container_factory
from service.container import Container, default_budget
from service.errors import ConfigurationError, InvalidInput, TicketsmithError
from service.guardrails.redaction import scrub
from service.orchestrator.bedrock_agent import (
    MAX_ROUNDS,
    AgentAnswer,
    AgentRuntime,
    BedrockAgentSession,
    Confirm,
    PendingAction,
)
from service.settings import Settings

agent_app = typer.Typer(help="Amazon Bedrock agents, with their return-of-control actions run here.")
app.add_typer(agent_app, name="agent")

CLI_PRINCIPAL = "cli"


def _same(value: Any) -> Any:
    return value


def agent_client(ctx: typer.Context, settings: Settings, region: str | None) -> AgentRuntime:
    """The ``bedrock-agent-runtime`` client: the one tests hand in through ``obj={"bedrock_agent_client": ...}``,
    else boto3's for ``region`` (``TICKETSMITH_LLM__REGION``, else the AWS profile's). Raises
    :class:`ConfigurationError` when no region is known."""
    obj = ctx.find_root().obj
    given = obj.get("bedrock_agent_client") if isinstance(obj, dict) else None
    if given is not None:
        client: AgentRuntime = given
        return client
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, NoRegionError

    config = Config(read_timeout=settings.llm.timeout_seconds, connect_timeout=10, retries={"mode": "standard"})
    try:
        made = boto3.client("bedrock-agent-runtime", region_name=region or settings.llm.region, config=config)
    except NoRegionError:
        raise ConfigurationError(
            "no AWS region for the Bedrock agent", hint="pass --region, or set TICKETSMITH_LLM__REGION or AWS_REGION"
        ) from None
    except BotoCoreError as exc:  # e.g. ProfileNotFound
        raise ConfigurationError(
            f"cannot set up the Bedrock agent runtime client: {exc}", hint="check AWS_PROFILE and the AWS config files"
        ) from None
    return cast(AgentRuntime, made)


def _describe(pending: PendingAction) -> str:
    where = pending.function or f"{(pending.http_method or '').upper()} {pending.api_path}"
    values = ", ".join(f"{name}={value!r}" for name, value in pending.parameters.items())
    return f"The agent wants to run {pending.action} ({where}) with {values or 'no parameters'}: {pending.reason}."


def confirmer(*, yes: bool, no: bool) -> Confirm:
    """``--yes`` confirms every action, ``--no`` declines every one; otherwise the person is asked (on stderr,
    so ``--json`` output stays clean). No answer (end of input) declines."""
    if yes:
        return lambda pending: True
    if no:
        return lambda pending: False

    def ask(pending: PendingAction) -> bool:
        err.print(_describe(pending), highlight=False, markup=False)
        try:
            return bool(typer.confirm("Run it?", default=False, err=True))
        except typer.Abort:
            return False

    return ask


def _json(answer: AgentAnswer) -> dict[str, Any]:
    return {
        "run": {"id": answer.run.id, "state": answer.run.state.value, "usage": answer.run.usage.as_dict()},
        "sessionId": answer.session_id,
        "answer": answer.text,
        "citations": answer.citations,
        "rounds": answer.rounds,
        "actions": [outcome.as_dict() for outcome in answer.actions],
        "stoppedBy": answer.stopped_by,
    }


def _print(answer: AgentAnswer) -> None:
    for outcome in answer.actions:
        if not outcome.executed:
            said = "declined, not run"
        elif outcome.status_code is not None:
            said = f"HTTP {outcome.status_code}"
        else:
            said = outcome.response_state or "ok"
        err.print(f"- {outcome.action}: {said}", highlight=False, markup=False)
    if answer.stopped_by:
        err.print(f"[yellow]stopped:[/] the agent still wanted to act after {answer.rounds} rounds", highlight=False)
    if answer.text:
        out.print(answer.text.rstrip(), highlight=False, markup=False)
    err.print(
        f"run {answer.run.id} {answer.run.state.value}; session {answer.session_id} (continue with --session-id); "
        f"the trace: ticketsmith runs show {answer.run.id}",
        highlight=False,
    )


@agent_app.command("invoke")
def agent_invoke(
    ctx: typer.Context,
    message: Annotated[str, typer.Argument(metavar="MESSAGE", help="What to ask the agent.")],
    agent_id: Annotated[str, typer.Option("--agent-id", help="The agent's id (10 letters and digits).")],
    alias_id: Annotated[str, typer.Option("--alias-id", help="The alias id (TSTALIASID: the working draft).")],
    session_id: Annotated[
        str | None, typer.Option("--session-id", help="Continue this session (default: a new one).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm every action the agent asks to confirm.")] = False,
    no: Annotated[bool, typer.Option("--no", help="Decline every action the agent asks to confirm.")] = False,
    trace: Annotated[bool, typer.Option("--trace/--no-trace", help="Ask Bedrock for its trace events.")] = True,
    max_rounds: Annotated[
        int, typer.Option("--max-rounds", min=1, max=50, help="Most InvokeAgent calls for one message.")
    ] = MAX_ROUNDS,
    region: Annotated[str | None, typer.Option(help="AWS region (default: TICKETSMITH_LLM__REGION).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Ask a Bedrock agent; run the actions it hands back (return of control) here and send their results."""
    if yes and no:
        refused = InvalidInput("--yes and --no exclude each other", hint="give one of them, or neither to be asked")
        fail(refused, as_json=as_json)

    def work(container: Container) -> AgentAnswer:
        settings = container.settings
        session = BedrockAgentSession(
            agent_client(ctx, settings, region),
            dispatcher=container.dispatcher,
            registry=container.registry,
            store=container.run_store,
            confirm=confirmer(yes=yes, no=no),
            run_principal=CLI_PRINCIPAL,
            budget=default_budget(settings),
            max_rounds=max_rounds,
            scrub=scrub if settings.guardrails.redact_secrets else _same,
            sinks=container.trace_sinks,
        )
        try:
            return asyncio.run(
                session.invoke(
                    agent_id=agent_id, alias_id=alias_id, text=message, session_id=session_id, enable_trace=trace
                )
            )
        except TicketsmithError as exc:
            run_id = exc.details.get("runId") if isinstance(exc.details, dict) else None
            if run_id and not as_json:
                err.print(f"run {run_id} failed; the trace: ticketsmith runs show {run_id}", highlight=False)
            raise

    answer: AgentAnswer = with_container(as_json, in_memory=False, work=work, factory=container_factory(ctx))
    if as_json:
        out.print_json(data=_json(answer))
    else:
        _print(answer)
    if answer.stopped_by:
        raise typer.Exit(EXIT_FAILED)
